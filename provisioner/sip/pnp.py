"""SIP plug-and-play: tell a phone fresh out of the box where to fetch its files.

At boot a Yealink, Snom or Grandstream phone (and a Polycom where enabled) sends to
``224.0.1.75:5060``::

    SUBSCRIBE sip:MAC%3A001565ABCDEF@224.0.1.75 SIP/2.0
    Event: ua-profile;profile-type="device";vendor="Yealink";model="T46U";version="..."
    Accept: application/url
    Contact: <sip:192.168.1.2:5060>

The responder answers ``200 OK`` and then sends, by unicast, a NOTIFY whose body is
the provisioning URL (``Content-Type: application/url``). It answers unicast
SUBSCRIBEs the same way.

The URL is always the plain base (``--public-url``), never a customer's path key or a
device token: anyone on the LAN can send a SUBSCRIBE with any MAC, so whatever it
answers is public. The customer's first-contact rules then decide what the phone gets.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote

import structlog

from .. import __version__, macs, vendors
from . import message as sip
from .notify import T1, T2, _Endpoint, _host_for_uri, _transaction

log = structlog.get_logger("provisioner.pnp")

GROUP = "224.0.1.75"  # sip.mcast.net (RFC 3261 10.2.6, the vendors' PnP group)
PORT = 5060
_MAX_PENDING = 256  # NOTIFYs in flight at once: a flood of SUBSCRIBEs cannot grow without end
_RECENT = 1024  # SUBSCRIBE transactions remembered, so a retransmission gets the 200 again, no second NOTIFY
# What phones call their vendor in a PnP SUBSCRIBE, where it is not the vendor module's name.
_VENDOR_ALIASES = {"poly": "polycom"}
_PARAM = re.compile(r';\s*([A-Za-z0-9_-]+)\s*=\s*(?:"([^"]*)"|([^;\s]*))')


@dataclass(frozen=True)
class Subscription:
    """What a phone's ``ua-profile`` SUBSCRIBE says about itself."""

    mac: str
    vendor: str  # one of ours: yealink, snom, polycom, grandstream
    model: str | None
    version: str | None
    user_agent: str | None


def event_params(value: str) -> tuple[str, dict[str, str]]:
    """``ua-profile;vendor="Yealink";model=T46U`` -> ("ua-profile", {"vendor": "Yealink", ...})."""
    name = value.split(";", 1)[0].strip().lower()
    params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3) for m in _PARAM.finditer(value)}
    return name, params


def _uri_user(value: str | None) -> str | None:
    """The user part of the first SIP URI in ``value`` (a Request-URI, a From header)."""
    if not value:
        return None
    m = re.search(r"sips?:([^@;>\s]+)@", value, re.IGNORECASE)
    return unquote(m.group(1)) if m else None


def mac_of(msg: sip.Message, params: dict[str, str]) -> str | None:
    """The MAC: in the Request-URI (``MAC%3A<mac>``, ``MAC:<mac>``, ``MAC<mac>``) on every vendor
    seen, else the From user, else a ``mac`` parameter of the event."""
    for user in (_uri_user(msg.uri), _uri_user(msg.get("From"))):
        if user:
            m = re.fullmatch(
                r"(?:MAC:?)?([0-9A-Fa-f]{12}|(?:[0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2})", user.strip(), re.IGNORECASE
            )
            if m:
                return macs.try_parse_mac(m.group(1))
    return macs.try_parse_mac(params.get("mac", ""))


def read_subscription(msg: sip.Message) -> Subscription | None:
    """A plug-and-play SUBSCRIBE from one of our four vendors, or None (anything else)."""
    if msg.method != "SUBSCRIBE":
        return None
    name, params = event_params(msg.get("Event") or "")
    if name != "ua-profile":
        return None
    mac = mac_of(msg, params)
    if mac is None:
        return None
    said = (params.get("vendor") or "").strip().lower()
    said = _VENDOR_ALIASES.get(said, said)
    vendor = said if said in {v.name for v in vendors.all_vendors()} else None
    if vendor is None and not params.get("vendor"):
        hinted = vendors.vendor_for_mac(mac)
        vendor = hinted.name if hinted else None
    if vendor is None:
        return None  # another maker's phone: leave it to its own server
    return Subscription(mac, vendor, params.get("model") or None, params.get("version") or None, msg.get("User-Agent"))


def _contact_address(msg: sip.Message, source: tuple[str, int]) -> tuple[str, int]:
    """Where the NOTIFY goes: the Contact's port on the address the SUBSCRIBE came from.

    The Contact's host is used only when it is the source address: a forged Contact must
    not turn this server into a reflector aimed at a third party."""
    contact = msg.get("Contact") or ""
    m = re.search(r"sips?:(?:[^@>;\s]+@)?(\[[^\]]+\]|[^:;>\s]+)(?::(\d+))?", contact, re.IGNORECASE)
    if not m:
        return source
    host, port = m.group(1).strip("[]"), int(m.group(2) or PORT)
    if host != source[0] or not 0 < port < 65536:
        return source
    return host, port


