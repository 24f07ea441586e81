"""A plan: the creates and updates an import would make (:class:`Change`), the rows' problems, and
what the database held when it was made (:class:`Snapshot`). Pure.

A plan's :attr:`Plan.fingerprint` is a digest of every change with its before and after: the
same file planned against an unchanged database gives the same fingerprint.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .problems import Problem

# (customer reference, extension); a customer reference is an id, or "new:<code>" for one to create
CustomerRef = int | str
LineRef = int | tuple[CustomerRef, str]


@dataclass
class Snapshot:
    """What the database holds of the customers, lines and devices a file names."""

    customers: list[dict[str, Any]]  # every customer: id, code, name, sip_server
    lines: dict[tuple[int, str], dict[str, Any]]  # (customer id, extension) -> line row + "holder" (MAC or None)
    devices: dict[str, dict[str, Any]]  # MAC -> device row + "line_ids" (by slot) + "settings_json"
    line_names: dict[int, tuple[int, str]]  # line id -> (customer id, extension) of every line above
    device_keys: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # MAC -> its own keys (key columns)


class Change(msgspec.Struct, gc=False):
    """One customer, line or device the plan creates or updates, with what to write (a Struct, as
    :class:`~.validation.Entry`: a large file's plan has 200,000 of them)."""

    kind: str  # customer | line | device
    action: str  # create | update
    key: str  # customer code, "CODE extension", or MAC
    rows: tuple[int, ...]
    before: dict[str, Any] | None
    after: dict[str, Any]
    ref: int | None = None  # the existing row's id (updates)
    values: dict[str, Any] = msgspec.field(default_factory=dict)  # columns to write
    customer: CustomerRef | None = None
    lines: tuple[LineRef, ...] = ()  # devices: their lines by slot
    device: str | None = None  # lines: the MAC of the phone they end up on
    new_lines: list[dict[str, Any]] | None = None  # devices: the afters of the lines created for them, by slot

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "action": self.action,
            "key": self.key,
            "rows": list(self.rows),
            "before": self.before,
            "after": self.after,
        }


# A plan's changes as JSON with sorted keys, for its fingerprint: msgspec, because json.dumps(sort_keys=True)
# took 1.2 s for the 190,000 changes of a 100,000-phone file (computed for the preview and again on apply).
_FINGERPRINT_JSON = msgspec.json.Encoder(order="sorted", enc_hook=str)


@dataclass
class Plan:
    changes: list[Change]
    unchanged: Counter[str]  # kind -> count
    problems: list[Problem]
    skipped_rows: list[int]  # rows left out (--skip-invalid)
    rows: int  # data rows in the file
    skip_invalid: bool
    notes: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> bool:
        """True when nothing may be applied: problems, and not told to skip them."""
        return bool(self.problems) and not self.skip_invalid

    def counts(self) -> dict[str, dict[str, int]]:
        out = {
            kind: {"create": 0, "update": 0, "unchanged": self.unchanged.get(kind, 0)}
            for kind in ("customer", "line", "device")
        }
        keys = {"create": 0, "update": 0, "delete": 0, "unchanged": self.unchanged.get("key", 0)}
        for change in self.changes:
            (keys if change.kind == "key" else out[change.kind])[change.action] += 1
        if any(keys.values()):
            out["key"] = keys
        return out

    @property
    def change_count(self) -> int:
        return len(self.changes)

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        encode = _FINGERPRINT_JSON.encode
        for change in self.changes:
            digest.update(
                encode(
                    (
                        change.kind,
                        change.action,
                        change.key,
                        change.before,
                        change.values,
                        change.customer,
                        change.lines,
                    )
                )
            )
        for problem in self.problems:
            digest.update(encode(problem.to_dict()))
        return digest.hexdigest()[:32]

    def summary(self) -> str:
        counts = self.counts()
        parts = []
        for kind, plural in (("customer", "customers"), ("device", "devices"), ("line", "lines")):
            c = counts[kind]
            parts.append(f"{plural}: {c['create']} to create, {c['update']} to update, {c['unchanged']} unchanged")
        if "key" in counts:
            k = counts["key"]
            parts.append(
                f"keys: {k['create'] + k['update']} to set, {k['delete']} to remove, {k['unchanged']} unchanged"
            )
        return "; ".join(parts)
