import pytest

from provisioner.timezones import UnknownTimeZone, lookup


def test_rome_reads_its_rule_from_the_tz_database():
    tz = lookup("Europe/Rome")
    assert (tz.std_offset, tz.has_dst, tz.std_offset_hours) == (3600, True, "+1")
    assert tz.posix == "CET-1CEST,M3.5.0,M10.5.0/3"


def test_zone_without_dst_and_half_hour_offset():
    tz = lookup("Asia/Kolkata")
    assert (tz.std_offset, tz.has_dst, tz.std_offset_hours, tz.posix) == (19800, False, "+5.5", "IST-5:30")


def test_western_zone_is_negative():
    assert lookup("America/New_York").std_offset_hours == "-5"


def test_unknown_zone_is_refused_by_name():
    with pytest.raises(UnknownTimeZone, match="Mars/Olympus"):
        lookup("Mars/Olympus")
