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
