"""Grandstream GXP and GRP phones (shared/VENDORS.md, "Grandstream").

The phone asks, in lowercase, for ``cfg<mac>.xml`` (and the legacy binary
``cfg<mac>``/``cfg<mac>.bin``), then ``cfg<model>.xml``, then ``cfg.xml``. Every
setting is a numbered P-value; each SIP account has its own block of numbers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ..errors import RenderError
from ..macs import try_parse_mac
from .base import Caps, ConfigFile, FileKind, UserAgent, Vendor

XML = "application/xml"

# On the GXP21xx the line keys are virtual multi-purpose keys (VPK), P1363 onwards.
MODELS = {
    "GXP1625": Caps(accounts=2, line_keys=2, family="gxp16xx"),
    "GXP2170": Caps(accounts=6, line_keys=12, family="gxp21xx"),
    "GRP2612": Caps(accounts=2, line_keys=2, family="grp26xx"),
    "GRP2614": Caps(accounts=4, line_keys=4, family="grp26xx"),
    "GRP2615": Caps(accounts=5, line_keys=10, family="grp26xx"),
}

_MAC = r"(?P<mac>[0-9a-f]{12})"
_MODEL_FILE = "|".join(sorted(name.lower() + ("[pw]?" if name.startswith("GRP") else "") for name in MODELS))

FILES = (
    ConfigFile(r"cfg" + _MAC + r"\.xml", FileKind.DEVICE, "cfg_mac.xml", XML),
    # The customer's phonebook (AddressBook XML). The phone asks for <P331>/phonebook.xml, P331 being
    # <base>pb<mac>: the resolver reads "pb<mac>/phonebook.xml" as this name.
    ConfigFile(_MAC + r"-phonebook\.xml", FileKind.DEVICE, "phonebook.xml", XML),
    # Legacy binary P-value file: open-source encoders agree on its header and
    # checksum but not on padding, gnkey or escaping, and none was checked against
    # a phone here. A 404 makes the phone use the XML, which every model reads.
    ConfigFile(r"cfg" + _MAC + r"(?:\.bin)?", FileKind.ABSENT),
    ConfigFile(r"cfg(?P<model>" + _MODEL_FILE + r")\.xml", FileKind.COMMON, "common.xml", XML),
    ConfigFile(r"cfg\.xml", FileKind.COMMON, "common.xml", XML),
)

_UA = (
    # Grandstream Model HW GRP2614 SW 1.0.5.15 DevId c074ad0b63ee
    # Grandstream Model HW HT801 V1.1A SW 1.0.17.5 DevId c074ad273a10
    re.compile(
        r"Grandstream Model HW (?P<model>\S+)(?:\s+V\S+)?\s+SW (?P<fw>\S+)"
        r"\s+DevId (?P<mac>[0-9A-Fa-f:.\-]+)"
    ),
    # Grandstream GXP2000 (gxp2000e.bin:1.2.5.3/boot55e.bin:1.1.6.9) DevId 000b822726c8
    re.compile(
        r"Grandstream (?P<model>[A-Za-z]+\d+\w*) \([^:)]*:(?P<fw>[\d.]+)[^)]*\)"
        r"\s+DevId (?P<mac>[0-9A-Fa-f:.\-]+)"
    ),
)
_MODEL = re.compile(
    r"(?:grandstream[\s_\-]*)?(?P<family>gxp|grp|gxv|ht|dp|wp|ghp)[\s_\-]*"
    r"(?P<number>\d{3,4})(?P<suffix>[a-z]*)",
    re.IGNORECASE,
)

# P-values of account 1; account n >= 2 adds these offsets to its block.
ACCOUNT_1 = {
    "active": 271,
    "name": 270,
    "server": 47,
    "proxy": 48,
    "user": 35,
    "auth": 36,
    "password": 34,
    "display": 3,
    "transport": 130,
}
OFFSETS = {
    "active": 1,
    "server": 2,
    "proxy": 3,
    "user": 4,
    "auth": 5,
    "password": 6,
    "display": 7,
    "name": 17,
    "transport": 48,
}
BLOCKS = {2: 400, 3: 500, 4: 600, 5: 1700, 6: 1800}  # not (n+2)00 past account 4
TRANSPORTS = {"udp": 0, "tcp": 1, "tls": 2}  # P130 and its per-account twins
PROTOCOLS = {"tftp": 0, "http": 1, "https": 2}  # P212, config upgrade via
LANGUAGES = {"de", "en", "es", "fr", "it", "nl", "pt", "pl", "ru", "tr", "zh"}  # P1362
# Account 1 only (the P-values of the other accounts' blocks are not confirmed here):
# P183 SRTP (0 off, 2 enabled and forced), P33 voicemail number, P57-P62/P46/P98 vocoder choices 1-8.
SRTP_FORCED = "2"
VOCODER_CHOICES = ("P57", "P58", "P59", "P60", "P61", "P62", "P46", "P98")
CODEC_PAYLOADS = {"pcmu": "0", "pcma": "8", "g722": "9", "g729": "18", "opus": "123"}
_PVALUE = re.compile(r"[Pp]?(\d{1,5})")
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def normalize_model(text: str) -> str | None:
    """ "gxp2170", "GXP 2170", "grp2612w" -> "GXP2170", "GXP2170", "GRP2612"."""
    m = _MODEL.fullmatch(text.strip())
    if not m:
        return None
    suffix = m["suffix"].upper()
    if m["family"].lower() == "grp" and suffix in ("P", "W"):
        suffix = ""  # PoE / Wi-Fi variants provision alike
    return f"{m['family'].upper()}{m['number']}{suffix}"


def parse_user_agent(header: str) -> UserAgent | None:
    for pattern in _UA:
        m = pattern.match(header.strip())
        if m:
            return UserAgent(
                vendor="grandstream",
                model=normalize_model(m["model"]) or m["model"].upper(),
                firmware=m["fw"],
                mac=try_parse_mac(m["mac"]),
            )
    return None


def account_codes(n: int) -> dict[str, str]:
    """P-value names of SIP account ``n`` (1-based)."""
    if n == 1:
        return {field: f"P{code}" for field, code in ACCOUNT_1.items()}
    return {field: f"P{BLOCKS[n] + offset}" for field, offset in OFFSETS.items()}


_ACCOUNT_CODES = {n: account_codes(n) for n in (1, *BLOCKS)}  # built once; renders get copies


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def _overrides(settings: Mapping[str, Any], accounts: list[Any]) -> dict[str, str]:
    out = {}
    for key, value in settings.items():
        m = _PVALUE.fullmatch(key.strip())
        if not m:
            raise RenderError(f"grandstream setting name {key!r} is not a P-value (P1362)")
        out[f"P{int(m[1])}"] = "" if value is None else str(value)
    # One search over all the texts: the newline that joins them is not in _XML_INVALID.
    texts = [v for a in accounts for v in a.texts()]
    if _XML_INVALID.search("\n".join(texts + list(out.values()))):
        raise RenderError("a value holds a control character XML cannot carry")
    return out


def _pvalues(ntp_server: str, extra: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(P-value, value) pairs the per-device file writes, in order, without the overridden ones.

    ``extra`` is what :func:`extend_context` adds. Values are text, not escaped
    here: the template does it.
    """
    pairs: list[tuple[str, Any]] = []
    add = pairs.extend
    for slot in extra["slots"]:  # every slot of the model; unused ones off and cleared
        c, acc = slot["codes"], slot["account"]
        if acc:
            add(
                (
                    (c["active"], "1"),
                    (c["name"], acc.label),
                    (c["display"], acc.display_name),
                    (c["user"], acc.sip_username),
                    (c["auth"], acc.auth_id),
                    (c["password"], acc.password),
                )
            )
        else:
            add(
                (
                    (c["active"], "0"),
                    (c["name"], ""),
                    (c["display"], ""),
                    (c["user"], ""),
                    (c["auth"], ""),
                    (c["password"], ""),
                )
            )
        add(((c["server"], slot["server"]), (c["proxy"], ""), (c["transport"], str(slot["transport"]))))
    first = extra["slots"][0]["account"] if extra["slots"] else None
    if first is not None:
        add((("P183", SRTP_FORCED if first.srtp else "0"), ("P33", first.voicemail or "")))
        order = [CODEC_PAYLOADS[c] for c in extra["codecs"] if c in CODEC_PAYLOADS]
        add(zip(VOCODER_CHOICES, order, strict=False))
    if extra["admin_password"]:
        pairs.append(("P2", extra["admin_password"]))  # the phone's web UI and menu (factory admin)
    pairs.extend(extra["key_pvalues"])
    for key in extra["line_keys"]:
        add(((key["mode"], "0"), (key["account"], str(key["index"])), (key["label"], key["text"])))
    pairs.append(("P30", ntp_server))
    if extra["gs_timezone"]:
        add((("P64", "customize"), ("P246", extra["gs_timezone"])))
    if extra["gs_language"]:
        pairs.append(("P1362", extra["gs_language"]))
    add((("P212", str(extra["config_protocol"])), ("P237", extra["config_server"])))
    if extra["config_user"]:
        add((("P1360", extra["config_user"]), ("P1361", extra["config_password"] or "")))
    check = extra["check"]
    # Check for new files on its own: P194 2 daily at hour P285, 1 every P193 minutes.
    if check is not None:
        add((("P194", "2" if check.daily else "1"), ("P193", str(check.interval_minutes)), ("P285", str(check.hour))))
    overrides = extra["overrides"]
    if overrides:
        return [pair for pair in pairs if pair[0] not in overrides]
    return pairs