class PnpResponder(asyncio.DatagramProtocol):
    """The plug-and-play UDP endpoint. ``known(mac)`` says whether the store has the device;
    ``unknown(subscription, ip)`` records one it has not (as an HTTP fetch of an unknown MAC is)."""

    def __init__(
        self,
        url: str,
        *,
        known: Callable[[str], Awaitable[bool]],
        unknown: Callable[[Subscription, str], None],
        t1: float = T1,
        t2: float = T2,
        timeout: float = 4.0,
    ):
        self.url = url
        self.known = known
        self.unknown = unknown
        self.t1, self.t2, self.timeout = t1, t2, timeout
        self.transport: asyncio.DatagramTransport | None = None
        self.port: int | None = None
        self.multicast = False
        self.answered = 0  # SUBSCRIBEs answered 200
        self.notified = 0  # NOTIFYs the phone answered 2xx
        self.ignored = 0  # datagrams that were not a PnP SUBSCRIBE of ours
        self._tasks: set[asyncio.Task[None]] = set()
        self._recent: OrderedDict[tuple[str, str], str] = OrderedDict()

    # --- lifecycle -------------------------------------------------------------------

    async def start(self, host: str, port: int, *, multicast: bool | None = None) -> int:
        """Listen on ``host:port``; join the PnP group when bound to every address (or asked to)."""
        loop = asyncio.get_running_loop()
        bind = host or "0.0.0.0"
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((bind, port))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        if multicast if multicast is not None else bind == "0.0.0.0":
            try:
                join_group(sock)
                self.multicast = True
            except OSError as exc:
                log.warning(
                    "pnp_multicast_join_failed",
                    group=GROUP,
                    error=exc.strerror or str(exc),
                    effect="plug-and-play answers unicast SUBSCRIBEs only",
                )
        await loop.create_datagram_endpoint(lambda: self, sock=sock)
        assert self.transport is not None
        self.port = self.transport.get_extra_info("sockname")[1]
        return self.port

    async def stop(self) -> None:
        if self.transport is not None:
            self.transport.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):  # cancelled or failed: stopping anyway
                await task

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    # --- datagrams -------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple) -> None:  # type: ignore[type-arg]
        try:
            msg = sip.parse(data)
            subscription = read_subscription(msg)
            if subscription is not None:
                msg.cseq  # noqa: B018 - a bad CSeq is a bad request: raises SipParseError
        except sip.SipParseError:
            self.ignored += 1
            return
        if subscription is None:
            self.ignored += 1
            return
        key = (msg.get("Call-ID") or "", msg.get("CSeq") or "")
        retransmission = key in self._recent
        tag = self._recent.get(key) or sip.new_tag()
        self._recent[key] = tag
        if len(self._recent) > _RECENT:
            self._recent.popitem(last=False)
        ok = sip.response(
            msg, 200, "OK", to_tag=tag, extra=[("Expires", "0"), ("User-Agent", f"provisioner/{__version__}")]
        )
        assert self.transport is not None
        self.transport.sendto(ok.encode(), addr)
        self.answered += 1
        if retransmission:
            return
        if len(self._tasks) >= _MAX_PENDING:
            log.warning("pnp_busy", mac=subscription.mac, ip=addr[0])
            return
        task = asyncio.get_running_loop().create_task(self._follow_up(msg, subscription, tag, addr[:2]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _follow_up(self, msg: sip.Message, sub: Subscription, tag: str, source: tuple[str, int]) -> None:
        try:
            if not await self.known(sub.mac):
                self.unknown(sub, source[0])
            host, port = _contact_address(msg, source)
            status = await self._notify(msg, tag, host, port)
        except Exception:
            log.exception("pnp_failed", mac=sub.mac, ip=source[0])
            return
        if status is not None and 200 <= status < 300:
            self.notified += 1
        log.info(
            "pnp_answered",
            mac=sub.mac,
            vendor=sub.vendor,
            model=sub.model,
            ip=source[0],
            notify_to=f"{_host_for_uri(host)}:{port}",
            phone_answered=status,
            url=self.url,
        )

    async def _notify(self, subscribe: sip.Message, tag: str, host: str, port: int) -> int | None:
        """The NOTIFY with the URL, in the SUBSCRIBE's dialog, from a socket of its own."""
        loop = asyncio.get_running_loop()
        transport, endpoint = await loop.create_datagram_endpoint(_Endpoint, remote_addr=(host, port))
        try:
            local_host, local_port = transport.get_extra_info("sockname")[:2]
            local = f"{_host_for_uri(local_host)}:{local_port}"
            contact = re.search(r"<([^>]+)>", subscribe.get("Contact") or "")
            uri = contact.group(1) if contact else f"sip:{_host_for_uri(host)}:{port}"
            to = subscribe.get("To") or ""
            request = sip.Message(
                method="NOTIFY",
                uri=uri,
                headers=[
                    ("Via", f"SIP/2.0/UDP {local};branch={sip.new_branch()};rport"),
                    ("Max-Forwards", "70"),
                    ("From", to if ";tag=" in to.lower() else f"{to};tag={tag}"),
                    ("To", subscribe.get("From") or ""),
                    ("Call-ID", subscribe.get("Call-ID") or ""),
                    ("CSeq", f"{subscribe.cseq[0] + 1} NOTIFY"),
                    ("Contact", f"<sip:provisioner@{local}>"),
                    ("Event", subscribe.get("Event") or "ua-profile"),
                    ("Subscription-State", "terminated;reason=timeout"),
                    ("Content-Type", "application/url"),
                    ("User-Agent", f"provisioner/{__version__}"),
                ],
                body=self.url.encode("utf-8"),
            )
            answer, _ = await _transaction(transport, endpoint, request, self.timeout, self.t1, self.t2)
            return None if isinstance(answer, str) else answer.status
        finally:
            transport.close()


def join_group(sock: socket.socket) -> None:
    """Join 224.0.1.75 on the default interface (raises OSError without a multicast route)."""
    mreq = struct.pack("4s4s", socket.inet_aton(GROUP), socket.inet_aton("0.0.0.0"))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
