"""A phone's file as HTTP bytes: a head made once, written with the body in one write (issue 19).

aiohttp builds every response field by field: a header dict, then Content-Length, Date, Server and
the connection header worked out in ``prepare()``, then the head serialized and joined to the body.
For a warm reply (the same file served again, :mod:`provisioner.warm_replies`) everything but the
Date is the same every time, so its head is made once (:func:`head`, kept on the
:class:`~provisioner.warm_replies.Warm`) and each request writes that head, the second's Date and
Server lines and the body in one write (:class:`Prebuilt`). A first fetch (resolved and rendered) is
written the same way, its head made for it. The bytes are the ones aiohttp sends for the same reply
(tests/test_wire.py compares them), in the same order.

Only for a GET over HTTP/1.1 that keeps its connection and asks no conditional question: anything
else (HEAD, HTTP/1.0, ``Connection: close``, ``If-None-Match``) is answered by aiohttp's own
response (:func:`provisioner.web._file_response`), which knows those cases.
"""

from __future__ import annotations

import time
from email.utils import formatdate
from types import MappingProxyType
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import SERVER_SOFTWARE
from multidict import CIMultiDict, CIMultiDictProxy

from .phone_reply import Reply

__all__ = ["Prebuilt", "date_lines", "head"]


def head(reply: Reply) -> bytes:
    """The status line and the fixed headers of a 200 carrying ``reply``, in aiohttp's order: the
    headers :func:`provisioner.web._file_response` gives, then Content-Length (the Date and Server
    lines follow, :func:`date_lines`)."""
    lines = ["HTTP/1.1 200 OK", "Cache-Control: no-store"]
    if reply.etag:
        lines.append(f"ETag: {reply.etag}")
    lines += [f"Content-Type: {reply.content_type}", f"Content-Length: {len(reply.body)}", ""]
    return "\r\n".join(lines).encode("utf-8")


_second = -1
_date_lines = b""


def date_lines() -> bytes:
    """The Date and Server lines and the head's end, made once a second (aiohttp's Date is the
    same second's, in the same format)."""
    global _second, _date_lines
    now = int(time.time())
    if now != _second:
        stamp = formatdate(now, usegmt=True)
        _date_lines = f"Date: {stamp}\r\nServer: {SERVER_SOFTWARE}\r\n\r\n".encode()
        _second = now
    return _date_lines


class Prebuilt(web.StreamResponse):
    """A 200 written as ``head``, :func:`date_lines` and ``body`` in one write. aiohttp's request
    handler calls :meth:`prepare` and :meth:`write_eof` as for any response; the connection is
    kept (the caller checked that the request keeps it).

    Its fields are fixed, so they are the class's (``StreamResponse.__init__`` makes a header dict
    and a state dict per response): the headers are in ``head``, and nothing may be stored on it."""

    _status = 200
    _reason = "OK"
    _keep_alive = True
    _headers = CIMultiDictProxy[str](CIMultiDict())  # type: ignore[assignment]
    _state = MappingProxyType[Any, Any]({})  # type: ignore[assignment]

    def __init__(self, request: web.BaseRequest, head: bytes, body: bytes | memoryview) -> None:
        # Not StreamResponse.__init__ (see the class's docstring).
        self._payload_writer = request.writer
        self._transport = request.transport
        self._head = head
        self._payload = body

    async def prepare(self, request: web.BaseRequest) -> AbstractStreamWriter | None:
        return None if self._eof_sent else self._payload_writer

    async def write_eof(self, data: bytes = b"") -> None:
        if self._eof_sent:
            return
        transport = self._transport
        if transport is None or transport.is_closing():  # as aiohttp's writer: the client is gone
            raise ConnectionResetError("Cannot write to closing transport")
        body = self._payload
        transport.write(b"".join((self._head, date_lines(), body)))
        self._eof_sent = True
        self._body_length = len(body)
        writer, self._payload_writer = self._payload_writer, None
        assert writer is not None
        # As aiohttp's write_eof: wait while the transport is over its high-water mark (a client
        # that does not read its replies), so a connection's backlog stays bounded.
        await writer.drain()
