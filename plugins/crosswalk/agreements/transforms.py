"""The transforms an agreement can apply to a column before it leaves, over pandas Series.

Each transform takes a Series and returns the transformed Series and the number of values it
could not transform. Nulls (and empty strings) stay null and are not counted. A malformed value
(a date that is not a date, a postcode that is not a postcode) becomes null and is counted: it is
never passed through raw. Counts, not values, are what callers may log.
"""

from __future__ import annotations

import hmac
import math
import re
from collections.abc import Callable
from datetime import date, datetime

import pandas as pd

from crosswalk.columns import per_distinct

MASK = "***"
AGE_BANDS = ((0, 17, "0-17"), (18, 64, "18-64"), (65, 74, "65-74"), (75, 84, "75-84"), (85, 130, "85+"))

# A UK postcode: outward code (area + district) and inward code (sector digit + unit letters).
_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9])([A-Z]{2})$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")

Result = tuple[pd.Series, int]


def _present(v) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return False
    if isinstance(v, float) and v != v:  # NaN
        return False
    return not (isinstance(v, str) and not v.strip())


def _map(series: pd.Series, fn: Callable[[object], str | None]) -> Result:
    """Apply ``fn`` to each present value; ``fn`` returns None for a malformed one. Worked out once per
    distinct value where that is exact (:func:`crosswalk.columns.per_distinct`); counted per row."""

    def one(v) -> tuple[bool, str | None]:
        return (True, fn(v)) if _present(v) else (False, None)

    pairs = per_distinct(series, one)
    out = [r for _, r in pairs]
    bad = sum(1 for present, r in pairs if present and r is None)
    return pd.Series(out, index=series.index, dtype="object"), bad


def pseudonymise(series: pd.Series, key: bytes, agreement_id: str) -> Result:
    """HMAC-SHA256 of each value under the agreement's key, as hex.

    The agreement id is mixed in as well as the key, so two agreements that were (wrongly) given
    the same key still produce different pseudonyms. Stable within an agreement: the same value
    always maps to the same pseudonym, so the recipient can link its records over time.
    """
    if len(key) < 32:
        raise ValueError("a pseudonymisation key must be at least 32 bytes")
    prefix = agreement_id.encode() + b"\x1f"

    def one(v) -> str:
        text = v.isoformat() if isinstance(v, (date, datetime)) else str(v).strip()
        return hmac.digest(key, prefix + text.encode(), "sha256").hex()  # one-shot: C all the way

    return _map(series, one)


def mask(series: pd.Series) -> Result:
    return _map(series, lambda v: MASK)


def _as_date(v) -> date | None:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    if isinstance(v, pd.Timestamp):
        return v.date()
    if isinstance(v, str) and _ISO_DATE.match(v.strip()):
        try:
            return date.fromisoformat(v.strip()[:10])
        except ValueError:
            return None
    return None


def generalise_month(series: pd.Series) -> Result:
    return _map(series, lambda v: (d := _as_date(v)) and f"{d.year:04d}-{d.month:02d}")


def generalise_year(series: pd.Series) -> Result:
    return _map(series, lambda v: (d := _as_date(v)) and f"{d.year:04d}")


def _postcode(v) -> re.Match | None:
    return _POSTCODE.match(re.sub(r"\s+", "", str(v)).upper()) if isinstance(v, str) else None


def generalise_sector(series: pd.Series) -> Result:
    return _map(series, lambda v: (m := _postcode(v)) and f"{m.group(1)} {m.group(2)}")


def generalise_district(series: pd.Series) -> Result:
    return _map(series, lambda v: (m := _postcode(v)) and m.group(1))


def _age_band(v) -> str | None:
    if isinstance(v, bool):
        return None
    try:
        age = float(v)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(age) or age != int(age):  # NaN and infinity (a Decimal's too) are malformed ages
        return None
    return next((label for lo, hi, label in AGE_BANDS if lo <= age <= hi), None)


def generalise_age_band(series: pd.Series) -> Result:
    return _map(series, _age_band)


def apply(name: str, series: pd.Series, *, key: bytes | None = None, agreement_id: str = "") -> Result:
    """Apply the transform called ``name`` (see :data:`crosswalk.config.models.agreements.TRANSFORMS`)."""
    if name == "pass":
        return series, 0
    if name == "pseudonymise":
        if key is None:
            raise ValueError("pseudonymise needs the agreement's key")
        return pseudonymise(series, key, agreement_id)
    fn = _BY_NAME.get(name)
    if fn is None:
        raise ValueError(f"no transform {name!r} can be applied to a column ('drop' removes it)")
    return fn(series)


_BY_NAME: dict[str, Callable[[pd.Series], Result]] = {
    "mask": mask,
    "generalise:month": generalise_month,
    "generalise:year": generalise_year,
    "generalise:sector": generalise_sector,
    "generalise:district": generalise_district,
    "generalise:age_band": generalise_age_band,
}
