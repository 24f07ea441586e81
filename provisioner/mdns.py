"""mDNS / DNS-SD: announce the provisioning URL on the LAN (``--mdns on``).

None of the four vendors' phones browse for it; technicians' tools and scripts do
(``avahi-browse -r _http._tcp``). The record is an ``_http._tcp`` service named
``provisioner on <host>`` whose TXT holds ``path`` (RFC 6763 6.3 for ``_http``) and the whole
``url``. Nothing secret is in it: the plain URL, as every config carries it.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

import structlog
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from . import __version__

log = structlog.get_logger("provisioner.mdns")

SERVICE_TYPE = "_http._tcp.local."


def service_info(url: str, addresses: list[str], *, hostname: str | None = None) -> AsyncServiceInfo:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = (hostname or socket.gethostname()).split(".")[0] or "provisioner"
    return AsyncServiceInfo(
        SERVICE_TYPE,
        f"provisioner on {host}.{SERVICE_TYPE}",
        addresses=[socket.inet_pton(socket.AF_INET6 if ":" in a else socket.AF_INET, a) for a in addresses],
        port=port,
        server=f"{host}.local.",
        properties={
            "path": parts.path or "/",
            "url": url,
            "scheme": parts.scheme,
            "txtvers": "1",
            "version": __version__,
        },
    )


class Advertiser:
    """Registers the service at start, withdraws it (goodbye packets) at stop."""

    def __init__(self, url: str, addresses: list[str], *, interfaces: list[str] | None = None):
        self.info = service_info(url, addresses)
        self.interfaces = interfaces
        self.zeroconf: AsyncZeroconf | None = None

    async def start(self) -> None:
        kwargs: dict[str, Any] = {"interfaces": self.interfaces} if self.interfaces else {}
        self.zeroconf = AsyncZeroconf(ip_version=IPVersion.V4Only, **kwargs)
        # allow_name_change: a second server on the LAN becomes "provisioner on host (2)".
        await self.zeroconf.async_register_service(self.info, allow_name_change=True)

    async def stop(self) -> None:
        if self.zeroconf is None:
            return
        try:
            await self.zeroconf.async_unregister_all_services()
        finally:
            await self.zeroconf.async_close()
            self.zeroconf = None
