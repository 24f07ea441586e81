"""The phone-upload branch of the resolver: files a phone writes (logs, its own overrides).

Kept per device (sealed), given back only to a request that would be given the device's config,
never with provisioning or SIP server keys (:mod:`provisioner.uploads` strips those). A mixin of
:class:`provisioner.resolver.Resolver`, split out so that module stays one screenful of routing.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable

import structlog

from . import uploads
from .activity import Activity, Fetch
from .cache import DeviceEntry
from .db import Store
from .phone_reply import Reply, Request
from .vendors import ConfigFile

log = structlog.get_logger("provisioner.resolver")

# An upload for a device of a customer without rules is taken only from the address that fetched the
# device's config within this many seconds.
UPLOAD_AFTER_FETCH = 600.0
# At most this many devices' last fetch are remembered.
MAX_REMEMBERED_FETCHES = 200_000
# A fetch from the address stored less than this long ago is not stored (uploads: accepted up to this
# much less than UPLOAD_AFTER_FETCH after the last fetch, never longer, never from another address).
REMEMBER_PRECISION = 60.0


class UploadRoute:
    store: Store
    activity: Activity
    upload_max_bytes: int
    clock: Callable[[], float]
    _fetched: OrderedDict[str, list]  # mac -> [ip, time]

    def _upload_allowed(self, req: Request, entry: DeviceEntry) -> bool:
        """Whether this request would be given the device's config: the customer's rules already
        passed (``_refused``); without rules, only the address that fetched it lately qualifies."""
        if req.trusted:
            return True
        if entry.data.deprovisioned:
            return False  # a stored override must never undo a deprovisioning
        if entry.access is not None:
            return True
        last = self._fetched.get(entry.data.mac)
        return last is not None and last[0] == req.client_ip and self.clock() - last[1] <= UPLOAD_AFTER_FETCH

    async def _upload(self, req: Request, fetch: Fetch, name: str, spec: ConfigFile, entry: DeviceEntry) -> Reply:
        """A file the phone writes (logs, its own overrides): kept per device (sealed), given back only to
        a request that would be given the device's config, never with provisioning or SIP server keys."""
        self.activity.fetched(fetch, download=False)
        key = name.lower()
        if not self._upload_allowed(req, entry):
            log.warning(
                "upload_refused",
                mac=fetch.mac,
                ip=req.client_ip,
                file=name,
                method=req.method,
                deprovisioned=entry.data.deprovisioned,
                transport=req.transport,
            )
            return Reply(403, "upload-refused", mac=fetch.mac)
        if req.method == "PUT":
            body = req.body or b""
            if len(body) > self.upload_max_bytes:
                return Reply(413, "too-large", mac=fetch.mac)
            try:
                body, dropped = uploads.clean(entry.data.vendor, key, body)
            except uploads.BadUpload as exc:
                log.warning("upload_unreadable", mac=fetch.mac, ip=req.client_ip, file=name, error=str(exc))
                return Reply(400, "bad-upload", f"{name}: {exc}\n".encode(), mac=fetch.mac)
            if dropped:
                # The key names only, never their values (a password may be among them).
                log.warning("upload_keys_dropped", mac=fetch.mac, ip=req.client_ip, file=name, keys=sorted(dropped))
            await asyncio.to_thread(self._save_upload, fetch.mac, key, body)
            return Reply(201, "uploaded", mac=fetch.mac)
        stored = await asyncio.to_thread(self._read_upload, fetch.mac, key)
        if stored is None:
            return Reply(404, "absent", mac=fetch.mac)
        return Reply(200, "served", stored, spec.content_type, None, fetch.mac)

    def _save_upload(self, mac: str, name: str, body: bytes) -> None:
        with self.store.transaction() as tx:
            tx.save_upload(mac, name, body)

    def _read_upload(self, mac: str, name: str) -> bytes | None:
        with self.store.reading() as tx:
            return tx.upload(mac, name)

    def _remember_fetch(self, mac: str, ip: str) -> list:
        """Which address fetched the device's config, and when (what :meth:`_upload_allowed` reads):
        the device's record, ``[ip, time]``, changed in place (a warm reply holds it, and compares
        with it instead of looking it up; one pushed out by the bound says ip None)."""
        fetched = self._fetched
        now = self.clock()
        last = fetched.get(mac)
        if last is not None:
            if last[0] != ip or now - last[1] >= REMEMBER_PRECISION:
                last[0], last[1] = ip, now
                fetched.move_to_end(mac)
            return last
        if len(fetched) >= MAX_REMEMBERED_FETCHES:
            fetched.popitem(last=False)[1][0] = None
        last = fetched[mac] = [ip, now]
        return last
