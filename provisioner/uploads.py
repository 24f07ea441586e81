"""What a phone may keep on the server: its own override files, without the keys that take it away.

A Polycom applies ``<mac>-phone.cfg`` (and ``-web.cfg``) on top of the server's config, a Yealink
``<mac>-local.cfg``: whoever can write one can point the phone at another provisioning or SIP
server. Pure code, no I/O: :func:`clean` drops the keys no phone user needs to keep there (the
provisioning server and its credentials, the SIP servers and credentials of the accounts, any
password) and names what it dropped; the resolver logs the names (never the values).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

# Keys never kept in an upload, per vendor (matched against the whole key, case-insensitively).
FORBIDDEN = {
    "polycom": re.compile(
        r"device\..*"  # device.prov.serverName, device.prov.user/password, device.auth.*, device.sip.* ...
        r"|prov\..*"  # prov.* (polling, upload of the config itself)
        r"|reg\.\d+\.(server|auth|outboundproxy).*"  # reg.1.server.1.address, reg.1.auth.userId/password
        r"|voipprot\.(server|sip\.outboundproxy).*"  # the servers every account falls back to
        r"|sec\..*"  # TLS trust, profiles
        r"|.*password.*",
        re.IGNORECASE,
    ),
    "yealink": re.compile(
        r"(static\.)?auto_provision\..*"  # the provisioning server, its user and password
        r"|(static\.)?security\..*"  # trusted certificates, user passwords
        r"|account\.\d+\.(sip_server|outbound_proxy|auth_name|password|user_name|sip_server_host).*"
        r"|.*password.*",
        re.IGNORECASE,
    ),
}


class BadUpload(ValueError):
    """An override file that cannot be read (not the format the phone writes): refused whole."""


def is_override(name: str) -> bool:
    """Whether a phone applies this upload as config (logs are kept as sent)."""
    return name.endswith((".cfg", ".xml"))


def clean(vendor: str, name: str, body: bytes) -> tuple[bytes, list[str]]:
    """``body`` without forbidden keys, and the keys dropped (empty: kept as sent)."""
    forbidden = FORBIDDEN.get(vendor)
    if forbidden is None or not is_override(name):
        return body, []
    if vendor == "yealink":
        return _clean_lines(body, forbidden)
    return _clean_xml(body, forbidden)


def _clean_lines(body: bytes, forbidden: re.Pattern[str]) -> tuple[bytes, list[str]]:
    kept, dropped = [], []
    for line in body.splitlines(keepends=True):
        key = line.split(b"=", 1)[0].strip().decode("utf-8", "replace") if b"=" in line else ""
        if key and not key.startswith("#") and forbidden.fullmatch(key):
            dropped.append(key)
        else:
            kept.append(line)
    return b"".join(kept), dropped


def _clean_xml(body: bytes, forbidden: re.Pattern[str]) -> tuple[bytes, list[str]]:
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise BadUpload("a document type declaration is not accepted in an override file")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise BadUpload(f"not well-formed XML ({exc})") from None
    dropped = []
    for element in root.iter():
        for key in [k for k in element.attrib if forbidden.fullmatch(k)]:
            del element.attrib[key]
            dropped.append(key)
    if not dropped:
        return body, []
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(
        root, encoding="utf-8", xml_declaration=False
    ), dropped
