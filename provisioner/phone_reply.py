"""What a phone asks (:class:`Request`) and what it is answered (:class:`Reply`), for every transport.

Both are NamedTuples: one of each is made per phone request, and a frozen dataclass's ``__init__``
(an ``object.__setattr__`` per field) cost more than a warm request's whole lookup (issue 19)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from .cache import Rendered


class Request(NamedTuple):
    path: str
    client_ip: str
    user_agent: str | None = None
    transport: str = "http"  # "http" | "tftp"
    method: str = "GET"  # GET | HEAD | PUT
    body: bytes | None = None
    authorization: str | None = None  # the Authorization header (HTTP)
    secure: bool = False  # over TLS: Basic credentials are accepted
    trusted: bool = False  # staff looking at a file (CLI): no checks, no counting
    # The client certificate the TLS handshake verified against --client-ca (getpeercert()'s dict).
    peer_cert: dict | None = None


class Reply(NamedTuple):
    status: int
    reason: str
    body: bytes | memoryview = b""
    content_type: str = "text/plain; charset=utf-8"
    etag: str | None = None
    mac: str | None = None
    challenge: str | None = None  # WWW-Authenticate of a 401
    detail: str | None = None  # what failed, for the operator (`device config`); never sent to a phone
    # A firmware image: HTTP sends this file (Range requests answered); ``body`` is its mapped bytes.
    file: Path | None = None

    @classmethod
    def of(cls, rendered: Rendered, mac: str | None) -> Reply:
        return cls(200, "served", rendered.body, rendered.content_type, rendered.etag, mac)
