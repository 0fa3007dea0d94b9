"""Each transform on tiny inline data, nulls and malformed values included.

A malformed value is generalised to null and counted, never passed through raw.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, datetime
from decimal import Decimal

import pandas as pd
import pytest

from crosswalk.agreements import transforms as t

KEY = bytes(range(32))


def s(*values) -> pd.Series:
    return pd.Series(list(values), dtype="object")


def test_pass_returns_the_column_untouched():
    col = s("a", None, "")
    out, bad = t.apply("pass", col)
    assert out is col and bad == 0


def test_pseudonymise_is_hmac_sha256_of_agreement_id_and_value():
    out, bad = t.pseudonymise(s("0101011237", None, "", " 0101011237 "), KEY, "isp-a")
    expected = hmac.new(KEY, b"isp-a\x1f0101011237", hashlib.sha256).hexdigest()
    # Surrounding spaces do not change the pseudonym; null and empty stay null and are not malformed.
    assert out.tolist() == [expected, None, None, expected] and bad == 0


def test_pseudonyms_differ_across_agreements_even_under_one_key():
    a, _ = t.pseudonymise(s("0101011237"), KEY, "isp-a")
    b, _ = t.pseudonymise(s("0101011237"), KEY, "isp-b")
    assert a[0] != b[0]


def test_pseudonymise_refuses_a_short_key():
    with pytest.raises(ValueError, match="at least 32 bytes"):
        t.pseudonymise(s("x"), b"short", "isp")


def test_pseudonymise_dates_by_their_iso_form():
    out, _ = t.pseudonymise(s(date(1950, 1, 2), "1950-01-02"), KEY, "isp")
    assert out[0] == out[1]


def test_mask_keeps_only_presence():
    out, bad = t.mask(s("Jane", None, "", "x"))
    assert out.tolist() == ["***", None, None, "***"] and bad == 0


def test_generalise_dates_to_month_and_year():
    col = s(date(1950, 1, 2), datetime(1984, 12, 31, 8, 0), "2001-07-09", None, "")
    month, bad_m = t.generalise_month(col)
    year, bad_y = t.generalise_year(col)
    assert month.tolist() == ["1950-01", "1984-12", "2001-07", None, None] and bad_m == 0
    assert year.tolist() == ["1950", "1984", "2001", None, None] and bad_y == 0


def test_malformed_dates_become_null_and_are_counted():
    # 31 February, a non-date string, a UK-style date and a number: none is passed through.
    out, bad = t.generalise_month(s("2001-02-31", "soon", "09/07/2001", 19840101, "2001-07-09"))
    assert out.tolist() == [None, None, None, None, "2001-07"] and bad == 4


def test_generalise_postcode_to_sector_and_district():
    # Spacing and case vary in real extracts; the outward code has 2-4 characters.
    col = s("AB12 3CD", "ab123cd", "EH1 1YZ", "W1A 0AX", "M1  1AE", None)
    sector, bad_s = t.generalise_sector(col)
    district, bad_d = t.generalise_district(col)
    assert sector.tolist() == ["AB12 3", "AB12 3", "EH1 1", "W1A 0", "M1 1", None] and bad_s == 0
    assert district.tolist() == ["AB12", "AB12", "EH1", "W1A", "M1", None] and bad_d == 0


def test_malformed_postcodes_become_null_and_are_counted():
    # Too short, digits first, an inward code with a letter first, and not a string at all.
    out, bad = t.generalise_district(s("AB1", "12AB 3CD", "AB12 CDE", 12345, "AB12 3CD"))
    assert out.tolist() == [None, None, None, None, "AB12"] and bad == 4


def test_generalise_age_to_band():
    out, bad = t.generalise_age_band(s(0, 17, 18, 64, 65, 74, 75, 84, 85, 104, "70", None))
    assert out.tolist() == [
        "0-17", "0-17", "18-64", "18-64", "65-74", "65-74", "75-84", "75-84", "85+", "85+", "65-74", None
    ]  # fmt: skip
    assert bad == 0


def test_malformed_ages_become_null_and_are_counted():
    # Negative, fractional, absurd, text and a boolean are not ages.
    out, bad = t.generalise_age_band(s(-1, 40.5, 200, "forty", True, 40))
    assert out.tolist() == [None, None, None, None, None, "18-64"] and bad == 5
    # A decimal NaN or an infinity is present but no age (it used to raise instead of being counted).
    out, bad = t.generalise_age_band(s(Decimal("NaN"), Decimal("Infinity"), float("inf")))
    assert out.tolist() == [None, None, None] and bad == 3


def test_apply_refuses_drop_and_pseudonymise_without_a_key():
    with pytest.raises(ValueError, match="'drop' removes it"):
        t.apply("drop", s("x"))
    with pytest.raises(ValueError, match="needs the agreement's key"):
        t.apply("pseudonymise", s("x"))
