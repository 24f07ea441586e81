"""Send one SIP NOTIFY over UDP and wait for the phone's final answer.

A non-INVITE client transaction (RFC 3261 17.1.2): the request is retransmitted
after T1, 2*T1, 4*T1 ... capped at T2 (timer E); a provisional 1xx answer stops
the doubling (retransmits at T2). Where the RFC waits 64*T1 (timer F, 32 s) we give
up after ``timeout`` seconds (4 by default): a phone on the LAN that has not
answered by then will not. A 401/407 challenge is answered once, with the
credentials given, in a new transaction (CSeq + 1).
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field

from .. import __version__
from . import message as sip

T1 = 0.5
T2 = 4.0
TIMEOUT = 4.0


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class Outcome:
    """What came of one NOTIFY. ``status`` is None when the phone never answered."""

    target: str  # host:port as sent to
    status: int | None
    reason: str
    transmissions: int  # datagrams sent, retransmissions and the authenticated retry included

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def describe(self) -> str:
        if self.status is None:
            return f"{self.target}: {self.reason}"
        return f"{self.target} answered {self.status} {self.reason}".rstrip()


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answers: asyncio.Queue[sip.Message | OSError] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple) -> None:  # type: ignore[type-arg]
        try:
            msg = sip.parse(data)
        except sip.SipParseError:
            return
        if not msg.is_request:
            self.answers.put_nowait(msg)

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, OSError):
            self.answers.put_nowait(exc)


def _host_for_uri(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


async def send_notify(
    host: str,
    port: int,
    *,
    event: str,
    user: str | None = None,
    credentials: Credentials | None = None,
    timeout: float = TIMEOUT,
    t1: float = T1,
    t2: float = T2,
) -> Outcome:
    """NOTIFY ``Event: event`` to ``host:port``; the phone's final answer, or why there was none."""
    target = f"{_host_for_uri(host)}:{port}"
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_DGRAM)
    except OSError:
        return Outcome(target, None, f"cannot resolve {host}", 0)
    family, _, _, _, address = infos[0]
    try:
        remote = (str(address[0]), int(address[1]))  # an IPv4/IPv6 (host, port, ...) address
        transport, endpoint = await loop.create_datagram_endpoint(_Endpoint, remote_addr=remote, family=family)
    except OSError as exc:
        return Outcome(target, None, f"cannot send: {exc.strerror or exc}", 0)
    try:
        local_host, local_port = transport.get_extra_info("sockname")[:2]
        local = f"{_host_for_uri(local_host)}:{local_port}"
        uri = f"sip:{user}@{target}" if user else f"sip:{target}"
        base = [
            ("Max-Forwards", "70"),
            ("From", f"<sip:provisioner@{local}>;tag={sip.new_tag()}"),
            ("To", f"<{uri}>"),
            ("Call-ID", sip.new_call_id(_host_for_uri(local_host))),
        ]
        extra = [
            ("Contact", f"<sip:provisioner@{local}>"),
            ("Event", event),
            ("Subscription-State", "terminated"),
            ("User-Agent", f"provisioner/{__version__}"),
        ]
        cseq, sent, auth = 1, 0, None
        while True:
            request = sip.Message(
                method="NOTIFY",
                uri=uri,
                headers=[
                    ("Via", f"SIP/2.0/UDP {local};branch={sip.new_branch()};rport"),
                    *base,
                    ("CSeq", f"{cseq} NOTIFY"),
                    *extra,
                    *([auth] if auth else []),
                ],
            )
            answer, count = await _transaction(transport, endpoint, request, timeout, t1, t2)
            sent += count
            if isinstance(answer, str):
                return Outcome(target, None, answer, sent)
            if answer.status in (401, 407) and credentials is not None and auth is None:
                header = "WWW-Authenticate" if answer.status == 401 else "Proxy-Authenticate"
                try:
                    challenge = sip.parse_challenge(answer.get(header) or "")
                    value = sip.digest_response(
                        challenge,
                        method="NOTIFY",
                        uri=uri,
                        username=credentials.username,
                        password=credentials.password,
                    )
                except sip.SipParseError as exc:
                    return Outcome(target, answer.status, f"{answer.reason} (cannot answer: {exc})", sent)
                auth = ("Authorization" if answer.status == 401 else "Proxy-Authorization", value)
                cseq += 1
                continue
            reason = answer.reason
            if answer.status in (401, 407):
                reason += " (wrong NOTIFY credentials)" if auth else " (no NOTIFY credentials to answer with)"
            return Outcome(target, answer.status, reason, sent)
    finally:
        transport.close()


async def _transaction(
    transport: asyncio.DatagramTransport,
    endpoint: _Endpoint,
    request: sip.Message,
    timeout: float,
    t1: float,
    t2: float,
) -> tuple[sip.Message | str, int]:
    """Run one client transaction: (final answer or why none, datagrams sent)."""
    loop = asyncio.get_running_loop()
    data = request.encode()
    branch, number = request.branch, request.cseq[0]
    deadline = loop.time() + timeout
    interval, sent = t1, 0
    next_send = loop.time()
    while True:
        now = loop.time()
        if now >= deadline:
            return f"no answer within {timeout:g} s", sent
        if now >= next_send:
            transport.sendto(data)
            sent += 1
            next_send = now + interval
            interval = min(interval * 2, t2)
        wait = min(next_send, deadline) - loop.time()
        try:
            answer = await asyncio.wait_for(endpoint.answers.get(), max(wait, 0))
        except TimeoutError:
            continue
        if isinstance(answer, OSError):
            return (
                "nothing listens there (port unreachable)"
                if isinstance(answer, ConnectionRefusedError)
                else f"network error: {answer.strerror or answer}"
            ), sent
        if answer.branch != branch or answer.cseq != (number, "NOTIFY"):
            continue  # a late answer to an earlier transaction
        if answer.status is not None and answer.status < 200:
            interval = t2  # proceeding: retransmit at T2 only
            next_send = loop.time() + t2
            continue
        return answer, sent