# Programmable (multi-purpose) key n, n = 1..7: mode P32(n+2), account P3(3n-2) (from 0), label
# P3(3n-1), value P3(3n) (VENDORS.md for key 1; wazo-provd-plugins' Grandstream plugin for 1..7).
# Mode 1 = BLF (VENDORS.md), 0 = speed dial (Grandstream's MPK mode list only: one source).
# Past key 7 the numbering changes and is not confirmed here: those keys are refused.
KEY_MODES = {"blf": "1", "speed-dial": "0"}
KEY_LIMIT = 7
KEY_LIMIT_REASON = "Grandstream keys 8 and up use a numbering not confirmed here"


def _key_pvalues(keys: list[dict[str, Any]], caps: Caps | None) -> list[tuple[str, str]]:
    """The P-values of the phone's own programmable keys (module 0, positions 1..7)."""
    if caps is None:
        return []
    limit = min(caps.line_keys, KEY_LIMIT)
    out: list[tuple[str, str]] = []
    for key in keys:
        n = key["position"]
        if key["module"] != 0 or n > limit or key["type"] not in KEY_MODES:
            continue
        out += [
            (f"P{320 + n + 2}", KEY_MODES[key["type"]]),
            (f"P3{3 * n - 2:02d}", str(key["line"] - 1)),
            (f"P3{3 * n - 1:02d}", key["label"] or ""),
            (f"P3{3 * n:02d}", key["value"]),
        ]
    return out


