"""Spreadsheet files -> rows of cells, as the spreadsheet program shows them.

CSV (UTF-8 with or without BOM, UTF-16, or Windows-1252 as Italian Excel saves
it; ``,`` ``;`` or tab, sniffed) is read with the csv module. XLSX, legacy XLS
and ODS are read with python-calamine (about ten times faster than openpyxl).
Each sheet's dimensions are checked before its cells are expanded, and a ZIP-based file's entries before anything is
decompressed (first the sizes the archive declares, then what each entry really
inflates to, counted as a stream and stopped at the limit), so neither a zip bomb nor a cell at
XFD1048576 can exhaust memory.

Rows keep their position: ``rows[i]`` is what the spreadsheet shows as row
``i + 1``, title rows and blank rows included.
"""

from __future__ import annotations

import codecs
import csv
import html
import io
import os
import posixpath
import re
import struct
import zipfile
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from .columns import HEADER_SCAN_ROWS, TEMPLATE_HEADERS, Header, find_header, letter
from .problems import FileTooLarge, SheetError

MB = 1024 * 1024
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
_DELIMITERS = (";", ",", "\t", "|")
_DELIMITER_NAMES = {";": "';'", ",": "','", "\t": "tab", "|": "'|'"}


@dataclass(frozen=True)
class Limits:
    """Bounds on what an import reads. Each may be set by an environment variable."""

    max_bytes: int = 50 * MB  # PROVISIONER_IMPORT_MAX_BYTES
    max_rows: int = 200_000  # PROVISIONER_IMPORT_MAX_ROWS (data rows)
    max_columns: int = 200
    max_unzipped_bytes: int = 1024 * MB  # PROVISIONER_IMPORT_MAX_UNZIPPED_BYTES (XLSX/ODS content)
    max_ratio: int = 200  # a ZIP entry may expand this many times, at most

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, **overrides: int | None) -> Limits:
        values: dict[str, int] = {}
        for field, var in (
            ("max_bytes", "PROVISIONER_IMPORT_MAX_BYTES"),
            ("max_rows", "PROVISIONER_IMPORT_MAX_ROWS"),
            ("max_unzipped_bytes", "PROVISIONER_IMPORT_MAX_UNZIPPED_BYTES"),
        ):
            if env.get(var):
                try:
                    values[field] = int(env[var])
                except ValueError:
                    raise SheetError(f"{var}={env[var]!r} is not a whole number") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass(frozen=True)
class Table:
    """One sheet: every row from row 1, and its header row."""

    name: str  # the file's name, as uploaded
    kind: str  # csv | xlsx | xls | ods
    sheet: str | None  # the sheet's name (None for CSV)
    detail: str  # how it was read: encoding and delimiter, or the sheet
    rows: list[list[Any]]
    header: Header
    csv: bool = False  # cells may carry our CSV escape (cells.unescape_csv): a CSV with a cell starting with "'"

    def body(self):  # type: ignore[no-untyped-def]
        """(row number as shown, cells) of each non-blank row under the header."""
        rows = self.rows
        for index in range(self.header.index + 1, len(rows)):
            row = rows[index]
            if any(row) or any(cell is not None and cell != "" for cell in row):
                yield index + 1, row


def read_path(path: Path, *, sheet: str | None = None, limits: Limits | None = None) -> Table:
    limits = limits or Limits()
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise _too_large(size, limits)
        data = path.read_bytes()
    except OSError as exc:
        raise SheetError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    return read(data, path.name, sheet=sheet, limits=limits)


def read(data: bytes, name: str, *, sheet: str | None = None, limits: Limits | None = None) -> Table:
    """The sheet of ``data`` that has the header row (or the sheet named ``sheet``)."""
    limits = limits or Limits()
    if len(data) > limits.max_bytes:
        raise _too_large(len(data), limits)
    if not data.strip():
        raise SheetError(f"{name} is empty")
    if data.startswith(b"PK\x03\x04"):
        kind = _zip_kind(data, name, limits)
    elif data.startswith(_OLE):
        if _ENCRYPTED_PACKAGE in data[: 1024 * 1024] or _ENCRYPTED_PACKAGE in data[-1024 * 1024 :]:
            raise _encrypted(name)
        kind = "xls"
    else:
        return _read_csv(data, name, sheet, limits)
    return _read_workbook(data, name, kind, sheet, limits)


def size_text(size: int) -> str:
    return f"{size / MB:.1f} MB" if size >= MB else f"{size / 1024:.1f} KB" if size >= 1024 else f"{size} bytes"


