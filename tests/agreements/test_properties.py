"""Properties of the egress gate over generated agreements, levels and DataFrames (Hypothesis).

Each property runs 500 examples (more with HYPOTHESIS_PROFILE=thorough); CI runs them all.
"""

from __future__ import annotations

import os
from datetime import date, timedelta

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crosswalk.agreements.egress import gate
from crosswalk.agreements.transforms import pseudonymise
from crosswalk.config.models.agreements import Agreement, AgreementHistory
from crosswalk.errors import EgressRefused

settings.register_profile(
    "ci", max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
settings.register_profile("thorough", parent=settings.get_profile("ci"), max_examples=5000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

CLASSES = ["direct_identifier", "quasi_identifier", "special_category", "operational", "aggregate"]
# What each kind of column may be transformed with (the loader enforces this against table schemas).
TRANSFORMS_FOR = {
    "text": ["pass", "drop", "pseudonymise", "mask"],
    "date": ["pass", "drop", "pseudonymise", "mask", "generalise:month", "generalise:year"],
    "postcode": ["pass", "drop", "pseudonymise", "mask", "generalise:sector", "generalise:district"],
    "age": ["pass", "drop", "pseudonymise", "mask", "generalise:age_band"],
}
# Values that can never equal a transform's output (no '*', no bare 'YYYY', no 64-hex strings).
VALUES = {
    "text": st.one_of(st.none(), st.text("ABCDEFGHJKabcdefgh0123456789 -'", min_size=0, max_size=12)),
    "date": st.one_of(
        st.none(),
        st.dates(date(1900, 1, 1), date(2030, 12, 31)).map(date.isoformat),
        st.sampled_from(["2001-02-31", "31/12/1999", "unknown", ""]),
    ),
    "postcode": st.one_of(st.none(), st.sampled_from(["AB12 3CD", "EH1 1YZ", "g2 4xx", "W1A0AX", "NOT A PC", "12"])),
    "age": st.one_of(st.none(), st.integers(-5, 130).map(str), st.sampled_from(["forty", "40.5"])),
}
KEYS = {"key_a": bytes(range(32)), "key_b": bytes(range(1, 33))}


@st.composite
def catalogues(draw):
    """A field catalogue and the kind of each column, valid by construction."""
    names = draw(st.lists(st.sampled_from([f"c{i}" for i in range(10)]), min_size=1, max_size=8, unique=True))
    fields, kinds = {}, {}
    for name in names:
        kind = draw(st.sampled_from(sorted(TRANSFORMS_FOR)))
        cls = draw(st.sampled_from(CLASSES))
        min_level = draw(st.integers(1, 4))
        levels = draw(st.lists(st.integers(min_level, 4), unique=True, max_size=3))
        if cls in ("direct_identifier", "special_category") and min_level not in levels:
            levels.append(min_level)
        transform = {lv: draw(st.sampled_from(TRANSFORMS_FOR[kind])) for lv in levels}
        fields[name] = {"description": name, "classification": cls, "min_level": min_level, "transform": transform}
        kinds[name] = kind
    return fields, kinds


def build(fields, *, agreement_id="isp", key="key_a", level=1, sign_off=None, window=None) -> Agreement:
    valid_from, valid_until = window or (date(2026, 1, 1), date(2027, 12, 31))
    return Agreement.model_validate(
        {
            "id": agreement_id,
            "version": 1,
            "title": "generated",
            "provider": "council",
            "recipients": [{"partner": "board", "level": level, "population": "all"}],
            "purpose": "Property-based testing of the gate.",
            "lawful_basis": {"article_6": "6(1)(e)", "article_9": "9(2)(h)"},
            "sign_off": sign_off
            if sign_off is not None
            else {p: {"name": "N", "role": "R", "date": "2025-12-01"} for p in ("council", "board")},
            "valid_from": valid_from,
            "valid_until": valid_until,
            "review_date": valid_from,
            "pseudonymisation_key_conn_id": key,
            "datasets": {"ds": {"fields": fields}},
        }
    )


@st.composite
def frames(draw, kinds: dict[str, str]):
    n = draw(st.integers(0, 6))
    return pd.DataFrame({c: draw(st.lists(VALUES[k], min_size=n, max_size=n)) for c, k in kinds.items()}, dtype=object)


ON = date(2026, 6, 1)


def _through_the_gate(data, level: int):
    """A generated agreement at ``level`` and frame; what the gate lets out (None if it refuses everything)."""
    fields, kinds = data.draw(catalogues())
    a = build(fields, level=level)
    frame = data.draw(frames(kinds))
    try:
        plan = gate(a, "ds", "board", list(frame.columns), on=ON, key_for=KEYS.__getitem__)
    except EgressRefused as exc:
        # Only when nothing at all may leave at this level.
        assert "allows no column" in str(exc)
        assert all(a.datasets["ds"].fields[c].transform_at(level) == "drop" for c in frame.columns)
        return a, frame, None
    return a, frame, plan.apply(frame)[0]


@given(data=st.data(), level=st.integers(1, 4))
def test_output_columns_are_always_a_subset_of_what_the_level_permits(data, level):
    a, frame, out = _through_the_gate(data, level)
    if out is None:
        return
    permitted = {
        c for c, e in a.datasets["ds"].fields.items() if e.min_level <= level and e.transform_at(level) != "drop"
    }
    assert set(out.columns) <= permitted
    assert list(out.columns) == [c for c in frame.columns if c in permitted]  # and nothing permitted is lost
    assert len(out) == len(frame)


@given(data=st.data(), level=st.integers(1, 4))
def test_a_direct_identifier_passes_only_where_the_catalogue_says_pass(data, level):
    a, frame, out = _through_the_gate(data, level)
    if out is None:
        return
    for c in out.columns:
        entry = a.datasets["ds"].fields[c]
        if entry.classification != "direct_identifier" or entry.transform_at(level) == "pass":
            continue
        # Not 'pass' at this level: no present original value may appear as sent.
        for before, after in zip(frame[c], out[c], strict=True):
            if before not in (None, ""):
                assert after != before


@given(values=st.lists(st.text(min_size=1, max_size=20).filter(str.strip), min_size=1, max_size=20), ids=st.tuples(
    st.sampled_from(["isp-a", "isp-b", "isp-c"]), st.sampled_from(["isp-a", "isp-b", "isp-c"])
))  # fmt: skip
def test_pseudonyms_are_stable_within_an_agreement_and_differ_across_agreements(values, ids):
    series = pd.Series(values, dtype=object)
    first, _ = pseudonymise(series, KEYS["key_a"], ids[0])
    again, _ = pseudonymise(series, KEYS["key_a"], ids[0])
    assert first.tolist() == again.tolist()
    # Equal values get equal pseudonyms, different values different ones (within one agreement).
    for v, p in zip(values, first, strict=True):
        for w, q in zip(values, first, strict=True):
            assert (v.strip() == w.strip()) == (p == q)
    if ids[0] != ids[1]:
        # Another agreement (its own key, and even the same key by mistake) shares no pseudonym with this one.
        for key in KEYS.values():
            other, _ = pseudonymise(series, key, ids[1])
            assert not set(first) & set(other)


@given(
    on=st.dates(date(2025, 6, 1), date(2028, 6, 1)),
    start=st.dates(date(2026, 1, 1), date(2027, 1, 1)),
    days=st.integers(1, 500),
    signed=st.fixed_dictionaries(
        {}, optional={p: st.dates(date(2025, 1, 1), date(2028, 1, 1)) for p in ("council", "board")}
    ),
    recipient=st.sampled_from(["board", "police"]),
)
def test_the_gate_refuses_every_invalid_agreement_state(on, start, days, signed, recipient):
    fields = {
        "id": {"description": "id", "classification": "direct_identifier", "min_level": 1, "transform": {1: "pass"}}
    }
    until = start + timedelta(days=days)
    a = build(
        fields,
        sign_off={p: {"name": "N", "role": "R", "date": d} for p, d in signed.items()},
        window=(start, until),
    )
    in_force = start <= on <= until
    signed_by_all = all(p in signed and signed[p] <= on for p in ("council", "board"))
    valid = in_force and signed_by_all and recipient == "board"
    if valid:
        assert gate(AgreementHistory([a]), "ds", recipient, ["id"], on=on).sent == ("id",)
        return
    with pytest.raises(EgressRefused) as exc:
        gate(AgreementHistory([a]), "ds", recipient, ["id"], on=on)
    # The first failing condition is the one named.
    message = str(exc.value)
    if not in_force:
        assert ("expired on" in message) if on > until else ("not yet valid" in message)
    elif not signed_by_all:
        assert "is not signed off by" in message
    else:
        assert "does not name police" in message
