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
    caps = vendor.caps(model)
    module, position = key["module"], key["position"]
    if key["type"] not in vendor.key_types:
        raise Invalid(
            f"{vendor.name} phones take no {key['type']!r} keys (they take: "
            f"{', '.join(sorted(vendor.key_types)) or 'none yet'})",
            field="type",
        )
    if module == 0 and position > caps.line_keys:
        raise Invalid(f"the {model} has {caps.line_keys} programmable keys: no key {position}", field="position")
    if module > 0 and module > caps.expansion_modules:
        raise Invalid(
            f"the {model} takes {caps.expansion_modules} expansion modules: no module {module}", field="module"
        )
    if module > 0 and position > caps.expansion_keys:
        raise Invalid(
            f"an expansion module of the {model} has {caps.expansion_keys} keys: no key {position}", field="position"
        )
    if key["line"] > caps.accounts:
        raise Invalid(f"the {model} has {caps.accounts} SIP accounts: no line {key['line']}", field="line")


def _fits(caps: Caps, vendor: Vendor, key: Mapping[str, Any]) -> bool:
    if key["type"] not in vendor.key_types or key["line"] > caps.accounts:
        return False
    if key["module"] == 0:
        return key["position"] <= caps.line_keys
    return key["module"] <= caps.expansion_modules and key["position"] <= caps.expansion_keys


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
        if not _fits(caps, vendor, key) or (key["type"] == "blf" and key["value"] in mine):
            continue
        if key["label"] is None:
            key["label"] = line_names.get(key["value"], key["value"]) if key["type"] == "blf" else key["value"]
        keys.append(key)
    return keys
