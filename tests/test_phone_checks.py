"""Every per-device file asks the phone to check for new files on its own (daily at a quiet hour,
the minute from its MAC) and to take a check-sync NOTIFY without rebooting. Files are parsed."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from provisioner import polling, services

from .conftest import ACTOR, add_customer, add_line

YEALINK, SNOM, POLYCOM, GRANDSTREAM = "001565ABCDEF", "000413AABBCC", "0004F2ABCDEF", "C074AD0B63EE"
FILES = {
    YEALINK: "001565abcdef.cfg",
    SNOM: "000413AABBCC.xml",
    POLYCOM: "0004f2abcdef-settings.cfg",
    GRANDSTREAM: "cfgc074ad0b63ee.xml",
}


@pytest.fixture
def phones(store):
    add_customer(store, "ROSSI")
    for ext, mac, model in (
        ("201", YEALINK, "T46U"),
        ("202", SNOM, "D785"),
        ("203", POLYCOM, "VVX450"),
        ("204", GRANDSTREAM, "GRP2614"),
    ):
        add_line(store, "ROSSI", ext, f"Line {ext}", f"Pw-{ext}-secret")
        services.add_device(store, ACTOR, mac, model=model, customer="ROSSI", lines=[ext])
    return store


def config(run_cli, mac: str) -> str:
    return run_cli("device", "config", mac, FILES[mac]).output


def yealink_keys(text: str) -> dict[str, str]:
    return dict(line.split(" = ", 1) for line in text.splitlines() if " = " in line and not line.startswith("#"))


def polycom_attrs(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for element in ET.fromstring(text).iter():
        out.update(element.attrib)
    return out


def snom_settings(text: str) -> dict[str, str]:
    return {e.tag: (e.text or "") for e in ET.fromstring(text).find("phone-settings")}


def grandstream_pvalues(text: str) -> dict[str, str]:
    return {e.tag: (e.text or "") for e in ET.fromstring(text).find("config")}


def test_every_vendor_checks_daily_at_a_quiet_hour_and_resyncs_without_reboot(phones, run_cli):
    minute = {mac: polling.jitter_minute(mac) for mac in FILES}
    y = yealink_keys(config(run_cli, YEALINK))
    assert y["static.auto_provision.weekly.enable"] == "1" and y["static.auto_provision.repeat.enable"] == "0"
    assert y["static.auto_provision.weekly.dayofweek"] == "0123456"
    assert y["static.auto_provision.weekly.begin_time"] == f"03:{minute[YEALINK]:02d}"
    assert (
        y["static.auto_provision.weekly.end_time"] == f"03:{minute[YEALINK] + 30:02d}"
        if minute[YEALINK] < 30
        else f"04:{minute[YEALINK] - 30:02d}"
    )
    assert y["sip.notify_reboot_enable"] == "0" and y["sip.trust_ctrl"] == "0"

    p = polycom_attrs(config(run_cli, POLYCOM))
    assert p["prov.polling.enabled"] == "1" and p["prov.polling.mode"] == "random"
    assert p["prov.polling.period"] == "86400" and p["prov.polling.time"] == f"03:{minute[POLYCOM]:02d}"
    assert p["voIpProt.SIP.specialEvent.checkSync.alwaysReboot"] == "0"

    s = snom_settings(config(run_cli, SNOM))
    assert s["settings_refresh_timer"] == str(86400 + 60 * minute[SNOM])
    assert s["update_policy"] == "settings_only"

    g = grandstream_pvalues(config(run_cli, GRANDSTREAM))
    assert (g["P194"], g["P193"], g["P285"]) == ("2", "1440", "3")


def test_the_minute_comes_from_the_mac_and_spreads_phones():
    minutes = {polling.jitter_minute(f"001565{n:06X}") for n in range(200)}
    assert len(minutes) > 40  # 200 phones over at least 40 different minutes of the hour
    assert polling.jitter_minute("001565abcdef") == polling.jitter_minute("001565ABCDEF")


def test_device_settings_change_the_check(phones, run_cli):
    run_cli("device", "set", YEALINK, "check_hour=22", "check_interval_hours=6")
    y = yealink_keys(config(run_cli, YEALINK))
    assert y["static.auto_provision.repeat.enable"] == "1" and y["static.auto_provision.repeat.minutes"] == "360"
    assert y["static.auto_provision.weekly.enable"] == "0"
    assert "check_hour" not in y and "check_interval_hours" not in y  # not written as raw keys
    run_cli("device", "set", GRANDSTREAM, "check_hour=22")
    g = grandstream_pvalues(config(run_cli, GRANDSTREAM))
    assert (g["P194"], g["P285"]) == ("2", "22")
    run_cli("device", "set", POLYCOM, "check_hour=25")
    result = run_cli("device", "config", POLYCOM, FILES[POLYCOM], ok=False)
    assert result.exit_code != 0 and "check_hour='25' must be a whole number from 0 to 23" in result.output
