"""Snom D3xx / D7xx / D8xx desk phones (firmware 8.7 and later, XML settings).

With a setting-server URL that has no file name the phone fetches
``snom<model>.htm`` then ``snom<model>-<MAC>.htm``. The per-phone ``.htm`` is a
``<setting-files>`` container pointing at ``<MAC>.xml``: that is the layout
Snom documents for mass deployment (one "specific setting file container" per
MAC) and the one wazo-provd ships, and it keeps the credentials in a single
file the phone can also be pointed at directly (``setting_server`` =
``.../{mac}.xml``). ``<MAC>.xml`` holds ``<settings><phone-settings e="2">``
(``e="2"``: character references above 255 allowed) and ``<functionKeys>``.

Sources: service.snom.com wiki ("Desk Phone Configuration Files",
"<phone-settings> tag", "<functionKeys> tag": fkey idx counts from 0),
wazo-provd-plugins ``wazo_snom`` (capabilities, UA samples),
nethesis/tancredi ``snom.macros`` (language and time-zone spellings).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import RenderError
from ..macs import try_parse_mac
from .base import Caps, ConfigFile, FileKind, UserAgent, Vendor

XML = "application/xml; charset=utf-8"
_MODEL_RE = r"(?P<model>[A-Z]?\d{3})"
_MAC = r"(?P<mac>[0-9A-F]{12})"

# accounts = SIP identities; line_keys = programmable function keys on the phone itself.
MODELS: dict[str, Caps] = {
    "D315": Caps(accounts=4, line_keys=5),
    "D345": Caps(accounts=12, line_keys=48),
    "D385": Caps(accounts=12, line_keys=48),
    "D713": Caps(accounts=6, line_keys=4),
    "D717": Caps(accounts=6, line_keys=3),
    "D735": Caps(accounts=12, line_keys=32),
    "D785": Caps(accounts=12, line_keys=24),
    "D865": Caps(accounts=12, line_keys=40),
}

FILES = (
    ConfigFile(rf"snom{_MODEL_RE}\.htm", FileKind.COMMON, "snom-model.htm", XML),
    ConfigFile(rf"snom{_MODEL_RE}-{_MAC}\.htm", FileKind.DEVICE, "snom-model-mac.htm", XML),
    ConfigFile(rf"snom{_MODEL_RE}-firmware\.xml", FileKind.ABSENT, content_type=XML),
    ConfigFile(rf"{_MAC}\.xml", FileKind.DEVICE, "mac.xml", XML),
    # The customer's phonebook (a tbook settings file), listed in snom<model>-<MAC>.htm.
    ConfigFile(rf"{_MAC}-phonebook\.xml", FileKind.DEVICE, "phonebook.xml", XML),
)

# <language> / <web_language> spellings.
LANGUAGES = {
    "en": "English",
    "it": "Italiano",
    "de": "Deutsch",
    "fr": "Français",
    "es": "Español",
    "nl": "Nederlands",
    "pt": "Português",
    "da": "Dansk",
    "sv": "Svenska",
    "no": "Norsk",
    "fi": "Suomi",
    "cs": "Čeština",
    "hu": "Magyar",
    "tr": "Türkçe",
    "ru": "Русский",
}

# IANA zone -> <timezone> code (country + standard offset; the code carries the DST rule).
ZONES = {
    "Europe/Rome": "ITA+1",
    "Europe/Vatican": "ITA+1",
    "Europe/San_Marino": "ITA+1",
    "Europe/Berlin": "GER+1",
    "Europe/Paris": "FRA+1",
    "Europe/Monaco": "FRA+1",
    "Europe/Madrid": "ESP+1",
    "Europe/London": "GBR-0",
    "Europe/Dublin": "IRL-0",
    "Europe/Lisbon": "PRT-0",
    "Europe/Amsterdam": "NLD+1",
    "Europe/Brussels": "BEL+1",
    "Europe/Luxembourg": "LUX+1",
    "Europe/Vienna": "AUT+1",
    "Europe/Zurich": "CHE+1",
    "Europe/Prague": "CZE+1",
    "Europe/Bratislava": "SVK+1",
    "Europe/Budapest": "HUN+1",
    "Europe/Warsaw": "POL+1",
    "Europe/Copenhagen": "DNK+1",
    "Europe/Stockholm": "SWE+1",
    "Europe/Oslo": "NOR+1",
    "Europe/Zagreb": "HRV+1",
    "Europe/Tirane": "ALB+1",
    "Europe/Gibraltar": "GIB+1",
    "Europe/Athens": "GRC+2",
    "Europe/Helsinki": "FIN+2",
    "Europe/Bucharest": "ROU+2",
    "Europe/Sofia": "BGR+2",
    "Europe/Tallinn": "EST+2",
    "Europe/Riga": "LVA+2",
    "Europe/Kiev": "UKR+2",
    "Europe/Kyiv": "UKR+2",
    "Europe/Moscow": "RUS+3",
    "America/New_York": "USA-5",
    "America/Chicago": "USA-6",
    "America/Denver": "USA-7",
    "America/Los_Angeles": "USA-8",
    "America/Anchorage": "USA-9",
    "Pacific/Honolulu": "USA-10",
    "America/Toronto": "CAN-5",
    "America/Vancouver": "CAN-8",
    "America/Halifax": "CAN-4",
    "America/Mexico_City": "MEX-6",
    "Asia/Tokyo": "JPN+9",
    "Asia/Singapore": "SGP+8",
    "Asia/Kolkata": "IND+5.5",
    "Asia/Jerusalem": "ISR+2",
    "Australia/Sydney": "AUS+10",
    "Australia/Perth": "AUS+8",
    "Pacific/Auckland": "NZL+12",
    "UTC": "GBR-0",
}
# Fallback when the zone is not listed: a code with the same standard offset.
OFFSET_ZONES = {
    -36000: "USA-10",
    -32400: "USA-9",
    -28800: "USA-8",
    -25200: "USA-7",
    -21600: "USA-6",
    -18000: "USA-5",
    -14400: "CAN-4",
    -12600: "CAN-3.5",
    -10800: "ARG-3",
    -7200: "BRA-2",
    -3600: "PRT-1",
    0: "GBR-0",
    3600: "GER+1",
    7200: "FIN+2",
    10800: "RUS+3",
    12600: "IRN+3.5",
    14400: "RUS+4",
    18000: "RUS+5",
    19800: "IND+5.5",
    21600: "RUS+6",
    25200: "THA+7",
    28800: "SGP+8",
    32400: "JPN+9",
    34200: "AUS+9.5",
    36000: "AUS+10",
    39600: "NCL+11",
    43200: "NZL+12",
    46800: "TON+13",
}

# <tone_scheme> (call-progress tones), by ISO country (fields.COUNTRIES).
TONE_SCHEMES = {"IT": "ITA", "DE": "GER", "FR": "FRA", "GB": "GBR", "NL": "NLD", "US": "USA"}
# <codec_priority_list> names, by fields.CODECS name (opus left out: not confirmed for every model).
CODEC_NAMES = {"g722": "g722", "pcma": "pcma", "pcmu": "pcmu", "g729": "g729"}

_UA = re.compile(
    r"\bsnom\s?(?P<model>[A-Z]*\d+[A-Z]*)-SIP\s+(?P<fw>\d+(?:\.\d+)+)(?P<rest>.*)", re.IGNORECASE | re.DOTALL
)
_UA_MAC = re.compile(r"(?:^|\s)([0-9A-F]{12})(?=\s|\)|$)", re.IGNORECASE)
_MODEL = re.compile(r"(?:SNOM[\s_-]*)?(?P<model>D?\d{3})")
_SETTING = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)(?:\[(?P<idx>\d+)\])?")
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def normalize_model(text: str) -> str | None:
    """``D785``, ``snomD785``, ``snom D785`` -> ``D785``."""
    m = _MODEL.fullmatch(text.strip().upper())
    return m["model"] if m else None


def parse_user_agent(header: str) -> UserAgent | None:
    """``Mozilla/4.0 (compatible; snomD785-SIP 10.1.169.16 ... 00041396D9B4 ...)``."""
    m = _UA.search(header)
    if not m:
        return None
    raw = m["model"].upper()
    mac = _UA_MAC.search(m["rest"])
    return UserAgent(
        vendor="snom",
        model=normalize_model(raw) or raw,
        firmware=m["fw"],
        mac=try_parse_mac(mac.group(1)) if mac else None,
    )


def extend_context(ctx: Mapping[str, Any]) -> dict[str, Any]:
    settings = []
    for key, value in ctx["overrides"].items():
        m = _SETTING.fullmatch(key)
        if not m:
            raise RenderError(f"snom setting name {key!r} is not a valid XML element name")
        settings.append((m["name"], m["idx"], value))
    # One search over all the texts: the newline that joins them is not in _XML_INVALID.
    texts = [v for a in ctx["accounts"] for v in a.texts()]
    if _XML_INVALID.search("\n".join(texts + [str(v) for _, _, v in settings])):
        raise RenderError("a value holds a control character XML cannot carry")
    tz = ctx["timezone"]
    return {
        "timezone_code": ZONES.get(tz.name) or OFFSET_ZONES.get(tz.std_offset, "GBR-0"),
        "language_name": LANGUAGES.get(str(ctx["language"])[:2].lower(), "English"),
        "settings_overrides": settings,  # (element, idx or None, value), in order
        "fkeys": _fkeys(ctx.get("function_keys") or []),
        "tone_scheme": TONE_SCHEMES.get(ctx["country"] or ""),
        "codec_list": ",".join(CODEC_NAMES[n] for n in ctx["codecs"] if n in CODEC_NAMES),
    }


# <fkey> text by key type (VENDORS.md; wazo-provd-plugins wazo_snom): "blf 202", "speed 0612345678".
# Park, DTMF, URL and none are left out: their fkey spellings are not confirmed in two sources.
FKEY_ACTIONS = {"line": "line", "blf": "blf", "speed-dial": "speed"}


def _fkeys(keys: list[dict[str, Any]]) -> list[tuple[int, int, str, str]]:
    """(idx from 0, context = account, label, text) per key on the phone (Snom counts keys from 0)."""
    return [
        (
            key["position"] - 1,
            key["line"],
            key["label"] or "",
            FKEY_ACTIONS[key["type"]] + (f" {key['value']}" if key["value"] else ""),
        )
        for key in keys
        if key["module"] == 0
    ]


VENDOR = Vendor(
    name="snom",
    ouis=("000413",),
    files=FILES,
    models=MODELS,
    parse_user_agent=parse_user_agent,
    normalize_model=normalize_model,
    extend_context=extend_context,
    resync_event="check-sync;reboot=false",
    key_types=frozenset(FKEY_ACTIONS),
)
