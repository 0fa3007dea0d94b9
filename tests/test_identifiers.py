from __future__ import annotations

import pytest

from crosswalk.identifiers import is_valid_chi, is_valid_nhs_number, mod11_check_digit


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("0101011237", True),  # the domain's known-valid CHI
        ("0101201234", False),  # real date, wrong check digit
        ("3201201234", False),  # 32 January is not a date
        ("101011237", False),  # leading zero lost in a spreadsheet: not a CHI as it stands
        ("01010112a7", False),
    ],
)
def test_chi(value, valid):
    assert is_valid_chi(value) is valid


def test_nhs_number():
    assert is_valid_nhs_number("9434765919")  # the domain's known-valid NHS number
    assert not is_valid_nhs_number("9434765918")


def test_check_digit_of_ten_is_invalid():
    # 1,0,0,0,0,0,0,0,1 weighted 10..2 sums to 12; 11 - 12 % 11 = 10: no valid number has these digits.
    assert mod11_check_digit("100000001") is None
