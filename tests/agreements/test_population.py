"""The gate's row rules, by property: on random frames, random populations and random evidence, exactly the people
a record-by-record reading of the rules admits leave (no row outside the population, ever), each withheld person
is counted once under the first reason that applies, blanked fields are blank, and only the level's columns leave.

The oracle below reads the rules one record at a time in plain Python: independent of the set-wise code it checks.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crosswalk.agreements.egress import gate
from crosswalk.agreements.population import Evidence, People, PersonList, admit
from crosswalk.config.models.agreements import Agreement
from crosswalk.config.models.population import WITHHELD_REASONS, Population
from crosswalk.errors import EgressRefused
from tests.support.agreements import TODAY, agreement_doc

PACKAGES = ["home care", "day care", "respite", ""]
FLAGS = ["Y", "N", ""]
EXAMPLES = 300


@st.composite
def frames(draw):
    n = draw(st.integers(0, 40))
    rows = []
    for i in range(n):
        rows.append({
            "id": f"C{i:04d}",
            "chi": draw(st.one_of(st.none(), st.sampled_from([f"{k:010d}" for k in range(1, 30)]))),
            "package": draw(st.sampled_from(PACKAGES)),
            "end": draw(st.one_of(st.none(), st.dates(date(2026, 1, 1), date(2027, 12, 31)))),
            "flag": draw(st.sampled_from(FLAGS)),
            "name": f"N{i}",
        })  # fmt: skip
    return pd.DataFrame(rows, columns=["id", "chi", "package", "end", "flag", "name"], dtype=object)


@st.composite
def populations(draw):
    where = []
    if draw(st.booleans()):
        where.append({"column": "package", **draw(st.sampled_from([
            {"present": True}, {"present": False}, {"one_of": ["home care", "respite"]}, {"none_of": ["day care"]},
        ]))})  # fmt: skip
    if draw(st.booleans()):
        test = draw(st.sampled_from(["on_or_after", "before"]))
        when = draw(st.one_of(st.just("today"), st.dates(date(2026, 1, 1), date(2027, 12, 31))))
        where.append({"column": "end", test: when, "or_missing": draw(st.booleans())})
    exclude = {}
    if draw(st.booleans()):
        withhold = draw(st.sampled_from(["record", ["name"]]))
        exclude["restricted"] = draw(st.sampled_from([
            {"column": "flag", "values": ["Y"], "withhold": withhold},
            {"feed": "restricted-list", "withhold": withhold},
        ]))  # fmt: skip
    if draw(st.booleans()):
        exclude["objections"] = {"feed": "objections-list"}
    return {"include": draw(st.sampled_from(["all", "matched_to_recipient"])), "where": where, "exclude": exclude}


def _agreement(population: dict, level: int = 1) -> Agreement:
    fields = {
        "id": {"description": "Id", "classification": "direct_identifier", "min_level": 1, "transform": {1: "pass"}},
        "chi": {"description": "CHI", "classification": "direct_identifier", "min_level": 1, "transform": {1: "pass"}},
        "name": {"description": "Name", "classification": "direct_identifier", "min_level": 1,
                 "transform": {1: "pass"}},
        "package": {"description": "Package", "classification": "special_category", "min_level": 2,
                    "transform": {2: "pass"}},
        "end": {"description": "End", "classification": "operational", "min_level": 1},
        "flag": {"description": "Flag", "classification": "operational", "min_level": 4},
    }  # fmt: skip
    doc = agreement_doc(recipients=[{"partner": "board", "level": level, "population": population}],
                        datasets={"clients": {"fields": fields}})  # fmt: skip
    doc["sign_off"].pop("gp")
    return Agreement.model_validate(doc)


def _listed(ids: list[str], chis: list[str], kind: str) -> PersonList:
    frame = pd.DataFrame({"chi_number": chis + [None] * len(ids), "source_id": [None] * len(chis) + ids})
    return PersonList.of(kind, f"{kind}-list", "b1", frame, same_ids=True)


def _oracle(pop: Population, row: dict, matched: set, objected: PersonList, restricted: PersonList) -> str | None:
    """The first reason this record is withheld, reading the rules one by one; None if it may leave."""

    def on(lst: PersonList) -> bool:
        return row["id"] in set(lst.source) or (row["chi"] is not None and row["chi"] in set(lst.chi))

    def blank(v) -> bool:
        return v is None or str(v).strip() == ""

    def holds(c) -> bool:
        v = row[c.column]
        if c.test == "present":
            return not blank(v) if c.present else blank(v)
        if blank(v):
            return c.or_missing
        if c.test == "one_of":
            return v in c.one_of
        if c.test == "none_of":
            return v not in c.none_of
        bound = TODAY if getattr(c, c.test) == "today" else getattr(c, c.test)
        return v >= bound if c.test == "on_or_after" else v < bound

    r = pop.exclude.restricted
    is_restricted = r is not None and (row["flag"] in (r.values or []) if r.column else on(restricted))
    reasons = {
        "objected": pop.exclude.objections is not None and on(objected),
        "restricted": is_restricted and r.withhold == "record",
        "not_matched": pop.include == "matched_to_recipient" and row["id"] not in matched,
        "filtered": not all(holds(c) for c in pop.where),
    }
    return next((k for k in WITHHELD_REASONS if reasons[k]), None)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=frames(), population=populations(), data=st.data(), level=st.integers(1, 4))
def test_no_row_outside_the_population_ever_leaves_and_only_the_level_s_columns_do(frame, population, data, level):
    a = _agreement(population, level)
    pop = a.recipients[0].population
    ids = list(frame["id"])
    pick = st.lists(st.sampled_from(ids), unique=True) if ids else st.just([])
    chis = st.lists(st.sampled_from([f"{k:010d}" for k in range(1, 30)]), unique=True)
    matched = set(data.draw(pick))
    objected = _listed(data.draw(pick), data.draw(chis), "objections")
    restricted = _listed(data.draw(pick), data.draw(chis), "restricted")
    plan = gate(a, "clients", "board", list(frame.columns), on=TODAY)
    people = People(frame["id"].astype("string"), frame["chi"].astype("string"), None)
    evidence = Evidence(pd.Index(sorted(matched), dtype=object), objected, restricted)

    out, _, admission = plan.release(frame, people, evidence)

    expected = [_oracle(pop, row, matched, objected, restricted) for row in frame.to_dict("records")]
    kept_ids = [i for i, why in zip(ids, expected, strict=True) if why is None]
    assert list(frame.loc[admission.keep, "id"]) == kept_ids  # exactly the people the rules admit, in order
    assert len(out) == len(kept_ids)
    counted = {k: sum(1 for w in expected if w == k) for k in WITHHELD_REASONS}
    assert {k: v for k, v in admission.withheld.items() if v} == {k: v for k, v in counted.items() if v}
    assert sum(admission.withheld.values()) + admission.kept == len(frame)
    allowed = {n for n, e in a.datasets["clients"].fields.items() if e.transform_at(level) != "drop"}
    assert set(out.columns) <= allowed  # the columns: the level's only
    r = pop.exclude.restricted
    if r is not None and r.withhold != "record" and "name" in out.columns:
        for row, sent in zip(frame[admission.keep].to_dict("records"), out.to_dict("records"), strict=True):
            marked = row["flag"] == "Y" if r.column else (
                row["id"] in set(restricted.source) or (row["chi"] is not None and row["chi"] in set(restricted.chi))
            )  # fmt: skip
            assert (sent["name"] is None) == marked  # a restricted record's named fields are blanked, no other's
    assert set(admission.admitted) <= ({"all"} if pop.include == "all" else {"matched"})


def test_each_rule_kind_refuses_when_its_evidence_was_not_read():
    frame = pd.DataFrame({"id": ["C1"], "chi": [None], "package": ["x"], "end": [None], "flag": ["N"], "name": ["n"]})
    people = People(frame["id"].astype("string"), None, None)
    for population, missing in (
        ({"include": "matched_to_recipient"}, "linked"),
        ({"include": "all", "exclude": {"objections": {"feed": "objections-o"}}}, "objections list objections-o"),
        ({"include": "all", "exclude": {"restricted": {"feed": "restricted-r"}}}, "restricted list restricted-r"),
    ):
        pop = _agreement(population).recipients[0].population
        with pytest.raises(EgressRefused, match=missing):
            admit(pop, frame, people, Evidence(), on=TODAY)


def test_a_record_level_plan_cannot_skip_the_row_rules():
    plan = gate(_agreement({"include": "matched_to_recipient"}), "clients", "board", ["id", "name"], on=TODAY)
    with pytest.raises(EgressRefused, match="must pass the population rules"):
        plan.apply(pd.DataFrame({"id": ["C1"], "name": ["n"]}))


def test_a_rule_over_a_million_rows_is_set_wise():
    """A million records through every rule kind at once: decided as whole arrays, every record counted once."""
    n = 1_000_000
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({
        "id": pd.Series([f"C{i}" for i in range(n)], dtype=object),
        "chi": pd.Series(np.where(rng.random(n) < 0.8, [f"{k:010d}" for k in rng.integers(1, 10**9, n)], None)),
        "package": rng.choice(PACKAGES, n), "end": (pd.Timestamp(TODAY) + pd.to_timedelta(rng.integers(-400, 400, n),
                                                                                      unit="D")).date,
        "flag": rng.choice(FLAGS, n), "name": "x",
    })  # fmt: skip
    pop = _agreement({
        "include": "matched_to_recipient", "where": [{"column": "end", "on_or_after": "today", "or_missing": True}],
        "exclude": {"restricted": {"column": "flag", "values": ["Y"]}, "objections": {"feed": "objections-o"}},
    }).recipients[0].population  # fmt: skip
    matched = pd.Index(frame["id"][::2])
    objected = _listed(list(frame["id"][::7]), [], "objections")
    people = People(frame["id"].astype("string"), frame["chi"].astype("string"), None)
    a = admit(pop, frame, people, Evidence(matched, objected), on=TODAY)
    assert isinstance(a.keep, np.ndarray) and a.keep.shape == (n,)
    assert sum(a.withheld.values()) + a.kept == n and a.withheld["not_matched"] > 0 and a.withheld["objected"] > 0
