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


# --- vectorised ---------------------------------------------------------------------------------

import pandas as pd  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from crosswalk.identifiers import chi_status, defect_counts, nhs_status, normalise  # noqa: E402


def test_chi_status_names_each_defect_and_never_raises():
    values = pd.Series(
        ["0101011237", "0101201234", "3201201234", "101011237", "0101-011 237", "", None, "01010112a7", "12345"]
    )
    assert chi_status(values).tolist() == [
        "valid",  # the domain's known-valid CHI
        "bad_check_digit",
        "bad_date",  # 32 January
        "valid",  # the leading zero a spreadsheet took is restored
        "valid",  # spaces and dashes removed
        "missing",
        "missing",
        "bad_format",
        "bad_format",
    ]


def test_chi_is_checked_against_the_records_date_of_birth_and_sex():
    chi = pd.Series(["0101011237", "0101011237", "0101011237", "0101011237"])
    dob = pd.Series(["1901-01-01", "2001-01-01", "1901-01-02", None])
    # 0101011237: 9th digit 3 is odd, so male.
    sex = pd.Series(["M", "U", "M", "F"])
    assert chi_status(chi, dob=dob, sex=sex).tolist() == ["valid", "valid", "dob_mismatch", "sex_mismatch"]


def test_nhs_status_and_defect_counts():
    status = nhs_status(pd.Series(["943 476 5919", "9434765918", "943476591", None, "9434765919.0"]))
    assert status.tolist() == ["valid", "bad_check_digit", "bad_format", "missing", "valid"]
    assert defect_counts(status) == {"valid": 2, "missing": 1, "bad_format": 1, "bad_check_digit": 1}


def test_normalise_keeps_nhs_numbers_as_they_are_apart_from_separators():
    assert normalise(pd.Series(["123456789", " 943-476-5919 "]), restore_leading_zero=False).tolist() == [
        "123456789",
        "9434765919",
    ]


def test_normalise_removes_tabs_line_breaks_and_no_break_spaces_as_well_as_spaces():
    values = pd.Series(["943\t476\xa05919", "943\r\n476 5919", "\v9434765919\f"])
    assert normalise(values, restore_leading_zero=False).tolist() == ["9434765919"] * 3


@st.composite
def valid_chis(draw) -> str:
    born = draw(st.dates(pd.Timestamp("1901-01-01").date(), pd.Timestamp("2025-12-31").date()))
    body = f"{born:%d%m%y}" + draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    check = mod11_check_digit(body)
    if check is None:
        body = body[:8] + str((int(body[8]) + 1) % 10)
        check = mod11_check_digit(body)
    return body + str(check)


@settings(max_examples=500, deadline=None)
@given(chi=valid_chis(), pos=st.integers(0, 9), digit=st.integers(0, 9))
def test_every_single_digit_substitution_is_caught(chi, pos, digit):
    changed = chi[:pos] + str(digit) + chi[pos + 1 :]
    status = chi_status(pd.Series([chi, changed])).tolist()
    assert status[0] == "valid"
    if changed != chi:
        assert status[1] in ("bad_check_digit", "bad_date")


@settings(max_examples=500, deadline=None)
@given(chi=valid_chis(), pos=st.integers(0, 8))
def test_every_adjacent_swap_is_caught(chi, pos):
    swapped = chi[:pos] + chi[pos + 1] + chi[pos] + chi[pos + 2 :]
    if swapped != chi:
        assert chi_status(pd.Series([swapped])).tolist()[0] in ("bad_check_digit", "bad_date")


def test_non_ascii_digits_are_a_bad_format_not_a_crash():
    value = "01010000\u06606"  # an Arabic-Indic zero: a digit to str.isdigit, not to a CHI
    assert chi_status(pd.Series([value])).tolist() == ["bad_format"]
    assert not is_valid_chi(value)
