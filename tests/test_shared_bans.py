"""A ban one process makes reaches the others through the database (provisioner.shared_sync)."""

from __future__ import annotations

import pytest

from provisioner.access import ScanGuard, ScanSettings
from provisioner.errors import Unavailable
from provisioner.shared_sync import SharedBans


async def test_a_ban_that_could_not_be_written_is_written_at_the_next_tick(store, monkeypatch):
    guard = ScanGuard(ScanSettings(failures=1))
    assert guard.failed("203.0.113.9", "unknown-device")  # banned here
    bans = SharedBans(store, guard)
    exchange = SharedBans._exchange

    def down(self, new):
        raise Unavailable("the database is busy", reason="locked")

    monkeypatch.setattr(SharedBans, "_exchange", down)
    with pytest.raises(Unavailable):
        await bans.sync()
    with store.reading() as tx:
        assert tx.bans_since(0) == []  # nothing written while the database was away
    monkeypatch.setattr(SharedBans, "_exchange", exchange)
    await bans.sync()
    with store.reading() as tx:
        rows = tx.bans_since(0)
    assert [r["ip"] for r in rows] == ["203.0.113.9"]
    # Another process applies it (and this one does not apply its own ban twice).
    other = ScanGuard()
    assert await SharedBans(store, other).sync() == 1 and other.banned("203.0.113.9")
    assert await bans.sync() == 0
