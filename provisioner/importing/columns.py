"""Which spreadsheet column means which field. Pure: no I/O.

Headers match case-insensitively, ignoring spaces, ``_``, ``-``, ``.``, ``/``
and accents, in English and Italian. The header row is the first of the first
rows that names the MAC column and at least one other known field, so title
rows above it are skipped.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

# field -> the headers people write for it (the first is what templates and exports use)
ALIASES: dict[str, tuple[str, ...]] = {
    "customer": ("Customer", "Cliente", "Customer code", "Codice cliente", "Azienda", "Company"),
    "mac": ("MAC", "MAC address", "Indirizzo MAC", "MAC addr", "Indirizzo fisico"),
    "vendor": ("Vendor", "Brand", "Marca", "Produttore", "Manufacturer"),
    "model": ("Model", "Phone model", "Modello", "Modello telefono"),
    "line": ("Line", "Linea", "Account", "Line number", "Numero linea", "Posizione"),
    "extension": ("Extension", "Ext", "Interno", "Numero interno", "Estensione"),
    "display_name": ("Display name", "Name", "Nome", "Nome visualizzato", "Nominativo"),
    "sip_username": ("SIP user", "SIP username", "Username", "Utente SIP", "User", "Utente"),
    "auth_id": ("Auth ID", "Authentication ID", "Auth user", "Auth name", "Utente autenticazione"),
    "sip_password": ("SIP password", "Password", "Password SIP", "Secret", "Segreto"),
    "sip_server": ("SIP server", "Server SIP", "Registrar", "Dominio", "Domain", "Server"),
    "label": ("Label", "Etichetta"),
    "serial": ("Serial number", "Serial", "Matricola", "S/N", "SN", "Numero di serie"),
    "ownership": ("Ownership", "Proprietà", "Possesso"),
}
FIELDS = tuple(ALIASES)
# What a template shows, in order: one header per field.
TEMPLATE_HEADERS = tuple(ALIASES[f][0] for f in FIELDS)

_IGNORED = str.maketrans("", "", " _-./\t\xa0")
HEADER_SCAN_ROWS = 30


def normalize(header: Any) -> str:
    """``"Indirizzo  MAC"`` -> ``"indirizzomac"``, ``"Proprietà"`` -> ``"proprieta"``."""
    text = unicodedata.normalize("NFKD", str(header))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.casefold().translate(_IGNORED)


_LOOKUP: dict[str, str] = {}
for _field, _names in ALIASES.items():
    for _name in (*_names, _field):
        _LOOKUP.setdefault(normalize(_name), _field)


# Key columns: "Key 3", "Key3", "Tasto 3" -> the field key3 (importing.keys reads them).
_KEY_HEADER = re.compile(r"(?:key|tasto)([0-9]{1,3})")


def field_for(header: Any) -> str | None:
    """The field a header names, or None."""
    if header is None:
        return None
    name = normalize(header)
    found = _LOOKUP.get(name)
    if found is None and (match := _KEY_HEADER.fullmatch(name)) and 1 <= int(match.group(1)) <= 200:
        return f"key{int(match.group(1))}"
    return found


def letter(index: int) -> str:
    """0 -> ``A``, 25 -> ``Z``, 26 -> ``AA``: the column as the spreadsheet shows it."""
    out = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        out = chr(65 + rest) + out
    return out


@dataclass(frozen=True)
class Header:
    """The header row: where it is and what each column means."""

    index: int  # position in the sheet's rows (0-based); the sheet shows it as row index + 1
    fields: dict[str, int]  # field -> column index
    titles: dict[int, str]  # column index -> header as written
    unknown: tuple[int, ...]  # columns with a header we do not know
    duplicates: tuple[tuple[str, tuple[int, ...]], ...]  # field named by several columns

    def column(self, field: str) -> str | None:
        """The header of ``field`` as written in the file."""
        index = self.fields.get(field)
        return self.titles[index] if index is not None else None

    def where(self, field: str) -> str:
        """``'Indirizzo MAC' (C)``: a column as a person finds it."""
        index = self.fields[field]
        return f"{self.titles[index]!r} ({letter(index)})"


def read_header(row: Sequence[Any], index: int) -> Header:
    fields: dict[str, list[int]] = {}
    titles: dict[int, str] = {}
    unknown = []
    for col, cell in enumerate(row):
        title = str(cell).strip() if cell is not None else ""
        if not title:
            continue
        titles[col] = title
        field = field_for(title)
        if field is None:
            unknown.append(col)
        else:
            fields.setdefault(field, []).append(col)
    return Header(
        index=index,
        fields={f: cols[0] for f, cols in fields.items()},
        titles=titles,
        unknown=tuple(unknown),
        duplicates=tuple((f, tuple(cols)) for f, cols in fields.items() if len(cols) > 1),
    )


def find_header(rows: Sequence[Sequence[Any]]) -> Header | None:
    """The first row among the first few that names the MAC column and another known one."""
    for index, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        found = {field_for(cell) for cell in row if isinstance(cell, str) and cell.strip()}
        if "mac" in found and len(found - {None}) >= 2:
            return read_header(row, index)
    return None
