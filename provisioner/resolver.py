"""One function behind every transport: which file is this, for which phone?

HTTP and TFTP are thin adapters over :meth:`Resolver.resolve`; a file served
over one is byte-identical over the other. The phone is identified by the MAC
in the file name and by its User-Agent; where both carry a MAC they must agree.

Outcomes (``Reply.reason`` is the short key that logs and metrics use):

==========  ================  =====================================================
status      reason            when
==========  ================  =====================================================
200         served            a device's file or a common file
404         bad-name          traversal, absolute path, odd characters, overlong
404         no-such-file      no vendor asks for a file of that name
404         unknown-device    MAC not in the store (recorded as an unknown device)
404         absent            a file the phone may ask for and we do not keep
403         ua-mismatch       the User-Agent names another MAC than the path
405         method            a write to a file that is not an upload
413         too-large         an upload over the size bound
500         render-error      a template failed for this device (logged with MAC)
==========  ================  =====================================================
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import structlog

from . import vendors
from .activity import Activity, Fetch
from .cache import ConfigCache, Rendered
from .rendering import RenderError
from .store import Store
from .vendors import ConfigFile, FileKind, UserAgent, Vendor

log = structlog.get_logger("provisioner.resolver")

MAX_NAME = 128
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class Request:
    path: str
    client_ip: str
    user_agent: str | None = None
    transport: str = "http"  # "http" | "tftp"
    method: str = "GET"  # GET | HEAD | PUT
    body: bytes | None = None


@dataclass(frozen=True)
class Reply:
    status: int
    reason: str
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    etag: str | None = None
    mac: str | None = None

    @classmethod
    def of(cls, rendered: Rendered, mac: str | None) -> Reply:
        return cls(200, "served", rendered.body, rendered.content_type, rendered.etag, mac)


def file_name(path: str) -> str | None:
    """The requested file name, or None when the path is not one we could serve."""
    name = path[1:] if path.startswith("/") else path
    if not name or len(name) > MAX_NAME or not _NAME.fullmatch(name) or ".." in name:
        return None
    return name


def _candidates(name: str) -> list[tuple[Vendor, ConfigFile, re.Match[str]]]:
    found = []
    for vendor in vendors.all_vendors():
        hit = vendor.match_file(name)
        if hit is not None:
            found.append((vendor, *hit))
    return found


class Resolver:
    def __init__(self, store: Store, cache: ConfigCache, activity: Activity, *,
                 upload_max_bytes: int = 1024 * 1024):
        self.store = store
        self.cache = cache
        self.activity = activity
        self.upload_max_bytes = upload_max_bytes

    async def resolve(self, req: Request) -> Reply:
        name = file_name(req.path)
        if name is None:
            return Reply(404, "bad-name")
        candidates = _candidates(name)
        if not candidates:
            return Reply(404, "no-such-file")
        ua = vendors.parse_user_agent(req.user_agent)
        # A fixed name (000000000000.cfg) wins over a per-device pattern it happens to fit.
        common = [c for c in candidates if "mac" not in c[2].groupdict()]
        if common:
            return self._common_file(req, name, common, ua)
        return await self._device_file(req, name, candidates, ua)

    async def _device_file(self, req: Request, name: str,
                           candidates: list[tuple[Vendor, ConfigFile, re.Match[str]]],
                           ua: UserAgent | None) -> Reply:
        mac = candidates[0][2].group("mac").upper()
        fetch = Fetch(mac, name, req.client_ip, req.user_agent, ua.firmware if ua else None, req.transport)
        if ua is not None and ua.mac is not None and ua.mac != mac:
            log.warning("user_agent_mac_mismatch", path_mac=mac, ua_mac=ua.mac, ip=req.client_ip,
                        file=name, transport=req.transport)
            return Reply(403, "ua-mismatch", mac=mac)
        entry = await self.cache.device(mac)
        if entry is None:
            guess = ua.vendor if ua else (candidates[0][0].name if len(candidates) == 1 else None)
            if guess is None:
                hinted = vendors.vendor_for_mac(mac)
                guess = hinted.name if hinted else None
            self.activity.unknown(fetch, vendor=guess, model=ua.model if ua else None)
            log.debug("unknown_device", mac=mac, ip=req.client_ip, file=name, transport=req.transport)
            return Reply(404, "unknown-device", mac=mac)
        matching = [(spec, m) for vendor, spec, m in candidates if vendor.name == entry.data.vendor]
        if not matching:
            self.activity.fetched(fetch, download=False)
            return Reply(404, "no-such-file", mac=mac)
        spec, _match = matching[0]
        if spec.kind is FileKind.UPLOAD:
            return await self._upload(req, fetch, name, spec)
        if req.method == "PUT":
            return Reply(405, "method", mac=mac)
        if spec.kind is FileKind.ABSENT:
            self.activity.fetched(fetch, download=False)
            return Reply(404, "absent", mac=mac)
        try:
            rendered = self.cache.device_file(entry, spec, name)
        except RenderError as exc:
            log.error("render_failed", mac=mac, file=name, template=spec.template, error=str(exc))
            return Reply(500, "render-error", mac=mac)
        self.activity.fetched(fetch, download=True)
        return Reply.of(rendered, mac)

    def _common_file(self, req: Request, name: str,
                     candidates: list[tuple[Vendor, ConfigFile, re.Match[str]]],
                     ua: UserAgent | None) -> Reply:
        if ua is not None:
            candidates = sorted(candidates, key=lambda c: c[0].name != ua.vendor)
        vendor, spec, match = candidates[0]
        if req.method == "PUT":
            return Reply(405, "method")
        if spec.kind is not FileKind.COMMON:
            return Reply(404, "absent")
        model = None
        raw_model = match.groupdict().get("model")
        if raw_model:
            model = vendor.normalize_model(raw_model)
            if model not in vendor.models:
                return Reply(404, "no-such-file")
        try:
            return Reply.of(self.cache.common_file(vendor, spec, name, model), None)
        except RenderError as exc:
            log.error("render_failed", file=name, template=spec.template, error=str(exc))
            return Reply(500, "render-error")

    async def _upload(self, req: Request, fetch: Fetch, name: str, spec: ConfigFile) -> Reply:
        """A file the phone writes (logs, its own overrides): kept per device, never served as config."""
        self.activity.fetched(fetch, download=False)
        key = name.lower()
        if req.method == "PUT":
            body = req.body or b""
            if len(body) > self.upload_max_bytes:
                return Reply(413, "too-large", mac=fetch.mac)
            await asyncio.to_thread(self._save_upload, fetch.mac, key, body)
            return Reply(201, "uploaded", mac=fetch.mac)
        body = await asyncio.to_thread(self._read_upload, fetch.mac, key)
        if body is None:
            return Reply(404, "absent", mac=fetch.mac)
        return Reply(200, "served", body, spec.content_type, None, fetch.mac)

    def _save_upload(self, mac: str, name: str, body: bytes) -> None:
        with self.store.transaction() as tx:
            tx.save_upload(mac, name, body)

    def _read_upload(self, mac: str, name: str) -> bytes | None:
        with self.store.reading() as tx:
            return tx.upload(mac, name)
