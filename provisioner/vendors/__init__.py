"""The vendor registry.

Every module in this package that defines ``VENDOR`` is a vendor: adding a
fifth one is a module here plus a folder in ``vendor_templates/``, both named
after it (``vendors/<name>.py``, ``vendor_templates/<name>/``; see CONTRIBUTING.md).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from .base import Caps, ConfigFile, FileKind, UserAgent, Vendor

__all__ = [
    "Caps",
    "ConfigFile",
    "FileKind",
    "UserAgent",
    "Vendor",
    "all_vendors",
    "get",
    "parse_user_agent",
    "vendor_for_mac",
    "vendor_for_model",
]


@cache
def all_vendors() -> tuple[Vendor, ...]:
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        vendor = getattr(module, "VENDOR", None)
        if isinstance(vendor, Vendor):
            if vendor.name != info.name:
                raise ValueError(
                    f"vendors/{info.name}.py declares vendor {vendor.name!r}: a vendor's module, "
                    f"name and template folder (vendor_templates/<name>/) are one name"
                )
            found.append(vendor)
    return tuple(found)


def get(name: str) -> Vendor:
    for vendor in all_vendors():
        if vendor.name == name.lower():
            return vendor
    known = ", ".join(v.name for v in all_vendors())
    raise KeyError(f"unknown vendor {name!r} (known: {known})")


def parse_user_agent(header: str | None) -> UserAgent | None:
    if not header:
        return None
    for vendor in all_vendors():
        ua = vendor.parse_user_agent(header)
        if ua is not None:
            return ua
    return None


def vendor_for_mac(mac: str) -> Vendor | None:
    """Guess the vendor from the MAC prefix (a hint, not a fact)."""
    prefix = mac[:6].upper()
    for vendor in all_vendors():
        if prefix in vendor.ouis:
            return vendor
    return None


def vendor_for_model(model: str, vendor_name: str | None = None) -> tuple[Vendor, str] | None:
    """Find which vendor makes ``model`` (any common spelling); returns (vendor, model key)."""
    candidates = [get(vendor_name)] if vendor_name else all_vendors()
    for vendor in candidates:
        key = vendor.normalize_model(model)
        if key is not None and key in vendor.models:
            return vendor, key
    return None
