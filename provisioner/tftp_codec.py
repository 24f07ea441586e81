"""The TFTP packet codec: RFC 1350 packets with the option extension of RFC 2347.

Decoding never raises anything but :class:`Malformed` (a ``ValueError`` saying what is wrong
and where), whatever the bytes; the server answers a malformed request with an ERROR packet
and ignores other garbage. Encoding is ``struct`` and byte joins: a DATA packet is a 4-byte
header and the block's bytes, an ACK is parsed from its four bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "ACK",
    "DATA",
    "ERROR",
    "OACK",
    "RRQ",
    "WRQ",
    "Ack",
    "Data",
    "Error",
    "Malformed",
    "Oack",
    "Request",
    "decode",
    "encode_ack",
    "encode_data",
    "encode_error",
    "encode_oack",
    "encode_request",
]

RRQ, WRQ, DATA, ACK, ERROR, OACK = 1, 2, 3, 4, 5, 6

_HEADER = struct.Struct("!HH")
_OPCODE = struct.Struct("!H")
MAX_ERROR_TEXT = 200


class Malformed(ValueError):
    """The datagram is not a TFTP packet this codec accepts; the message names the fault."""


@dataclass(frozen=True, slots=True)
class Request:
    """RRQ or WRQ: the mode in lower case (RFC 1350 says it is case-insensitive), options
    named as the client spelled them."""

    opcode: int
    filename: str
    mode: str
    options: dict[str, str]


@dataclass(frozen=True, slots=True)
class Data:
    block: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Ack:
    block: int


@dataclass(frozen=True, slots=True)
class Error:
    code: int
    message: str


@dataclass(frozen=True, slots=True)
class Oack:
    options: dict[str, str]


Packet = Request | Data | Ack | Error | Oack


def _strings(body: bytes, where: str) -> list[str]:
    """NUL-terminated ASCII strings. NULs padding the end (some boot ROMs send them) are dropped."""
    if not body.endswith(b"\0"):
        raise Malformed(f"{where}: the last field is not NUL-terminated")
    body = body.rstrip(b"\0")
    if not body:
        return []
    try:
        return body.decode("ascii").split("\0")
    except UnicodeDecodeError as exc:
        raise Malformed(f"{where}: a byte at offset {exc.start} is not ASCII") from None


def _options(fields: list[str], where: str) -> dict[str, str]:
    if len(fields) % 2:
        raise Malformed(f"{where}: option {fields[-1][:20]!r} has no value")
    options: dict[str, str] = {}
    for i in range(0, len(fields), 2):
        name, value = fields[i], fields[i + 1]
        if not name or not value:
            raise Malformed(f"{where}: option {i // 2 + 1} has an empty name or value")
        options[name] = value
    return options


def decode(data: bytes) -> Packet:
    """One datagram as a packet; :class:`Malformed` when it is not one."""
    if len(data) < 4:
        if len(data) >= 2 and data[:2] == b"\0\6":  # an OACK with no option: odd but whole
            return Oack({})
        raise Malformed(f"packet of {len(data)} bytes is shorter than any TFTP packet")
    opcode, number = _HEADER.unpack_from(data)
    if opcode == ACK:
        if len(data) != 4:
            raise Malformed(f"ACK of {len(data)} bytes, not 4")
        return Ack(number)
    if opcode == DATA:
        return Data(number, data[4:])
    if opcode in (RRQ, WRQ):
        name = "RRQ" if opcode == RRQ else "WRQ"
        fields = _strings(data[2:], name)
        if len(fields) < 2:
            raise Malformed(f"{name}: a file name and a mode are required")
        if not fields[0]:
            raise Malformed(f"{name}: the file name is empty")
        return Request(opcode, fields[0], fields[1].lower(), _options(fields[2:], name))
    if opcode == ERROR:
        text = data[4:]
        if not text.endswith(b"\0"):
            raise Malformed("ERROR: the message is not NUL-terminated")
        return Error(number, text[:-1].split(b"\0", 1)[0].decode("ascii", "replace"))
    if opcode == OACK:
        return Oack(_options(_strings(data[2:], "OACK"), "OACK"))
    raise Malformed(f"opcode {opcode} is not a TFTP opcode (1 to 6)")


def _ascii(text: str) -> bytes:
    return text.replace("\0", " ").encode("ascii", "replace")


def encode_request(opcode: int, filename: str, mode: str = "octet", options: dict[str, str] | None = None) -> bytes:
    fields = [filename, mode]
    for name, value in (options or {}).items():
        fields += [name, str(value)]
    return _OPCODE.pack(opcode) + b"".join(_ascii(field) + b"\0" for field in fields)


def encode_data(block: int, chunk: bytes) -> bytes:
    return _HEADER.pack(DATA, block & 0xFFFF) + chunk


def encode_ack(block: int) -> bytes:
    return _HEADER.pack(ACK, block & 0xFFFF)


def encode_error(code: int, message: str) -> bytes:
    """An ERROR packet; the text is made ASCII without NULs and cut to 200 bytes."""
    return _HEADER.pack(ERROR, code) + _ascii(message)[:MAX_ERROR_TEXT] + b"\0"


def encode_oack(options: dict[str, str]) -> bytes:
    return _OPCODE.pack(OACK) + b"".join(_ascii(k) + b"\0" + _ascii(str(v)) + b"\0" for k, v in options.items())
