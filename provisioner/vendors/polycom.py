"""Polycom / Poly VVX phones running UC Software (shared/VENDORS.md, "Polycom").

At boot a VVX reads a master file (``<mac>.cfg``, else ``000000000000.cfg``)
whose ``CONFIG_FILES`` names the settings files to fetch next; ours is
``<mac>-settings.cfg``. The phone uploads its own files (logs, ``-phone.cfg``,
``-web.cfg``, call lists) with PUT and reads them back at the next boot.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache, lru_cache
from typing import Any
from urllib.parse import urlsplit

from ..errors import RenderError
from .base import Caps, ConfigFile, FileKind, UserAgent, Vendor

XML = "application/xml"
TEXT = "text/plain; charset=utf-8"
SETTINGS_SUFFIX = "-settings.cfg"  # not -phone.cfg / -web.cfg: the phone writes those itself

_MAC = r"(?P<mac>(?!0{12})[0-9a-f]{12})"

# Registrations (SIP accounts) and line keys without expansion modules.
MODELS = {
    "VVX150": Caps(accounts=2, line_keys=2),
    "VVX250": Caps(accounts=4, line_keys=4),
    "VVX350": Caps(accounts=6, line_keys=6),
    "VVX411": Caps(accounts=12, line_keys=12),
    "VVX450": Caps(accounts=12, line_keys=12),
    "VVX500": Caps(accounts=12, line_keys=12),
    "VVX501": Caps(accounts=12, line_keys=12),
    "VVX600": Caps(accounts=16, line_keys=16),
    "VVX601": Caps(accounts=16, line_keys=16),
}

FILES = (
    ConfigFile(r"000000000000\.cfg", FileKind.COMMON, "master.cfg", XML),
    ConfigFile(_MAC + r"\.cfg", FileKind.DEVICE, "master.cfg", XML),
    ConfigFile(_MAC + re.escape(SETTINGS_SUFFIX), FileKind.DEVICE, "settings.cfg", XML),
    ConfigFile(_MAC + r"-(?:phone|web)\.cfg", FileKind.UPLOAD, content_type=XML),
    ConfigFile(_MAC + r"-calls\.xml", FileKind.UPLOAD, content_type=XML),
    # The customer's phonebook as the phone's local directory: served, no longer kept from the phone's
    # PUT (a contact added on the phone lasts until its next fetch; see README "Phonebook").
    ConfigFile(_MAC + r"-directory\.xml", FileKind.DEVICE, "directory.xml", XML),
    ConfigFile(_MAC + r"-(?:boot|app)\.log", FileKind.UPLOAD, content_type=TEXT),
    ConfigFile(r"(?:000000000000|[0-9a-f]{12})-license\.cfg", FileKind.ABSENT),
    ConfigFile(r"000000000000-directory\.xml", FileKind.ABSENT),
    ConfigFile(r"(?:[\w.\-]+\.)?sip\.ld", FileKind.ABSENT),  # firmware: we do not serve it
)

_UA = re.compile(r"FileTransport Polycom\w*-(?P<model>[A-Za-z]+_?\d+\w*)-UA/(?P<fw>[\d.]+)(?P<rest>.*)")
_MODEL = re.compile(
    r"(?:poly(?:com)?[\s_\-]*(?:vvx|soundpointip|soundstationip)?[\s_\-]*)?"
    r"(?P<family>vvx|spip|ssip|ccx)[\s_\-]*(?P<number>\d{3,4})",
    re.IGNORECASE,
)

TRANSPORTS = {"udp": "UDPOnly", "tcp": "TCPOnly", "tls": "TLS"}
LANGUAGES = {  # lcl.ml.lang
    "de": "German_Germany",
    "en": "English_United_States",
    "en_gb": "English_United_Kingdom",
    "es": "Spanish_Spain",
    "fr": "French_France",
    "it": "Italian_Italy",
    "nl": "Dutch_Netherlands",
    "pt": "Portuguese_Portugal",
}
# voice.codecPref.<name> (1 first, 0 off), by fields.CODECS name (opus left out: not confirmed).
CODEC_NAMES = {"g722": "G722", "pcma": "G711_A", "pcmu": "G711_Mu", "g729": "G729_AB"}
SERVER_TYPES = {"ftp": "FTP", "tftp": "TFTP", "http": "HTTP", "https": "HTTPS", "ftps": "FTPS"}
_PARAM = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z0-9_\-]+)*")
_POSIX_RULE = re.compile(r"M(\d{1,2})\.([1-5])\.([0-6])(?:/(\d{1,2}))?")
_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def normalize_model(text: str) -> str | None:
    """ "VVX_350", "VVX 350", "vvx350", "PolycomVVX-VVX_350" -> "VVX350"."""
    m = _MODEL.fullmatch(text.strip())
    return f"{m['family'].upper()}{m['number']}" if m else None


def parse_user_agent(header: str) -> UserAgent | None:
    m = _UA.match(header.strip())
    if not m:
        return None
    raw = m["model"]
    model = normalize_model(raw) or raw.replace("_", "").upper()
    # The updater (boot-time) reports its own version, not the application's.
    firmware = None if "Type/Updater" in m["rest"] else m["fw"]
    # No MAC in a Polycom User-Agent: the resolver takes it from the path.
    return UserAgent(vendor="polycom", model=model, firmware=firmware)


def _dst(posix: str) -> dict[str, dict[str, int]] | None:
    """Start and stop of daylight saving time from a POSIX TZ rule, Polycom style."""
    rules = _POSIX_RULE.findall(posix)
    if len(rules) != 2:
        return None
    out = {}
    for name, (month, week, weekday, hour) in zip(("start", "stop"), rules, strict=True):
        out[name] = {
            "month": int(month),
            "dayOfWeek": int(weekday) + 1,  # Polycom: 1 = Sunday
            "lastInMonth": int(week == "5"),
            "date": (int(week) - 1) * 7 + 1,  # first day the weekday may fall on
            "time": int(hour or 2),
        }
    return out


def _language(code: str) -> str | None:
    key = code.strip().lower().replace("-", "_")
    return LANGUAGES.get(key) or LANGUAGES.get(key.split("_")[0])


def _overrides(settings: Mapping[str, Any], accounts: list[Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in settings.items():
        if not _PARAM.fullmatch(key):
            raise RenderError(f"polycom setting name {key!r} is not a configuration parameter")
        out[key] = "" if value is None else str(value)
        if key.startswith("device.") and not key.endswith(".set"):
            out["device.set"] = "1"  # device.* applies only with both switches on
            out[f"{key}.set"] = "1"
    # One search over all the texts: the newline that joins them is not in _XML_INVALID.
    texts = [v for a in accounts for v in a.texts()]
    if _XML_INVALID.search("\n".join(texts + list(out.values()))):
        raise RenderError("a value holds a control character XML cannot carry")
    return out


# Attributes of account slot n, in the order settings.cfg writes them.
REG_FIELDS = (
    "displayName",
    "label",
    "address",
    "auth.userId",
    "auth.password",
    "server.1.address",
    "server.1.port",
    "server.1.transport",
    "server.1.register",
)
_SNTP = "tcpIpApp.sntp."


@cache
def _reg_keys(n: int) -> tuple[str, ...]:
    return tuple(f"reg.{n}.{field}" for field in REG_FIELDS)


@cache
def _unused_reg(n: int) -> tuple[tuple[str, str], ...]:
    """A slot with no account: cleared and not registering."""
    name, label, address, user, password, server, _, _, register = _reg_keys(n)
    return ((name, ""), (label, ""), (address, ""), (user, ""), (password, ""), (server, ""), (register, "0"))


@lru_cache(maxsize=256)
def _dst_params(posix: str) -> tuple[tuple[str, str], ...]:
    """tcpIpApp.sntp.daylightSavings.* for a POSIX TZ rule ("": no daylight saving time)."""
    dst = _dst(posix) or {}
    out = [(_SNTP + "daylightSavings.enable", "1" if dst else "0")]
    if dst:
        out.append((_SNTP + "daylightSavings.fixedDayEnable", "0"))
        for edge in ("start", "stop"):
            rule, at = dst[edge], f"{_SNTP}daylightSavings.{edge}."
            out += [
                (at + "month", str(rule["month"])),
                (at + "date", str(rule["date"])),
                (at + "dayOfWeek", str(rule["dayOfWeek"])),
                (at + "dayOfWeek.lastInMonth", str(rule["lastInMonth"])),
                (at + "time", str(rule["time"])),
            ]
    return tuple(out)


def _params(ctx: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """The (key, value) pairs of each element of settings.cfg, without the overridden keys.

    ``extra`` is what :func:`extend_context` adds. Values are text, not escaped
    here: the template does it.
    """
    overrides = extra["overrides"]

    def keep(pairs: Sequence[tuple[str, Any]]) -> Sequence[tuple[str, Any]]:
        return [pair for pair in pairs if pair[0] not in overrides] if overrides else pairs

    device = [
        ("device.set", "1"),
        ("device.prov.serverType.set", "1"),
        ("device.prov.serverType", extra["prov_server_type"]),
        ("device.prov.serverName.set", "1"),
        ("device.prov.serverName", extra["prov_server_name"]),
    ]
    if extra["prov_user"]:
        device += [
            ("device.prov.user.set", "1"),
            ("device.prov.user", extra["prov_user"]),
            ("device.prov.password.set", "1"),
            ("device.prov.password", extra["prov_password"] or ""),
        ]
    if ctx.get("admin_password"):  # the phone's web UI and menu (factory 456)
        device += [
            ("device.auth.localAdminPassword.set", "1"),
            ("device.auth.localAdminPassword", ctx["admin_password"]),
        ]
    regs = []
    for n, acc in extra["slots"]:
        if not acc:
            regs.append(keep(_unused_reg(n)))
            continue
        transport = TRANSPORTS.get(acc.transport)
        if transport is None:
            raise RenderError(f"polycom: unknown SIP transport {acc.transport!r}")
        name, label, address, user, password, server, port, transport_key, register = _reg_keys(n)
        regs.append(
            keep(
                [
                    (name, acc.display_name),
                    (label, acc.label),
                    (address, acc.sip_username),
                    (user, acc.auth_id),
                    (password, acc.password),
                    (server, acc.server),
                    (port, str(acc.port)),
                    (transport_key, transport),
                    (register, "1"),
                ]
            )
        )
    tz = ctx["timezone"]
    sntp = [
        (_SNTP + "address", ctx["ntp_server"]),
        (_SNTP + "address.overrideDHCP", "1"),
        (_SNTP + "gmtOffset", str(extra["gmt_offset"])),
        (_SNTP + "gmtOffset.overrideDHCP", "1"),
        *_dst_params(tz.posix if tz.has_dst else ""),
    ]
    language = extra["polycom_language"]
    check = ctx.get("check")  # None in common files
    prov = (
        []
        if check is None
        else [
            ("prov.polling.enabled", "1"),
            # random: at a moment between time and timeRandomEnd, every period seconds
            ("prov.polling.mode", "random" if check.daily else "rel"),
            ("prov.polling.period", str(check.interval_seconds)),
            ("prov.polling.time", check.begin),
            ("prov.polling.timeRandomEnd", check.end),
        ]
    )
    notify = [("voIpProt.SIP.specialEvent.checkSync.alwaysReboot", "0")]  # reboot only if a change needs it
    # The baseline: MWI and the message key per registration, SRTP offered when a line uses TLS,
    # the customer's codec order. (element, its (key, value) pairs)
    mwi = []
    for n, acc in extra["slots"]:
        if acc and acc.voicemail:
            mwi += [
                (f"msg.mwi.{n}.subscribe", acc.sip_username),
                (f"msg.mwi.{n}.callBackMode", "contact"),
                (f"msg.mwi.{n}.callBack", acc.voicemail),
            ]
        else:
            mwi += [(f"msg.mwi.{n}.subscribe", ""), (f"msg.mwi.{n}.callBackMode", "disabled")]
    srtp = any(acc.srtp for _, acc in extra["slots"] if acc)
    baseline = [
        ("msg", keep(mwi)),
        ("sec", keep([("sec.srtp.enable", "1" if srtp else "0"), ("sec.srtp.offer", "1" if srtp else "0")])),
    ]
    order = [CODEC_NAMES[c] for c in ctx.get("codecs") or () if c in CODEC_NAMES]
    if order:
        baseline.append(
            (
                "voice",
                keep(
                    [
                        (f"voice.codecPref.{name}", str(order.index(name) + 1) if name in order else "0")
                        for name in CODEC_NAMES.values()
                    ]
                ),
            )
        )
    return {
        "prov_params": keep(prov),
        "voip_params": keep(notify),
        "baseline_params": [(element, pairs) for element, pairs in baseline if pairs],
        "device_params": keep(device),
        "reg_params": regs,
        "sntp_params": keep(sntp),
        # None: no <lcl> element at all (the phone keeps its own language).
        "lcl_params": keep([("lcl.ml.lang", language)]) if language else None,
    }


def extend_context(ctx: Mapping[str, Any]) -> dict[str, Any]:
    url = urlsplit(ctx["provisioning_url"])
    tz = ctx["timezone"]
    mac = ctx["mac_lower"]
    by_slot = {account.index: account for account in ctx["accounts"]}
    out = {
        "slots": [(n, by_slot.get(n)) for n in ctx["account_slots"]],
        "config_files": (mac or "[PHONE_MAC_ADDRESS]") + SETTINGS_SUFFIX,
        "transports": TRANSPORTS,
        "gmt_offset": tz.std_offset,
        "dst": _dst(tz.posix) if tz.has_dst else None,
        "polycom_language": _language(ctx["language"]),
        "prov_server_type": SERVER_TYPES.get(url.scheme.lower(), "HTTP"),
        "prov_server_name": url._replace(netloc=url.netloc.rpartition("@")[2]).geturl(),
        "prov_user": url.username,
        "prov_password": url.password,
        "overrides": _overrides(ctx["overrides"], ctx["accounts"]),
    }
    # All of the above as the attribute lists settings.cfg writes: no per-value work in Jinja.
    out.update(_params(ctx, out))
    out["attendant_params"] = _attendant(ctx.get("function_keys") or [])
    return out


def _attendant(keys: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """BLF and park keys as the attendant's resource list (VENDORS.md; wazo-provd-plugins wazo_polycom):
    ``attendant.resourceList.N.address`` / ``.label``, N the key's place in the list. The phone puts
    them on the line keys its registrations leave free, in that order."""
    params = []
    for key in keys:
        if key["module"] == 0 and key["type"] in ("blf", "park"):
            n = key["position"]
            params += [
                (f"attendant.resourceList.{n}.address", key["value"]),
                (f"attendant.resourceList.{n}.label", key["label"] or ""),
            ]
    return params


VENDOR = Vendor(
    name="polycom",
    ouis=("0004F2", "64167F", "482567"),
    files=FILES,
    models=MODELS,
    parse_user_agent=parse_user_agent,
    normalize_model=normalize_model,
    extend_context=extend_context,
    resync_event="check-sync",
    key_types=frozenset({"blf", "park"}),
)
