"""Yealink T3x / T4xS / T4xU / T5x desk phones (firmware V81 and later).

Boot sequence: ``<mac>.boot``, else ``y000000000000.boot``; with no boot file
the model-family common file ``y0000000000NN.cfg`` and then ``<mac>.cfg``. We
answer the per-device boot file, which lists the family file and ``<mac>.cfg``
(``overwrite_mode = 1``: a setting dropped from our files falls back to the
factory value instead of lingering). Format: ``key = value`` lines after the
``#!version:1.0.0.1`` header; ``%NULL%`` clears a value (a blank one is ignored
without ``overwrite_mode``), so cleared credentials are written as ``%NULL%``.

Sources: Yealink Administrator/Auto Provisioning Guides (V81-V86),
wazo-provd-plugins ``wazo_yealink/v86`` (common files, capabilities),
nethesis/tancredi ``yealink.macros`` (time-zone names).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from ..errors import RenderError
from ..macs import try_parse_mac
from .base import Caps, ConfigFile, FileKind, UserAgent, Vendor

TEXT = "text/plain; charset=utf-8"
_MAC = r"(?P<mac>[0-9a-f]{12})"

# accounts = SIP accounts; line_keys = linekey.K slots including pages;
# family = common-file id NN (y0000000000NN.cfg).
MODELS: dict[str, Caps] = {
    "T31G": Caps(accounts=2, line_keys=2, family="123"),
    "T31P": Caps(accounts=2, line_keys=2, family="123"),
    "T33G": Caps(accounts=4, line_keys=12, family="124"),
    "T42U": Caps(accounts=12, line_keys=15, family="116"),
    "T43U": Caps(accounts=12, line_keys=15, family="107"),
    "T46U": Caps(accounts=16, line_keys=27, family="108"),
    "T48U": Caps(accounts=16, line_keys=29, family="109"),
    # Six expansion modules of 40 keys (EXP40/EXP50 pages): wazo-provd-plugins wazo_yealink.
    "T46S": Caps(accounts=16, line_keys=27, family="66", expansion_modules=6, expansion_keys=40),
    "T48S": Caps(accounts=16, line_keys=29, family="65", expansion_modules=6, expansion_keys=40),
    "T53W": Caps(accounts=12, line_keys=21, family="95"),
    "T54W": Caps(accounts=16, line_keys=27, family="96"),
    "T57W": Caps(accounts=16, line_keys=29, family="97"),
    "T58W": Caps(accounts=16, line_keys=27, family="150"),
}

FILES = (
    ConfigFile(rf"{_MAC}\.boot", FileKind.DEVICE, "mac.boot", TEXT),
    ConfigFile(r"y000000000000\.boot", FileKind.COMMON, "y000000000000.boot", TEXT),
    ConfigFile(r"y0{9}(?P<family>\d{3})\.cfg", FileKind.COMMON, "common.cfg", TEXT),
    ConfigFile(rf"{_MAC}-local\.cfg", FileKind.UPLOAD, content_type=TEXT),
    ConfigFile(rf"{_MAC}-contact\.xml", FileKind.ABSENT),
    ConfigFile(rf"{_MAC}\.cfg", FileKind.DEVICE, "mac.cfg", TEXT),
    # The customer's phonebook (remote phonebook XML), named in mac.cfg: remote_phonebook.data.1.url.
    ConfigFile(rf"{_MAC}-phonebook\.xml", FileKind.DEVICE, "phonebook.xml", "text/xml; charset=utf-8"),
)

TRANSPORT_CODES = {"udp": 0, "tcp": 1, "tls": 2}
SRTP_COMPULSORY = 2  # account.N.srtp_encryption: 0 off, 1 optional, 2 compulsory

# voice.tone.country (call-progress tones), by ISO country (fields.COUNTRIES).
TONE_COUNTRIES = {
    "IT": "Italy",
    "DE": "Germany",
    "FR": "France",
    "GB": "Great Britain",
    "NL": "Netherlands",
    "US": "United States",
}
# account.N.codec.<name>.enable / .priority (firmware V81 and later), by fields.CODECS name.
CODEC_NAMES = {"g722": "g722", "pcma": "pcma", "pcmu": "pcmu", "g729": "g729", "opus": "opus"}

# lang.gui / lang.wui spellings.
LANGUAGES = {
    "en": "English",
    "it": "Italian",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "pt": "Portuguese",
    "pl": "Polish",
    "tr": "Turkish",
    "ru": "Russian",
    "zh": "Chinese_S",
}

# IANA zone -> local_time.time_zone_name (the name carries the DST rule).
ZONE_NAMES = {
    "Europe/Rome": "Italy(Rome)",
    "Europe/Vatican": "Italy(Rome)",
    "Europe/San_Marino": "Italy(Rome)",
    "Europe/Berlin": "Germany(Berlin)",
    "Europe/Vienna": "Germany(Berlin)",
    "Europe/Zurich": "Germany(Berlin)",
    "Europe/Warsaw": "Germany(Berlin)",
    "Europe/Paris": "France(Paris)",
    "Europe/Brussels": "France(Paris)",
    "Europe/Monaco": "France(Paris)",
    "Europe/Madrid": "Spain(Madrid)",
    "Europe/London": "United Kingdom(London)",
    "Europe/Dublin": "United Kingdom(London)",
    "Europe/Lisbon": "Portugal(Lisboa,Porto,Funchal)",
    "Europe/Amsterdam": "Netherlands(Amsterdam)",
    "Europe/Luxembourg": "Luxembourg(Luxembourg)",
    "Europe/Prague": "Czech Republic(Prague)",
    "Europe/Budapest": "Hungary(Budapest)",
    "Europe/Copenhagen": "Denmark(Kopenhagen)",
    "Europe/Zagreb": "Croatia(Zagreb)",
    "Europe/Athens": "Greece(Athens)",
    "Europe/Helsinki": "Finland(Helsinki)",
    "Europe/Bucharest": "Romania(Bucharest)",
    "Europe/Tallinn": "Estonia(Tallinn)",
    "Europe/Riga": "Latvia(Riga)",
    "Europe/Kiev": "Ukraine(Kyiv, Odessa)",
    "Europe/Kyiv": "Ukraine(Kyiv, Odessa)",
    "Europe/Moscow": "Russia(Moscow)",
    "America/New_York": "United States-Eastern Time",
    "America/Chicago": "United States-Central Time",
    "America/Denver": "United States-Mountain Time",
    "America/Phoenix": "United States-MST no DST",
    "America/Los_Angeles": "United States-Pacific Time",
    "America/Anchorage": "United States-Alaska Time",
    "Pacific/Honolulu": "United States-Hawaii-Aleutian",
    "America/Toronto": "Canada(Montreal,Ottawa,Quebec)",
    "America/Vancouver": "Canada(Vancouver,Whitehorse)",
    "America/Halifax": "Canada(Halifax,Saint John)",
    "America/Mexico_City": "Mexico(Mexico City,Acapulco)",
    "Asia/Tokyo": "Japan(Tokyo)",
    "Asia/Shanghai": "China(Beijing)",
    "Asia/Hong_Kong": "China(Beijing)",
    "Asia/Singapore": "Singapore(Singapore)",
    "Asia/Kolkata": "India(Calcutta)",
    "Asia/Jerusalem": "Israel(Tel Aviv)",
    "Pacific/Auckland": "New Zealand(Wellington,Auckland)",
    "UTC": "United Kingdom(London)",
}
# Fallback when the zone is not listed: a name with the same standard offset.
OFFSET_NAMES = {
    0: "United Kingdom(London)",
    3600: "Germany(Berlin)",
    7200: "Finland(Helsinki)",
    10800: "Russia(Moscow)",
    19800: "India(Calcutta)",
    28800: "China(Beijing)",
    32400: "Japan(Tokyo)",
    -18000: "United States-Eastern Time",
    -21600: "United States-Central Time",
    -25200: "United States-Mountain Time",
    -28800: "United States-Pacific Time",
}

_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_UA = re.compile(
    r"^\s*(?:Yealink\s+(?:SIP[-\s]+)?|(?=VP\d))(?P<model>[A-Z][A-Z0-9_-]*)\s+"
    r"(?P<fw>\d+(?:\.\d+){2,3})(?:\s+(?P<mac>[0-9A-F]{2}(?::[0-9A-F]{2}){5}|[0-9A-F]{12}))?(?:\s|$)",
    re.IGNORECASE,
)
_MODEL = re.compile(r"(?:VP-?)?(?:T|W|CP|VP|MP|AX)\d{2,3}[A-Z]{0,3}(?:_E2)?")
_MODEL_PREFIX = re.compile(r"^(?:YEALINK)?[\s_-]*(?:SIP(?:[\s_-]+|(?=[A-Z])))?")


def normalize_model(text: str) -> str | None:
    """``t46u``, ``SIP-T46U``, ``Yealink T46U`` -> ``T46U``."""
    candidate = _MODEL_PREFIX.sub("", text.strip().upper(), count=1).strip()
    return candidate if _MODEL.fullmatch(candidate) else None


def parse_user_agent(header: str) -> UserAgent | None:
    """``Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37`` (MAC optional)."""
    m = _UA.match(header)
    if not m:
        return None
    raw = m["model"]
    return UserAgent(
        vendor="yealink",
        model=normalize_model(raw) or raw.upper(),
        firmware=m["fw"],
        mac=try_parse_mac(m["mac"]) if m["mac"] else None,
    )


def _offset(seconds: int) -> str:
    """3600 -> "+1", -12600 -> "-3:30", 0 -> "0" (local_time.time_zone)."""
    if seconds == 0:
        return "0"
    sign = "+" if seconds > 0 else "-"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    return f"{sign}{hours}" + (f":{minutes:02d}" if minutes else "")


def extend_context(ctx: Mapping[str, Any]) -> dict[str, Any]:
    for key in ctx["overrides"]:
        if not _KEY.fullmatch(key):
            raise RenderError(f"yealink setting name {key!r} is not a valid key")
    tz = ctx["timezone"]
    name = ZONE_NAMES.get(tz.name) or OFFSET_NAMES.get(tz.std_offset)
    caps = ctx["caps"]
    family = caps.family if caps and caps.family else "0"
    url = urlsplit(ctx["provisioning_url"])
    return {
        # The server URL without user info; the provisioning user and password as their own keys.
        "prov_url": urlunsplit(url._replace(netloc=url.netloc.rpartition("@")[2])),
        "prov_user": unquote(url.username) if url.username else None,
        "prov_password": unquote(url.password) if url.password else None,
        "transport_codes": TRANSPORT_CODES,
        "time_zone": _offset(tz.std_offset),
        "time_zone_name": name or "%NULL%",
        # 2 = automatic DST from time_zone_name; 0 = none (no DST or no known rule)
        "summer_time": 2 if tz.has_dst and name else 0,
        "lang_gui": LANGUAGES.get(str(ctx["language"])[:2].lower(), "English"),
        "common_file": f"y{int(family):012d}.cfg",
        "tone_country": TONE_COUNTRIES.get(ctx["country"] or ""),
        "srtp_compulsory": SRTP_COMPULSORY,
        # (name, enable, priority) of every codec we know, once the customer orders them: the
        # listed ones in that order, the others off.
        "codec_settings": _codecs(ctx["codecs"]),
        "key_settings": _keys(ctx.get("function_keys") or []),
    }


def _codecs(order: list[str]) -> list[tuple[str, int, int]]:
    if not order:
        return []
    listed = [CODEC_NAMES[n] for n in order if n in CODEC_NAMES]
    return [(name, 1, listed.index(name) + 1) if name in listed else (name, 0, 0) for name in CODEC_NAMES.values()]


# linekey.N.type / expansion_module.M.key.K.type codes (VENDORS.md; wazo-provd-plugins wazo_yealink).
# DTMF and URL keys are left out: their codes are not confirmed in two sources.
KEY_TYPE_CODES = {"line": 15, "blf": 16, "speed-dial": 13, "park": 10, "none": 0}


def _keys(keys: list[dict[str, Any]]) -> list[tuple[str, int, int, str, str]]:
    """(prefix, type code, line, value, label) per key: ``linekey.N`` on the phone, ``expansion_module.M.key.K``."""
    found = []
    for key in keys:
        prefix = (
            f"linekey.{key['position']}"
            if key["module"] == 0
            else f"expansion_module.{key['module']}.key.{key['position']}"
        )
        found.append(
            (prefix, KEY_TYPE_CODES[key["type"]], key["line"], key["value"] or "%NULL%", key["label"] or "%NULL%")
        )
    return found


VENDOR = Vendor(
    name="yealink",
    ouis=(
        "001565",
        "805EC0",
        "805E0C",
        "249AD8",
        "44DBD2",
        "C4FC22",  # IEEE-registered
        "E434D7",
        "3497D7",
        "644F56",
        "B061A9",
        "EC1DA9",
        "F01653",
    ),  # seen in use
    files=FILES,
    models=MODELS,
    parse_user_agent=parse_user_agent,
    normalize_model=normalize_model,
    extend_context=extend_context,
    resync_event="check-sync;reboot=false",
    key_types=frozenset(KEY_TYPE_CODES),
)