def _too_large(size: int, limits: Limits) -> FileTooLarge:
    return FileTooLarge(
        f"the file is {size_text(size)}; the limit is {size_text(limits.max_bytes)} "
        f"(split it, or raise PROVISIONER_IMPORT_MAX_BYTES)"
    )


def _encrypted(name: str) -> SheetError:
    return SheetError(
        f"{name} is protected with a password: open it, remove the password "
        f"(File > Info > Protect Workbook) and save it again"
    )


def _corrupt(name: str, kind: str, exc: BaseException) -> SheetError:
    text = str(exc)
    if "password" in text.lower() or "encrypt" in text.lower():
        return _encrypted(name)
    why = text.splitlines()[0][:200] if text else type(exc).__name__
    return SheetError(
        f"{name} is not a readable {kind.upper()} file ({why}): open it in a spreadsheet program and "
        f"save it again as XLSX or CSV"
    )


# --- ZIP containers (XLSX, ODS) -----------------------------------------------------


def _zip_kind(data: bytes, name: str, limits: Limits) -> str:
    """xlsx or ods, after checking the archive cannot expand beyond the limits."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise _corrupt(name, "xlsx", exc) from None
    if len(entries) > 10_000:
        raise SheetError(f"{name} holds {len(entries)} files: not a spreadsheet")
    total = 0
    for entry in entries:
        total += entry.file_size
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size > MB and ratio > limits.max_ratio:
            raise SheetError(
                f"{name} is refused: {entry.filename} would expand {ratio:.0f} times "
                f"(to {size_text(entry.file_size)}), like a zip bomb"
            )
        if entry.flag_bits & 0x1:
            raise _encrypted(name)
    if total > limits.max_unzipped_bytes:
        raise SheetError(
            f"{name} is refused: it would expand to {size_text(total)}, over the "
            f"{size_text(limits.max_unzipped_bytes)} limit (split the file)"
        )
    # The sizes above are what the archive says: a patched archive lies. Count what it really expands to.
    _measure_expansion(data, entries, name, limits)
    names = {entry.filename for entry in entries}
    if "mimetype" in names:
        try:
            mimetype = archive.read("mimetype")[:100]
        except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
            raise _corrupt(name, "ods", exc) from None
        if b"opendocument.spreadsheet" in mimetype:
            return "ods"
    if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
        return "xlsx"
    raise SheetError(f"{name} is a ZIP archive but not a spreadsheet (XLSX or ODS)")


_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_CHUNK = 64 * 1024


def _measure_expansion(data: bytes, entries: list[zipfile.ZipInfo], name: str, limits: Limits) -> None:
    """Decompress every entry as a stream, keeping nothing but a running count, and stop at the
    limit or at ``max_ratio`` times the file's size. Each entry's compressed data is read from its
    local header to the end of its deflate stream, whatever sizes the headers claim."""
    budget = min(limits.max_unzipped_bytes, max(limits.max_ratio * len(data), MB))
    total = 0
    view = memoryview(data)
    for entry in entries:
        offset = entry.header_offset
        if offset + _LOCAL_HEADER.size > len(data):
            raise _corrupt(name, "xlsx", ValueError(f"{entry.filename}: header outside the file"))
        fields = _LOCAL_HEADER.unpack_from(data, offset)
        if fields[0] != b"PK\x03\x04":
            raise _corrupt(name, "xlsx", ValueError(f"{entry.filename}: bad local header"))
        start = offset + _LOCAL_HEADER.size + fields[9] + fields[10]
        if entry.compress_type == zipfile.ZIP_STORED:
            total += min(entry.compress_size, max(len(data) - start, 0))
        elif entry.compress_type == zipfile.ZIP_DEFLATED:
            inflater = zlib.decompressobj(-15)
            position = start
            try:
                while not inflater.eof and position < len(data):
                    pending = bytes(view[position : position + _CHUNK])
                    position += len(pending)
                    while pending and not inflater.eof:
                        total += len(inflater.decompress(pending, _CHUNK))
                        pending = inflater.unconsumed_tail
                        if total > budget:
                            break
                    if total > budget:
                        break
            except zlib.error as exc:
                raise _corrupt(name, "xlsx", exc) from None
        else:
            raise SheetError(
                f"{name} is refused: {entry.filename} uses a compression spreadsheets do not use "
                f"(method {entry.compress_type})"
            )
        if total > budget:
            if budget == limits.max_unzipped_bytes:
                raise SheetError(
                    f"{name} is refused: it expands to more than {size_text(budget)}, over the limit (split the file)"
                )
            raise SheetError(
                f"{name} is refused: it expands to more than {limits.max_ratio} times its "
                f"{size_text(len(data))} (at {entry.filename}), like a zip bomb"
            )


# --- workbooks ----------------------------------------------------------------------


def _read_workbook(data: bytes, name: str, kind: str, sheet: str | None, limits: Limits) -> Table:
    import python_calamine

    try:
        book = python_calamine.load_workbook(io.BytesIO(data))
        names = list(book.sheet_names)
    except Exception as exc:  # calamine raises its own types for every kind of damage
        raise _corrupt(name, kind, exc) from None
    try:
        return _first_sheet_with_header(book, names, data, name, kind, sheet, limits)
    finally:
        book.close()


def _first_sheet_with_header(
    book: Any, names: list[str], data: bytes, name: str, kind: str, sheet: str | None, limits: Limits
) -> Table:
    if sheet is not None and sheet not in names:
        raise SheetError(f"{name} has no sheet named {sheet!r}; its sheets are: {', '.join(names)}")
    parts: dict[str, str] = {}
    archive = zipfile.ZipFile(io.BytesIO(data)) if kind in ("xlsx", "ods") else None
    if kind == "xlsx":
        parts = _xlsx_sheet_parts(archive, name)
    elif kind == "ods":
        _check_ods_repeats(_read_part(archive, "content.xml", name, kind), name, limits)
    broken: BaseException | None = None
    for sheet_name in [sheet] if sheet is not None else names:
        xml = None
        if kind == "xlsx" and sheet_name in parts:
            # calamine expands a sheet to the rectangle of its cells: a stray cell at XFD1048576 would
            # be 17 billion cells, and calamine aborts the process. Bound the rectangle first.
            xml = _read_part(archive, parts[sheet_name], name, kind)
            _check_xlsx_extent(xml, name, sheet_name, limits)
        try:
            cells = book.get_sheet_by_name(sheet_name)
        except Exception as exc:
            if sheet is not None:
                raise _corrupt(name, kind, exc) from None
            broken = broken or exc
            continue  # a chart sheet, or a broken one: the data may be on the next
        end = cells.end
        height, width = (end[0] + 1, end[1] + 1) if end else (0, 0)
        if height > limits.max_rows + HEADER_SCAN_ROWS + 1:
            raise _too_many_rows(name, sheet_name, limits)
        if width > limits.max_columns:
            raise _too_wide(name, sheet_name, limits)
        try:
            rows = cells.to_python(skip_empty_area=False)
        except Exception as exc:
            raise _corrupt(name, kind, exc) from None
        del cells
        if xml is not None:
            _restore_formula_text(rows, xml)
            xml = None  # the sheet's XML (~50 MB for 100,000 rows) is not needed any more
        header = find_header(rows)
        if header is not None:
            table = Table(name, kind, sheet_name, f"sheet {sheet_name!r}", rows, header)
            _check_rows(table, limits)
            return table
        if sheet is not None:
            raise _no_header(name, f"sheet {sheet_name!r}")
    if broken is not None:
        raise _corrupt(name, kind, broken)
    raise _no_header(name, "any sheet" if len(names) > 1 else f"sheet {names[0]!r}" if names else "the file")


def _too_many_rows(name: str, sheet: str, limits: Limits) -> FileTooLarge:
    return FileTooLarge(
        f"sheet {sheet!r} of {name} has cells beyond row {limits.max_rows + HEADER_SCAN_ROWS + 1}; "
        f"the limit is {limits.max_rows} rows (split the file, delete stray cells far below, or "
        f"raise PROVISIONER_IMPORT_MAX_ROWS)"
    )


def _too_wide(name: str, sheet: str, limits: Limits) -> SheetError:
    return SheetError(
        f"sheet {sheet!r} of {name} has cells beyond column {letter(limits.max_columns - 1)}; the limit "
        f"is {limits.max_columns} columns (delete the stray cells on the right)"
    )


def _read_part(archive: Any, part: str, name: str, kind: str) -> bytes:
    try:
        return archive.read(part)
    except (KeyError, zipfile.BadZipFile, OSError, RuntimeError, EOFError, zlib.error) as exc:
        raise _corrupt(name, kind, exc) from None


def _after(number: str, low: str, high: str) -> list[str]:
    """Regex alternatives for the strings as long as ``number`` that sort after it."""
    out = []
    for i, ch in enumerate(number):
        if ch != high:
            rest = f"[{low}-{high}]" * (len(number) - i - 1)
            out.append(re.escape(number[:i]) + f"[{chr(ord(ch) + 1)}-{high}]" + rest)
    return out


def _check_xlsx_extent(xml: bytes, name: str, sheet: str, limits: Limits) -> None:
    """Refuse cell or row references beyond the limits (read from the XML, before calamine)."""
    last_row = str(limits.max_rows + HEADER_SCAN_ROWS + 1)
    last_col = letter(limits.max_columns - 1)
    rows = "|".join([f"[1-9][0-9]{{{len(last_row)},}}", *_after(last_row, "0", "9")])
    cols = "|".join([f"[A-Z]{{{len(last_col) + 1},}}", *_after(last_col, "A", "Z")])
    too_wide = re.compile(f'r="(?:{cols})[0-9]'.encode())
    # One pass over the XML. The lookahead (every row number refused has at least as many digits as
    # the last one allowed) and the possessive letters make the million ordinary references fail
    # fast: half the time of the plain alternation on 100,000 rows.
    either = re.compile(f'r="(?:(?:{cols})[0-9]|[A-Z]{{0,3}}+(?=[0-9]{{{len(last_row)}}})(?:{rows})")'.encode())
    start = 0
    while (found := either.search(xml, start)) is not None:
        start = found.end()
        if xml[found.start() - 1 : found.start()] in (b" ", b"\t", b"\r", b"\n"):  # attribute r: a row or a cell
            if too_wide.match(xml, found.start()):
                raise _too_wide(name, sheet, limits)
            raise _too_many_rows(name, sheet, limits)


_REPEAT = re.compile(rb'number-(rows|columns)-repeated="([0-9]+)"')


def _check_ods_repeats(content: bytes, name: str, limits: Limits) -> None:
    """Refuse ODS rows or cells repeated beyond the limits when they hold a value (empty repeats,
    which LibreOffice writes for the rest of a formatted sheet, expand to nothing)."""
    for found in _REPEAT.finditer(content):
        rows = found.group(1) == b"rows"
        if int(found.group(2)) <= (limits.max_rows if rows else limits.max_columns):
            continue
        tag_end = content.index(b">", found.end())
        if rows:
            body = content[tag_end : content.find(b"table-row>", tag_end)]
            holds_value = b"value-type" in body or b"<text:" in body
        else:
            holds_value = content[tag_end - 1 : tag_end] != b"/"
        if holds_value:
            raise SheetError(
                f"{name} is refused: it repeats a cell {int(found.group(2)):,} times "
                f"({'rows' if rows else 'columns'}), beyond the limits of an import"
            )


_MAIN_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_FORMULA = re.compile(rb"<(?:\w+:)?f(?:\s[^>]*)?>([^<]*)</(?:\w+:)?f>")
_CELL_REF = re.compile(rb'\sr="([A-Z]{1,3})([0-9]{1,7})"')


def _xlsx_sheet_parts(archive: Any, name: str) -> dict[str, str]:
    """Sheet name -> the archive part holding it."""
    try:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ElementTree.ParseError, zipfile.BadZipFile, OSError, RuntimeError, zlib.error) as exc:
        raise _corrupt(name, "xlsx", exc) from None
    targets = {el.get("Id"): el.get("Target") or "" for el in rels}
    parts = {}
    for el in workbook.iter(_MAIN_NS + "sheet"):
        target = targets.get(el.get(_REL_ID))
        if target:
            parts[el.get("name") or ""] = (
                target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
            )
    return parts


def _restore_formula_text(rows: list[list[Any]], xml: bytes) -> None:
    """Cells Excel stored as formulas hold what was typed: ``=yEFQ...`` stays that text.

    Excel turns a password or name typed with a leading ``=`` into a formula; calamine gives
    its cached result (often empty or ``#NAME?``). Only formulas written out in the cell are
    restored; a shared formula's copies keep their value.
    """
    if b"f>" not in xml:
        return
    for match in _FORMULA.finditer(xml):
        if not match.group(1):
            continue
        start = xml.rfind(b"<", 0, match.start())
        while start > 0 and not re.match(rb"<(?:\w+:)?c[\s>]", xml[start : start + 12]):
            start = xml.rfind(b"<", 0, start)
        ref = _CELL_REF.search(xml, start, match.start())
        if ref is None:
            continue
        col = 0
        for ch in ref.group(1):
            col = col * 26 + ch - 64
        row, col = int(ref.group(2)) - 1, col - 1
        if row >= len(rows):
            continue
        cells = rows[row]
        if col >= len(cells):
            cells.extend([""] * (col + 1 - len(cells)))
        cells[col] = "=" + html.unescape(match.group(1).decode("utf-8", "replace"))


def _no_header(name: str, where: str) -> SheetError:
    return SheetError(
        f"no header row in {where} of {name}: one of the first {HEADER_SCAN_ROWS} rows must name "
        f"the columns, with at least MAC and one more (e.g. {', '.join(TEMPLATE_HEADERS[:6])}); "
        f"imports/ has blank templates"
    )


def _check_rows(table: Table, limits: Limits) -> None:
    count = len(table.rows) - table.header.index - 1
    if count > limits.max_rows:
        raise FileTooLarge(
            f"{table.name} has {count} rows under the header; the limit is {limits.max_rows} "
            f"(split the file, or raise PROVISIONER_IMPORT_MAX_ROWS)"
        )


# --- CSV ----------------------------------------------------------------------------


def decode(data: bytes, name: str = "the file") -> tuple[str, str]:
    """(text, encoding): UTF-8 with or without BOM, UTF-16 with BOM, else Windows-1252."""
    try:
        if data.startswith(codecs.BOM_UTF8):
            return data[len(codecs.BOM_UTF8) :].decode("utf-8"), "UTF-8 with BOM"
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return data.decode("utf-16"), "UTF-16"
    except UnicodeDecodeError as exc:
        raise SheetError(f"{name} is not valid text ({exc.reason} at byte {exc.start})") from None
    if b"\x00" in data[:4096]:
        raise SheetError(f"{name} is not a spreadsheet we can read: save it as XLSX or CSV")
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError as exc:
        raise SheetError(
            f"{name} is neither UTF-8 nor Windows-1252 text (byte {data[exc.start]:#04x} at "
            f"{exc.start}): save it as CSV UTF-8"
        ) from None


def sniff_delimiter(text: str) -> str:
    """The delimiter whose rows agree most on their width (title rows have one cell)."""
    sample = text[:65536]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    best, best_key = ",", (0, 0)
    for delimiter in _DELIMITERS:
        try:
            widths = [len(row) for row in csv.reader(io.StringIO(sample), delimiter=delimiter) if len(row) > 1]
        except csv.Error:
            continue
        if not widths:
            continue
        width, count = Counter(widths).most_common(1)[0]
        if (count, width) > best_key:
            best, best_key = delimiter, (count, width)
    return best


def _read_csv(data: bytes, name: str, sheet: str | None, limits: Limits) -> Table:
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<table", b"<?xml")):
        raise SheetError(f"{name} is a web page or XML, not a spreadsheet: open it in Excel and save it as XLSX")
    if sheet is not None:
        raise SheetError(f"{name} is a CSV file: it has no sheets (leave out --sheet)")
    text, encoding = decode(data, name)
    delimiter = None
    first, _, rest = text.partition("\n")
    if first.strip().lower().startswith("sep=") and len(first.strip()) == 5:
        delimiter, text = first.strip()[4], rest  # Excel's hint line; Excel does not show it as a row
    delimiter = delimiter or sniff_delimiter(text)
    width = 0
    count = 0
    rows: list[list[Any]] = []
    try:
        for row in csv.reader(io.StringIO(text), delimiter=delimiter):
            rows.append(row)
            count += 1
            if len(row) > width:
                width = len(row)
                if width > limits.max_columns:
                    raise SheetError(f"{name} has a row of {width} cells; the limit is {limits.max_columns} columns")
            if count > limits.max_rows + HEADER_SCAN_ROWS + 1:
                raise FileTooLarge(
                    f"{name} has more than {limits.max_rows} rows; the limit is {limits.max_rows} "
                    f"(split the file, or raise PROVISIONER_IMPORT_MAX_ROWS)"
                )
    except csv.Error as exc:
        raise SheetError(f"{name} is not a readable CSV file: {exc} (row {count + 1})") from None
    if width == 0:
        raise SheetError(f"{name} is empty")
    for row in rows:  # every row as wide as the widest, short ones ending in empty cells
        if len(row) < width:
            row.extend([""] * (width - len(row)))
    # Our CSV escape ('=x) can only be where a cell starts: when no cell does, no row needs undoing.
    escaped = re.search(f"(?:^|[\\r\\n{re.escape(delimiter)}])\"?'", text) is not None
    del text, rest  # not another copy of every cell while the rows are checked
    header = find_header(rows)
    if header is None:
        raise _no_header(name, "the first rows")
    detail = f"{encoding}, {_DELIMITER_NAMES[delimiter]}-separated"
    table = Table(name, "csv", None, detail, rows, header, csv=escaped)
    _check_rows(table, limits)
    return table