def extend_context(ctx: Mapping[str, Any]) -> dict[str, Any]:
    url = urlsplit(ctx["provisioning_url"])
    by_slot = {account.index: account for account in ctx["accounts"]}
    caps = ctx["caps"]
    slots = []
    for n in ctx["account_slots"]:
        account = by_slot.get(n)
        slots.append(
            {
                "codes": dict(_ACCOUNT_CODES[n]),
                "account": account,
                "server": _host_port(account.server, account.port) if account else "",
                "transport": TRANSPORTS[account.transport] if account else 0,
            }
        )
    line_keys = []
    if caps is not None and caps.family == "gxp21xx":
        # Fixed VPK k: mode P1363+2(k-1) (0 = line), account P1364+2(k-1) (from 0),
        # description P1465+2(k-1); only keys 1..6 use this numbering.
        for account in ctx["accounts"]:
            if account.index > min(caps.line_keys, 6):
                continue
            k = 2 * (account.index - 1)
            line_keys.append(
                {
                    "mode": f"P{1363 + k}",
                    "account": f"P{1364 + k}",
                    "label": f"P{1465 + k}",
                    "index": account.index - 1,
                    "text": account.label,
                }
            )
    language = ctx["language"].strip().lower().replace("-", "_").split("_")[0]
    out = {
        "slots": slots,
        "line_keys": line_keys,
        # P237 takes host[:port]/path, no scheme; the phone appends the file name.
        "config_server": url.netloc.rpartition("@")[2] + url.path.rstrip("/"),
        "config_protocol": PROTOCOLS.get(url.scheme.lower(), 1),
        "config_user": url.username,
        "config_password": url.password,
        "gs_timezone": ctx["timezone"].posix or None,
        "gs_language": language if language in LANGUAGES else None,
        "overrides": _overrides(ctx["overrides"], ctx["accounts"]),
        "check": ctx.get("check"),  # None in common files
        "admin_password": ctx.get("admin_password"),
        "codecs": ctx.get("codecs") or [],
    }
    out["key_pvalues"] = _key_pvalues(ctx.get("function_keys") or [], caps)
    # All of the above as the flat list cfg_mac.xml writes: no per-value work in Jinja.
    out["pvalues"] = _pvalues(ctx["ntp_server"], out)
    return out


VENDOR = Vendor(
    name="grandstream",
    ouis=("000B82", "C074AD", "EC74D7"),
    files=FILES,
    models=MODELS,
    parse_user_agent=parse_user_agent,
    normalize_model=normalize_model,
    extend_context=extend_context,
    resync_event="resync",
    key_types=frozenset(KEY_MODES),
    key_limit=(KEY_LIMIT, KEY_LIMIT_REASON),
)
