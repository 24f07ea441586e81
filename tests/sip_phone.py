"""A fake desk phone's SIP side: a real UDP socket on 127.0.0.1 (a free port) in a thread,
which records every datagram and answers NOTIFYs as told."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

from provisioner.sip import message as sip


@dataclass
class Received:
    at: float
    msg: sip.Message
    addr: tuple


class FakePhone:
    """``mode``: ``ok`` (200), ``silent`` (never answers), ``challenge`` (401 until the digest
    of ``username``/``password`` is right), ``busy`` (486), ``provisional`` (100 then 200)."""

    REALM = "phone"
    NONCE = "5d1f0a9e"

    def __init__(self, mode: str = "ok", *, username: str = "", password: str = ""):
        self.mode = mode
        self.username = username
        self.password = password
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.received: list[Received] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FakePhone:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()

    @property
    def notifies(self) -> list[sip.Message]:
        return [r.msg for r in self.received if r.msg.method == "NOTIFY"]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            msg = sip.parse(data)
            self.received.append(Received(time.monotonic(), msg, addr))
            answer = self.answer(msg)
            for reply in answer:
                self.sock.sendto(reply.encode(), addr)

    def answer(self, msg: sip.Message) -> list[sip.Message]:
        if self.mode == "silent" or msg.method != "NOTIFY":
            return []
        if self.mode == "busy":
            return [sip.response(msg, 486, "Busy Here", to_tag="ph")]
        if self.mode == "provisional":
            return [sip.response(msg, 100, "Trying"), sip.response(msg, 200, "OK", to_tag="ph")]
        if self.mode == "challenge":
            auth = msg.get("Authorization")
            if auth and sip.check_digest(
                auth,
                method="NOTIFY",
                username=self.username,
                password=self.password,
                realm=self.REALM,
                nonce=self.NONCE,
            ):
                return [sip.response(msg, 200, "OK", to_tag="ph")]
            return [
                sip.response(
                    msg,
                    401,
                    "Unauthorized",
                    to_tag="ph",
                    extra=[
                        (
                            "WWW-Authenticate",
                            f'Digest realm="{self.REALM}", nonce="{self.NONCE}", qop="auth", algorithm=MD5',
                        )
                    ],
                )
            ]
        return [sip.response(msg, 200, "OK", to_tag="ph")]
