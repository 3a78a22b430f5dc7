"""VAT IDs and Leitweg-IDs: valid ones in their normal form, invalid ones refused with why."""

from __future__ import annotations

import pytest

from schiller40.accounts.billing_ids import (
    BadId,
    leitweg_check_digits,
    normalize_leitweg_id,
    normalize_vat_id,
)


@pytest.mark.parametrize(("typed", "stored"), [
    ("DE136695976", "DE136695976"),
    ("de 136 695 976", "DE136695976"),
    ("DE-136.695.976", "DE136695976"),
    ("ATU13585627", "ATU13585627"),
    ("NL 004495445B01", "NL004495445B01"),
])
def test_valid_vat_ids_are_stored_compact(typed, stored):
    assert normalize_vat_id(typed) == stored


@pytest.mark.parametrize(("typed", "reason"), [
    ("DE136695977", "checksum"),  # one check digit off
    ("DE036695976", "format"),  # a German number never starts with 0
    ("DE13669597", "format"),  # eight digits
    ("XX123456789", "format"),  # no such country
    ("136695976", "format"),  # no country prefix
    ("", "format"),
    ("DE" + "1" * 50, "format"),
])
def test_invalid_vat_ids_are_refused(typed, reason):
    with pytest.raises(BadId) as caught:
        normalize_vat_id(typed)
    assert caught.value.reason == reason


@pytest.mark.parametrize(("typed", "stored"), [
    # KoSIT's worked example: coarse 04011000, fine 1234512345, check digits 06.
    ("04011000-1234512345-06", "04011000-1234512345-06"),
    (" 04011000-1234512345-06 ", "04011000-1234512345-06"),
    ("991-abc12-" + leitweg_check_digits("991-ABC12"), "991-ABC12-" + leitweg_check_digits("991-ABC12")),
    ("03241-" + leitweg_check_digits("03241"), "03241-" + leitweg_check_digits("03241")),
])
def test_valid_leitweg_ids(typed, stored):
    assert normalize_leitweg_id(typed) == stored


def test_the_check_digits_of_the_specification_example():
    assert leitweg_check_digits("04011000-1234512345") == "06"


@pytest.mark.parametrize(("typed", "reason"), [
    ("04011000-1234512345-07", "checksum"),
    ("04011000-1234512346-06", "checksum"),
    ("4-06", "format"),  # the coarse part has at least two digits
    ("1234567890123-06", "format"),  # and at most twelve
    ("04011000-" + "A" * 31 + "-06", "format"),  # the fine part at most 30 characters
    ("04011000-12345_12345-06", "format"),
    ("04011000-1234512345-6", "format"),  # two check digits
    ("04011000--06", "format"),
    ("04011000-1234512345", "format"),  # no check digits at all
    ("", "format"),
])
def test_invalid_leitweg_ids(typed, reason):
    with pytest.raises(BadId) as caught:
        normalize_leitweg_id(typed)
    assert caught.value.reason == reason
