"""The firmware branch of the resolver: which variant of a config a phone gets, and its image.

A mixin of :class:`provisioner.resolver.Resolver`. An image is asked for under the device's own
prefix (``[p/<key>/][d/<token>/]firmware/<mac>/<version>/<file>``), so the customer's rules (path
key, token, Digest, allowlist) are checked exactly as for the device's config by the same code:
a phone that could not get its config cannot get its image. Everything here reads memory only.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from .activity import Activity, Fetch
from .cache import ConfigCache, DeviceEntry
from .firmware_rollout import SNOM_STATUS_FILE, UPGRADE_TEMPLATES, ImageRequest, Rollout, image_path, snom_status
from .phone_reply import Reply, Request
from .vendors import ConfigFile, UserAgent

log = structlog.get_logger("provisioner.resolver")

OCTETS = "application/octet-stream"


class FirmwareRoute:
    cache: ConfigCache
    activity: Activity
    rollout: Rollout | None
    _refused: Callable[..., Reply | None]

    def _firmware_url(self, entry: DeviceEntry, spec: ConfigFile, ua: UserAgent | None) -> str | None:
        """The image URL to put in this file now, or None: a dict lookup when no target is set."""
        rollout = self.rollout
        data = entry.data
        if rollout is None or data.deprovisioned or spec.template != UPGRADE_TEMPLATES.get(data.vendor):
            return None
        reported = ua.firmware if ua is not None and ua.vendor == data.vendor else None
        image = rollout.due(data.mac, data.vendor, data.model, data.customer_id, reported)
        if image is None:
            return None
        name = SNOM_STATUS_FILE if data.vendor == "snom" else image.file_name
        return self.cache.provisioning_url_of(entry) + image_path(data.mac, image.version, name)

    async def _firmware_image(self, req: Request, wanted: ImageRequest, ua: UserAgent | None) -> Reply:
        mac = wanted.mac
        fetch = Fetch(mac, wanted.file_name, req.client_ip, req.user_agent, ua.firmware if ua else None, req.transport)
        if ua is not None and ua.mac is not None and ua.mac != mac:
            return Reply(403, "ua-mismatch", mac=mac)
        entry = await self.cache.device(mac)
        if entry is None:
            return Reply(404, "unknown-device", mac=mac)
        refused = self._refused(req, entry, wanted.key, wanted.token, mac, ua)
        if refused is not None:
            if refused.status == 403:
                log.info("phone_refused", mac=mac, ip=req.client_ip, file=wanted.file_name, reason=refused.reason)
            return refused
        if req.method == "PUT":
            return Reply(405, "method", mac=mac)
        data = entry.data
        rollout = self.rollout
        if data.deprovisioned or rollout is None:
            return Reply(404, "absent", mac=mac)
        if data.vendor == "snom" and wanted.file_name == SNOM_STATUS_FILE:
            image = rollout.target(data.vendor, data.model, data.customer_id)
            if image is None or image.version != wanted.version:
                return Reply(404, "absent", mac=mac)
            url = self.cache.provisioning_url_of(entry) + image_path(mac, image.version, image.file_name)
            self.activity.fetched(fetch, download=False)
            return Reply(200, "served", snom_status(url), "text/xml; charset=utf-8", mac=mac)
        image = rollout.image(data.vendor, wanted.version, wanted.file_name)
        if image is None or data.model not in image.models:
            return Reply(404, "absent", mac=mac)
        try:
            body = rollout.content(image)
        except OSError as exc:
            log.error("firmware_image_unreadable", path=str(image.path), error=str(exc))
            return Reply(404, "absent", mac=mac)
        self.activity.fetched(fetch, download=False)
        log.info("firmware_image_served", mac=mac, version=image.version, file=image.file_name, transport=req.transport)
        return Reply(200, "served", body, OCTETS, mac=mac, file=image.path)
