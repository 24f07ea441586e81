"""Grandstream programmable keys: BLF and speed dial in the P-value block of keys 1..7 of the phone's
own file (parsed), and the rest refused with the reason."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.test_function_keys import fetch, setup

GXP = "000B82A1B2C3"  # GXP2170: 12 keys, written up to 7


def pvalues(body: bytes) -> dict[str, str]:
    root = ET.fromstring(body)
    return {el.tag: el.text or "" for el in root.find("config")}


async def test_blf_and_speed_dial_keys_in_the_p_values(server, store, run_cli):
    setup(run_cli)
    run_cli("device", "add", GXP, "--model", "GXP2170", "--customer", "ROSSI", "--line", "201")
    before = pvalues(await fetch(server, store, "cfg000b82a1b2c3.xml", GXP))
    assert "P323" not in before and "P329" not in before
    run_cli("device", "key", GXP, "1", "--type", "blf", "--value", "202")
    run_cli("customer", "key", "ROSSI", "4", "--type", "speed-dial", "--value", "0612345678", "--label", "Ufficio")
    run_cli("device", "key", GXP, "7", "--type", "blf", "--value", "203", "--label", "Magazzino & Co")
    values = pvalues(await fetch(server, store, "cfg000b82a1b2c3.xml", GXP))
    # key n: mode P32(n+2), account P3(3n-2) from 0, label P3(3n-1), value P3(3n)
    assert [values[p] for p in ("P323", "P301", "P302", "P303")] == ["1", "0", "Niccolò Università", "202"]
    assert [values[p] for p in ("P326", "P310", "P311", "P312")] == ["0", "0", "Ufficio", "0612345678"]
    assert [values[p] for p in ("P329", "P319", "P320", "P321")] == ["1", "0", "Magazzino & Co", "203"]
    assert "P324" not in values and "P325" not in values


@pytest.mark.parametrize(
    "args, message",
    [
        (["8", "--type", "blf", "--value", "202"], "Grandstream keys 8 and up use a numbering not confirmed here"),
        (["3", "--type", "park", "--value", "700"], "grandstream phones take no 'park' keys"),
        (["3", "--type", "line"], "grandstream phones take no 'line' keys"),
    ],
)
def test_other_keys_are_refused_with_the_reason(run_cli, store, args, message):
    setup(run_cli)
    run_cli("device", "add", GXP, "--model", "GXP2170", "--customer", "ROSSI", "--line", "201")
    result = run_cli("device", "key", GXP, *args, ok=False)
    assert result.exit_code != 0 and message in result.output
    with store.reading() as tx:
        assert tx.keys_of(device_id=tx.device(GXP)["id"]) == []
