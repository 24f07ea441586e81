"""Key columns of a spreadsheet: ``Key 1``, ``Key 2``, ... (``Tasto 1``, ...), one cell per key of
the row's phone, written ``type:value[:label]`` (``blf:202``, ``speed-dial:0612345678:Mario``,
``park:701``, ``line:2``, ``url:http://...`` without a label). An empty cell leaves that key as it
is; ``none`` removes the phone's own key there (the customer's profile key, if any, shows again).
The sheet's keys replace the phone's own keys at the positions given; keys at other positions are
kept. Reading the cells (:func:`read_keys`) and planning them (:func:`plan_keys`) are pure;
:func:`apply_keys` writes them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .. import fields, function_keys, vendors
from ..db import Tx
from ..errors import Invalid
from . import cells
from .entries import Checked, Entry
from .plans import Change

KEY_FIELDS = ("type", "value", "label", "line")


def positions(checked: Checked) -> dict[int, str]:
    """Key position -> its field, for the key columns the file has."""
    return {int(f[3:]): f for f in checked.header.fields if f.startswith("key") and f[3:].isdigit()}


def parse(cell: Any, position: int) -> dict[str, Any] | bool | None:
    """A key cell: a key, ``None`` for ``none`` (remove), ``False`` when empty. Raises Invalid."""
    text = cell.strip() if isinstance(cell, str) else cells.as_text(cell)
    if not text:
        return False
    type_, _, rest = text.partition(":")
    type_ = type_.strip().lower()
    if type_ == "none" and not rest.strip():
        return None
    data: dict[str, Any] = {"type": type_, "position": position}
    if type_ == "line":
        account, _, label = rest.partition(":")
        data.update(line=account.strip() or None, label=label)
    elif type_ == "url":
        data["value"] = rest  # a URL has colons of its own: no label
    else:
        value, _, label = rest.partition(":")
        data.update(value=value, label=label)
    key = fields.function_key(data)
    return {k: key[k] for k in ("module", "position", *KEY_FIELDS)}


def read_keys(checked: Checked) -> None:
    """Each valid row's key cells into ``checked.keys``; a bad cell makes its row a problem."""
    where = positions(checked)
    if not where:
        return
    kept: list[Entry] = []
    for entry in checked.entries:
        found: dict[int, dict[str, Any] | None] = {}
        bad = False
        for position, field_ in sorted(where.items()):
            cell = checked.cell(entry.row, field_)
            try:
                key = parse(cell, position)
            except Invalid as exc:
                checked.problems.append(
                    checked.problem(entry.row, field_, cell, str(exc), "write TYPE:VALUE[:LABEL], e.g. blf:202")
                )
                bad = True
                continue
            if key is not False:
                found[position] = key  # type: ignore[assignment]
        if bad:
            checked.bad_rows[entry.row] = entry.mac
        else:
            kept.append(entry)
            if found:
                checked.keys[entry.row] = found
    checked.entries = kept


def plan_keys(
    checked: Checked,
    mac: str,
    entries: Sequence[Entry],
    vendor: str | None,
    model: str,
    existing: Sequence[Mapping[str, Any]],
    fail: Callable[[Entry, str, str, str | None], None],
) -> list[Change] | None:
    """The key changes of one phone, or None when one of its key cells cannot be on it (reported)."""
    wanted: dict[int, tuple[Entry, dict[str, Any] | None]] = {}
    ok = True
    for e in entries:
        for position, key in checked.keys.get(e.row, {}).items():
            seen = wanted.get(position)
            if seen is not None and seen[1] != key:
                fail(e, f"key{position}", f"row {seen[0].row} gives this MAC another key {position}", None)
                ok = False
            elif seen is None:
                wanted[position] = (e, key)
    if not wanted:
        return []
    vendor_ = vendors.get(vendor or "")
    own = {e.line["extension"] for e in entries if e.line is not None}
    for position, (e, key) in wanted.items():
        if key is None:
            continue
        try:
            function_keys.check_fits(vendor_, model, key)
        except Invalid as exc:
            fail(e, f"key{position}", str(exc), "leave the cell empty, or use a key this phone can hold")
            ok = False
            continue
        if key["type"] == "blf" and key["value"] in own:
            fail(
                e,
                f"key{position}",
                f"a BLF key on the phone's own extension {key['value']} would watch itself",
                "watch another extension",
            )
            ok = False
    if not ok:
        return None
    current = {(k["module"], k["position"]): {f: k[f] for f in ("module", "position", *KEY_FIELDS)} for k in existing}
    out = []
    for position, (e, key) in sorted(wanted.items()):
        before = current.get((0, position))
        if key == before or (key is None and before is None):
            continue
        action = "delete" if key is None else "update" if before is not None else "create"
        out.append(
            Change("key", action, f"{mac} key {position}", (e.row,), before, key or {}, values=key or {}, device=mac)
        )
    return out


def apply_keys(tx: Tx, changes: Sequence[Change], *, actor: str, via: str) -> None:
    """Write the key changes of a plan, after its devices: one event each, as ``device key`` makes."""
    if not changes:
        return
    ids = {mac: d["id"] for mac, d in tx.devices_by_mac(sorted({c.device for c in changes if c.device})).items()}
    for change in changes:
        mac = change.device
        assert mac is not None
        position = int(change.key.rsplit(" ", 1)[1])
        if change.action == "delete":
            tx.delete_key(device_id=ids[mac], customer_id=None, module=0, position=position)
            summary = f"key {position} of {mac} removed{via} (row {change.rows[0]})"
        else:
            tx.put_key({**change.values, "device_id": ids[mac]})
            summary = f"key {position} of {mac} set to {change.values['type']}{via} (row {change.rows[0]})"
        tx.add_event(
            actor=actor,
            action="device.key",
            device_mac=mac,
            summary=summary,
            before=change.before,
            after=change.values or None,
        )


def describe(change: Change) -> str:
    key = change.after
    if change.action == "delete":
        return f"- {change.key}: the phone's own key removed"
    text = ":".join(x for x in (key["type"], key["value"], key["label"] or "") if x)
    return f"{'+' if change.action == 'create' else '~'} {change.key}: {text}"
