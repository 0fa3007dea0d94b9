"""The set-based transforms and cell formatting give byte for byte what the per-value loops gave.

The per-value loop is the oracle: the transforms and cell writers are run once as they are (each rule
worked out once per distinct value, :func:`crosswalk.columns.per_distinct`) and once with that helper
replaced by a plain loop over every value, which is what they were before. The corpus has every
transform and every kind of malformed or awkward value: blanks, whitespace, bad dates and postcodes,
floats that are equal but print differently (``0.0``/``-0.0``), decimals likewise (``1.0``/``1.00``),
``1``/``True``/``1.0`` in one column, NaN, NaT, NA and mixed types.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crosswalk import columns
from crosswalk.agreements import transforms
from crosswalk.agreements.egress import EgressPlan
from crosswalk.pipeline import outbound
from crosswalk.publish import versions

KEY = bytes(range(32))
NAMES = ["mask", "pseudonymise", "generalise:month", "generalise:year", "generalise:sector",
         "generalise:district", "generalise:age_band"]  # fmt: skip


def plain_loop(series, fn, **_):
    """The per-value loop the set-based helper replaced."""
    values = series.to_numpy(dtype=object) if isinstance(series, pd.Series) else np.asarray(series, dtype=object)
    return np.fromiter((fn(v) for v in values), dtype=object, count=len(values))


# Values a staged column can hold on PostgreSQL or SQLite, and what a careless partner sends.
awkward_text = st.sampled_from(
    ["", " ", "\t", "EH1 1AA", "eh11aa", " G2  1AB ", "NS1 1AA", "X", "1950-02-30", "1950-02-03", "2001-13-01",
     "2001-01-01T10:00", "=HYPERLINK()", "+1", "-1", "@x", "a,b", 'q"uote', "new\nline", "Éilidh", "\u0663",
     "\uff11\uff10\uff10\uff10",
     "17", "17.0", "-0", "130", "131", "64.5", "NaN"]
)  # fmt: skip
scalars = st.one_of(
    st.none(),
    awkward_text,
    st.text(max_size=8),
    st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 12, 31)),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2030, 12, 31)),
    st.integers(min_value=-5, max_value=140),
    st.sampled_from([0.0, -0.0, 1.0, 17.5, 64.0, 1e20, float("nan"), float("inf"), True, False]),
    st.sampled_from([Decimal("1.0"), Decimal("1.00"), Decimal("-0.0"), Decimal("37.50"), Decimal("NaN")]),
    st.sampled_from([pd.NA, pd.NaT, np.nan]),
)


@st.composite
def columns_of(draw):
    """A column as a staged table holds it: mostly one kind of value (with repeats and nulls), or a mix."""
    kind = draw(st.sampled_from(["text", "date", "int", "float", "decimal", "bool", "mixed"]))
    pools = {
        "text": st.one_of(st.none(), awkward_text, st.text(max_size=6)),
        "date": st.one_of(st.none(), st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 12, 31))),
        "int": st.one_of(st.none(), st.integers(min_value=-5, max_value=140)),
        "float": st.one_of(st.none(), st.sampled_from([0.0, -0.0, 17.5, 64.0, 200.0, float("nan")])),
        "decimal": st.one_of(st.none(), st.sampled_from([Decimal("1.0"), Decimal("1.00"), Decimal("-0.0")])),
        "bool": st.one_of(st.none(), st.booleans()),
        "mixed": scalars,
    }
    distinct = draw(st.lists(pools[kind], min_size=1, max_size=6))
    return draw(st.lists(st.sampled_from(distinct), min_size=0, max_size=30))


def _series(values) -> pd.Series:
    return pd.Series(values, dtype="object")


def _same(a: pd.Series, b: pd.Series) -> bool:
    """Equal as the output sees them: same types, same values, NaN where NaN."""
    return [(type(x), repr(x)) for x in a.tolist()] == [(type(y), repr(y)) for y in b.tolist()]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=columns_of(), name=st.sampled_from(NAMES))
def test_every_transform_matches_the_per_value_loop(values, name, monkeypatch):
    fast, fast_bad = transforms.apply(name, _series(values), key=KEY, agreement_id="isp")
    with monkeypatch.context() as m:
        m.setattr(transforms, "per_distinct", plain_loop)
        slow, slow_bad = transforms.apply(name, _series(values), key=KEY, agreement_id="isp")
    assert fast_bad == slow_bad
    assert _same(fast, slow)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frame=st.lists(columns_of(), min_size=3, max_size=3), n=st.integers(min_value=0, max_value=30))
def test_extract_bytes_and_published_text_match_the_per_value_loop(frame, n, tmp_path_factory, monkeypatch):
    cols = [(c * (n // max(len(c), 1) + 1))[:n] if c else [None] * n for c in frame]
    rows = list(zip(*cols, strict=True)) if n else []
    plan = EgressPlan("isp", 1, "ds", "nhs", 2, ("a", "b", "c"), ("a", "b", "c"), (), {"b": "generalise:month"})
    tmp = tmp_path_factory.mktemp("extract")

    def extract(path: Path) -> bytes:
        outbound.write_extract([rows[:7], rows[7:]], plan, path)
        return path.read_bytes()

    fast = extract(tmp / "fast.csv")
    fast_text = versions._as_text(pd.DataFrame(rows, columns=["a", "b", "c"], dtype=object))
    with monkeypatch.context() as m:
        for module in (transforms, outbound, versions):
            m.setattr(module, "per_distinct", plain_loop)
        slow = extract(tmp / "slow.csv")
        slow_text = versions._as_text(pd.DataFrame(rows, columns=["a", "b", "c"], dtype=object))
    assert fast == slow
    assert all(_same(fast_text[c], slow_text[c]) for c in "abc")
    # And the extract is CSV a partner's parser reads back to one row per staged row.
    assert len(list(csv.reader(io.StringIO(fast.decode())))) == n + 1


def test_equal_values_that_print_differently_are_not_shared():
    """The cases the shortcut must not take: each would print wrongly if one result served both."""
    for values, expected in (
        ([0.0, -0.0], ["0", "-0"]),
        ([Decimal("1.0"), Decimal("1.00")], ["1", "1"]),
        ([1, True, 1.0], ["1", "True", "1"]),
    ):
        assert list(columns.per_distinct(_series(values), outbound._cell)) == expected
    assert list(columns.per_distinct(_series([Decimal("1.0"), Decimal("1.00")]), str)) == ["1.0", "1.00"]
