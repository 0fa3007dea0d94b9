"""CHI and NHS numbers: check digits and validity (scalar forms; vectorised ones come with matching)."""

from __future__ import annotations

from datetime import date

_WEIGHTS = range(10, 1, -1)  # 10..2 on digits 1-9


def mod11_check_digit(first9: str) -> int | None:
    """The mod-11 check digit shared by CHI and NHS numbers; None where the result is 10 (invalid)."""
    total = sum(int(d) * w for d, w in zip(first9, _WEIGHTS, strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def is_valid_nhs_number(value: str) -> bool:
    if len(value) != 10 or not value.isdigit():
        return False
    return mod11_check_digit(value[:9]) == int(value[9])


def chi_date_of_birth(value: str) -> date | None:
    """The DDMMYY date a CHI starts with, in the century that makes it not in the future."""
    try:
        day, month, yy = int(value[0:2]), int(value[2:4]), int(value[4:6])
        today = date.today()
        year = 2000 + yy if 2000 + yy <= today.year else 1900 + yy
        return date(year, month, day)
    except ValueError:
        return None


def is_valid_chi(value: str) -> bool:
    """A real DDMMYY date and a correct mod-11 check digit."""
    if len(value) != 10 or not value.isdigit():
        return False
    return chi_date_of_birth(value) is not None and mod11_check_digit(value[:9]) == int(value[9])
