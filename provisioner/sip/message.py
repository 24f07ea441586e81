"""SIP messages: parse what comes off a UDP socket, build requests and responses.

Only what NOTIFY resync and plug-and-play need: one start line, headers (compact
forms expanded), a body sized by Content-Length, and the MD5 digest answer to a
401/407 challenge (RFC 2617 / RFC 3261 22).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

MAGIC = "z9hG4bK"  # RFC 3261 branch prefix
_COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "o": "event",
    "k": "supported",
    "s": "subject",
    "e": "content-encoding",
}


class SipParseError(ValueError):
    """Bytes that are not a SIP message."""


@dataclass
class Message:
    """A request (``method`` and ``uri`` set) or a response (``status`` set)."""

    method: str | None = None
    uri: str | None = None
    status: int | None = None
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def get(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    @property
    def is_request(self) -> bool:
        return self.method is not None

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = (self.get("CSeq") or "").strip().partition(" ")
        try:
            return int(number), method.strip().upper()
        except ValueError:
            raise SipParseError("bad CSeq header") from None

    @property
    def branch(self) -> str | None:
        via = self.get("Via") or ""
        m = re.search(r";\s*branch=([^;,\s]+)", via, re.IGNORECASE)
        return m.group(1) if m else None

    def encode(self) -> bytes:
        start = f"{self.method} {self.uri} SIP/2.0" if self.is_request else f"SIP/2.0 {self.status} {self.reason}"
        lines = [start]
        for key, value in self.headers:
            if key.lower() != "content-length":
                lines.append(f"{key}: {value}")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


def parse(data: bytes) -> Message:
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError("not UTF-8") from None
    raw_lines = re.split(r"\r?\n", text)
    if not raw_lines or not raw_lines[0].strip():
        raise SipParseError("empty message")
    start = raw_lines[0].strip()
    msg = Message()
    if start.startswith("SIP/2.0 "):
        parts = start.split(" ", 2)
        try:
            msg.status = int(parts[1])
        except (IndexError, ValueError):
            raise SipParseError("bad status line") from None
        msg.reason = parts[2] if len(parts) > 2 else ""
    else:
        parts = start.split(" ")
        if len(parts) != 3 or parts[2] != "SIP/2.0" or not re.fullmatch(r"[A-Z]+", parts[0]):
            raise SipParseError("bad request line")
        msg.method, msg.uri = parts[0], parts[1]
    for line in raw_lines[1:]:
        if not line:
            continue
        if line[0] in " \t" and msg.headers:  # folded header
            key, value = msg.headers[-1]
            msg.headers[-1] = (key, value + " " + line.strip())
            continue
        key, colon, value = line.partition(":")
        if not colon:
            raise SipParseError("bad header line")
        key = key.strip()
        msg.headers.append((_COMPACT.get(key.lower(), key), value.strip()))
    length = msg.get("Content-Length")
    if length is not None:
        try:
            body = body[: max(0, int(length))]
        except ValueError:
            raise SipParseError("bad Content-Length") from None
    msg.body = body
    return msg


def new_branch() -> str:
    return MAGIC + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(6)


def new_call_id(host: str) -> str:
    return f"{secrets.token_hex(12)}@{host}"


def response(
    request: Message, status: int, reason: str, *, to_tag: str | None = None, extra: Iterable[tuple[str, str]] = ()
) -> Message:
    """A response copying Via, From, To (with our tag), Call-ID and CSeq from ``request``."""
    headers = [("Via", v) for v in request.get_all("Via")]
    headers.append(("From", request.get("From") or ""))
    to = request.get("To") or ""
    if to_tag and ";tag=" not in to.lower():
        to = f"{to};tag={to_tag}"
    headers += [("To", to), ("Call-ID", request.get("Call-ID") or ""), ("CSeq", request.get("CSeq") or "")]
    headers += list(extra)
    return Message(status=status, reason=reason, headers=headers)


# --- digest (RFC 2617, MD5, qop auth or none) ------------------------------------------------


def parse_challenge(value: str) -> dict[str, str]:
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise SipParseError(f"unsupported authentication scheme {scheme!r}")
    params = {}
    for m in re.finditer(r'([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))', rest):
        params[m.group(1).lower()] = m.group(2) if m.group(2) is not None else m.group(3)
    if "nonce" not in params:
        raise SipParseError("digest challenge without a nonce")
    return params


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # RFC 2617 mandates MD5


def digest_response(
    challenge: dict[str, str],
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    nc: int = 1,
    cnonce: str | None = None,
) -> str:
    """The ``Authorization``/``Proxy-Authorization`` value answering ``challenge``."""
    algorithm = challenge.get("algorithm", "MD5")
    if algorithm.upper() not in ("MD5", "MD5-SESS"):
        raise SipParseError(f"unsupported digest algorithm {algorithm!r}")
    realm, nonce = challenge.get("realm", ""), challenge["nonce"]
    cnonce = cnonce or secrets.token_hex(8)
    ha1 = _md5(f"{username}:{realm}:{password}")
    if algorithm.upper() == "MD5-SESS":
        ha1 = _md5(f"{ha1}:{nonce}:{cnonce}")
    ha2 = _md5(f"{method}:{uri}")
    qops = [q.strip() for q in challenge.get("qop", "").split(",") if q.strip()]
    parts = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    if "auth" in qops:
        nc_text = f"{nc:08x}"
        answer = _md5(f"{ha1}:{nonce}:{nc_text}:{cnonce}:auth:{ha2}")
        parts += [f'response="{answer}"', "qop=auth", f"nc={nc_text}", f'cnonce="{cnonce}"']
    else:
        parts.append(f'response="{_md5(f"{ha1}:{nonce}:{ha2}")}"')
    parts.append(f"algorithm={algorithm}")
    if "opaque" in challenge:
        parts.append(f'opaque="{challenge["opaque"]}"')
    return "Digest " + ", ".join(parts)


def check_digest(value: str, *, method: str, username: str, password: str, realm: str, nonce: str) -> bool:
    """Whether an Authorization header answers our challenge with this password (test phones use it)."""
    params = parse_challenge(value)
    if params.get("username") != username or params.get("nonce") != nonce or params.get("realm") != realm:
        return False
    ha1 = _md5(f"{username}:{realm}:{password}")
    ha2 = _md5(f"{method}:{params.get('uri', '')}")
    if params.get("qop") == "auth":
        expected = _md5(f"{ha1}:{nonce}:{params.get('nc')}:{params.get('cnonce')}:auth:{ha2}")
    else:
        expected = _md5(f"{ha1}:{nonce}:{ha2}")
    return secrets.compare_digest(expected, params.get("response", ""))
