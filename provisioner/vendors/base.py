"""What a vendor module declares.

A vendor is data plus a few pure functions: the MAC prefixes it ships with, how
its User-Agent reads, the files its phones ask for at boot, the models it makes
and how to turn the generic template context into the values its own format
wants (transport codes, time-zone spellings, language names).

Nothing here does I/O; the resolver and the renderer do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class FileKind(Enum):
    DEVICE = "device"  # per-phone file, MAC in the name, may hold credentials
    COMMON = "common"  # the same for every phone of the vendor or model; no secrets
    UPLOAD = "upload"  # the phone PUTs it (logs, its own overrides); GET returns what it sent
    ABSENT = "absent"  # the phone asks for it, we have nothing for it: 404, the phone falls back


@dataclass(frozen=True)
class ConfigFile:
    """One file name a vendor's phones request.

    ``pattern`` is a regular expression matched in full and case-insensitively
    against the requested file name (no directories). Per-device patterns have a
    named group ``mac`` (12 hex digits); model files may have a group ``model``.
    ``template`` names a file in the vendor's :attr:`Vendor.folder` (``None`` for
    uploads and absent files).
    """

    pattern: str
    kind: FileKind
    template: str | None = None
    content_type: str = "text/plain; charset=utf-8"

    def __post_init__(self) -> None:
        object.__setattr__(self, "_regex", re.compile(self.pattern, re.IGNORECASE))
        if self.kind in (FileKind.DEVICE, FileKind.COMMON) and not self.template:
            raise ValueError(f"{self.pattern}: a served file needs a template")

    @property
    def xml(self) -> bool:
        """XML formats autoescape; the others refuse line breaks in values."""
        return "xml" in self.content_type

    def match(self, name: str) -> re.Match[str] | None:
        return self._regex.fullmatch(name)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Caps:
    """What a model can do. ``accounts`` is the number of SIP accounts."""

    accounts: int
    line_keys: int = 0
    family: str | None = None  # vendor-specific grouping (Yealink common-file id, ...)
    # Expansion modules the model takes and the keys on each (0: none, or not confirmed).
    expansion_modules: int = 0
    expansion_keys: int = 0


@dataclass(frozen=True)
class UserAgent:
    """What a phone said about itself. Any field may be missing."""

    vendor: str
    model: str | None = None
    firmware: str | None = None
    mac: str | None = None  # canonical form when present


_NAMED_GROUP = re.compile(r"\(\?P<\w+>")


@dataclass(frozen=True)
class Vendor:
    name: str
    ouis: tuple[str, ...]
    files: tuple[ConfigFile, ...]
    models: Mapping[str, Caps]
    # Parse a User-Agent header; None when it is not this vendor's.
    parse_user_agent: Callable[[str], UserAgent | None]
    # Spreadsheet/CLI spelling of a model -> the key used in ``models`` ("vvx-350" -> "VVX350").
    normalize_model: Callable[[str], str | None]
    # Generic context -> extra template variables for this vendor's format.
    extend_context: Callable[[Mapping[str, Any]], Mapping[str, Any]] = field(default=lambda ctx: {})
    # Programmable key types (provisioner.fields.KEY_TYPES) this vendor's templates write; the others
    # are refused for its phones (their parameters are not confirmed).
    key_types: frozenset[str] = frozenset()
    # The last main-key position its files can carry and why, where its numbering is confirmed only up
    # to there (expansion modules refused too); None: the model's capacity is the only limit.
    key_limit: tuple[int, str] | None = None
    # SIP NOTIFY event that makes the phone re-fetch its files.
    resync_event: str = "check-sync;reboot=false"

    @property
    def folder(self) -> str:
        """Its folder of templates: ``vendor_templates/<folder>/``, and the same folder in a
        deployment's override folder. It is the vendor's name, which is also its module's name
        (``vendors/<name>.py``, checked by the registry): module and folder are found together."""
        return self.name

    def templates(self) -> tuple[str, ...]:
        """The templates its served files name, as paths under a templates folder."""
        return tuple(dict.fromkeys(f"{self.folder}/{spec.template}" for spec in self.files if spec.template))

    def caps(self, model: str) -> Caps:
        try:
            return self.models[model]
        except KeyError:
            raise KeyError(f"unknown {self.name} model {model!r}") from None

    def __post_init__(self) -> None:
        # Every file's pattern in one (group names dropped): a name none of them fits, which is most
        # names for three vendors of four, costs one match instead of one per file.
        joined = "|".join(f"(?:{_NAMED_GROUP.sub('(?:', spec.pattern)})" for spec in self.files)
        object.__setattr__(self, "_any_file", re.compile(joined, re.IGNORECASE))

    def match_file(self, name: str) -> tuple[ConfigFile, re.Match[str]] | None:
        if self._any_file.fullmatch(name) is None:  # type: ignore[attr-defined]
            return None
        for spec in self.files:
            m = spec.match(name)
            if m:
                return spec, m
        return None
