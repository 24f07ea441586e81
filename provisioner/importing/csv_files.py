"""CSV files -> a :class:`~.tables.Table`: UTF-8 with or without BOM, UTF-16, or Windows-1252 as
Italian Excel saves it; ``,`` ``;`` tab or ``|``, sniffed; read with the csv module."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from typing import Any

from .columns import HEADER_SCAN_ROWS, find_header
from .problems import FileTooLarge, SheetError
from .tables import Limits, Table, check_rows, no_header

_DELIMITERS = (";", ",", "\t", "|")
_DELIMITER_NAMES = {";": "';'", ",": "','", "\t": "tab", "|": "'|'"}


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


def read_csv(data: bytes, name: str, sheet: str | None, limits: Limits) -> Table:
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
        raise no_header(name, "the first rows")
    detail = f"{encoding}, {_DELIMITER_NAMES[delimiter]}-separated"
    table = Table(name, "csv", None, detail, rows, header, csv=escaped)
    check_rows(table, limits)
    return table
