import pytest

from provisioner.macs import InvalidMAC, colon, parse_mac, try_parse_mac


@pytest.mark.parametrize(
    "spelling",
    [
        "00:15:65:AB:CD:EF",
        "00-15-65-ab-cd-ef",
        "0015.65ab.cdef",
        "001565abcdef",
        "001565ABCDEF",
        "  00:15:65:ab:cd:ef ",
        "0:15:65:ab:cd:ef",
    ],
)
def test_every_common_spelling_gives_the_canonical_form(spelling):
    assert parse_mac(spelling) == "001565ABCDEF"


@pytest.mark.parametrize(
    "bad",
    ["", "00:15:65:AB:CD", "00:15:65:AB:CD:EF:01", "zz1565abcdef", "hello", "00:15:65:AB:CD:EG", "1" * 40, None, 1565],
)
def test_not_a_mac_is_refused(bad):
    with pytest.raises(InvalidMAC):
        parse_mac(bad)
    assert try_parse_mac(bad) is None


def test_colon_spelling():
    assert colon("001565ABCDEF") == "00:15:65:AB:CD:EF"


def test_two_digit_groups_give_what_netaddr_gives():
    """parse_mac drops the separators of six two-digit groups itself: the same MAC netaddr makes of
    them; mixed separators and broken groups are refused as before."""
    import netaddr
    from hypothesis import given, settings
    from hypothesis import strategies as st

    pair = st.text("0123456789abcdefABCDEF", min_size=2, max_size=2)

    @settings(max_examples=300, deadline=None)
    @given(st.lists(pair, min_size=6, max_size=6), st.sampled_from([":", "-"]))
    def check(groups, sep):
        text = sep.join(groups)
        wanted = str(netaddr.EUI(text, version=48, dialect=netaddr.mac_bare)).upper()
        assert parse_mac(text) == wanted == "".join(groups).upper()

    check()
    assert parse_mac("00:15:65:ab:cd:e") == "001565ABCD0E"  # a one-digit group: netaddr's way, as before
    for bad in ("00:15-65:ab:cd:ef", "00:15:65:ab:cd:efa", "00::15:65:ab:cd:ef"):
        with pytest.raises(InvalidMAC):
            parse_mac(bad)
