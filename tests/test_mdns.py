"""mDNS: the real server advertises its provisioning URL, on 127.0.0.1 only (never on real
interfaces in tests), and a browser on 127.0.0.1 reads it back."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from provisioner import lifecycle
from provisioner.mdns import SERVICE_TYPE


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, mdns=True, mdns_interfaces=("127.0.0.1",))


async def test_the_server_advertises_its_url_on_the_lan(server):
    advertiser = server.app[lifecycle.MDNS]
    browser_zc = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    found: list[str] = []
    try:
        browser = AsyncServiceBrowser(
            browser_zc.zeroconf,
            SERVICE_TYPE,
            handlers=[lambda zeroconf, service_type, name, state_change: found.append(name)],
        )
        for _ in range(150):
            if advertiser.info.name in found:
                break
            await asyncio.sleep(0.05)
        await browser.async_cancel()
        assert advertiser.info.name in found
        info = AsyncServiceInfo(SERVICE_TYPE, advertiser.info.name)
        assert await info.async_request(browser_zc.zeroconf, 3000)
    finally:
        await browser_zc.async_close()
    assert info.properties[b"url"] == b"http://prov.test:8080/"
    assert info.properties[b"path"] == b"/"
    assert info.port == 8080
    assert info.parsed_addresses() == ["127.0.0.1"]


def test_off_by_default_in_settings(data_dir):
    from provisioner.settings import Settings

    s = Settings(data_dir=data_dir)
    assert (s.mdns, s.pnp) == (False, False)  # only `serve` turns them on
