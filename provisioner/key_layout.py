"""Which programmable keys a phone gets, and which a model can hold: pure rules, no I/O.

Shared by the renderer (:mod:`provisioner.render_data`) and the key use cases
(:mod:`provisioner.function_keys`), so the phone path does not import a use-case module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .errors import Invalid
from .vendors import Caps, Vendor

KEY_FIELDS = ("module", "position", "type", "value", "label", "line")


def check_fits(vendor: Vendor, model: str, key: Mapping[str, Any]) -> None:
    """Refuse a key the model cannot hold or the vendor's files cannot carry, naming the capacity."""
    misfit = _misfit(vendor, model, vendor.caps(model), key)
    if misfit is not None:
        raise Invalid(misfit[0], field=misfit[1])


def _misfit(vendor: Vendor, model: str, caps: Caps, key: Mapping[str, Any]) -> tuple[str, str] | None:
    """Why the model cannot hold ``key`` and the field at fault, or None when it fits: the one home of
    the capacity rule, which writes refuse with and the renderer leaves keys out by."""
    module, position = key["module"], key["position"]
    if key["type"] not in vendor.key_types:
        return (
            f"{vendor.name} phones take no {key['type']!r} keys (they take: "
            f"{', '.join(sorted(vendor.key_types)) or 'none yet'})",
            "type",
        )
    if vendor.key_limit is not None and (module > 0 or position > vendor.key_limit[0]):
        return f"{vendor.key_limit[1]}: no key {position}", "position"
    if module == 0 and position > caps.line_keys:
        return f"the {model} has {caps.line_keys} programmable keys: no key {position}", "position"
    if module > 0 and module > caps.expansion_modules:
        return f"the {model} takes {caps.expansion_modules} expansion modules: no module {module}", "module"
    if module > 0 and position > caps.expansion_keys:
        return f"an expansion module of the {model} has {caps.expansion_keys} keys: no key {position}", "position"
    if key["line"] > caps.accounts:
        return f"the {model} has {caps.accounts} SIP accounts: no line {key['line']}", "line"
    return None


def effective(
    vendor: Vendor,
    model: str,
    own: Sequence[Mapping[str, Any]],
    profile: Sequence[Mapping[str, Any]],
    own_extensions: Iterable[str],
    line_names: Mapping[str, str],
) -> list[dict[str, Any]]:
    """The keys a phone gets, by (module, position): pure, the renderer and ``device keys`` share it."""
    caps = vendor.models.get(model)
    if caps is None:
        return []
    mine = set(own_extensions)
    placed: dict[tuple[int, int], dict[str, Any]] = {}
    for source, rows in (("customer", profile), ("device", own)):
        for row in rows:
            placed[(row["module"], row["position"])] = {**{k: row[k] for k in KEY_FIELDS}, "source": source}
    keys = []
    for place in sorted(placed):
        key = placed[place]
        if _misfit(vendor, model, caps, key) is not None or (key["type"] == "blf" and key["value"] in mine):
            continue
        if key["label"] is None:
            key["label"] = line_names.get(key["value"], key["value"]) if key["type"] == "blf" else key["value"]
        keys.append(key)
    return keys
