"""The egress gate: which agreement states stop a run (and say exactly why), and what leaves."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from crosswalk.agreements.egress import gate
from crosswalk.config.models.agreements import AgreementHistory
from crosswalk.errors import EgressRefused
from tests.support.agreements import TODAY, agreement

COLUMNS = ["id", "name", "dob", "postcode", "package", "assessment", "team"]
KEY = bytes(32)


def key_for(conn_id: str) -> bytes:
    assert conn_id == "key_isp"
    return KEY


def open_gate(a=None, recipient="board", columns=COLUMNS, on=TODAY):
    return gate(a or agreement(), "clients", recipient, columns, on=on, key_for=key_for)


def test_level_1_removes_higher_fields_and_transforms_the_rest():
    plan = open_gate()
    assert (plan.agreement_id, plan.agreement_version, plan.level) == ("isp", 3, 1)
    assert plan.sent == ("id", "name", "dob", "postcode")
    assert plan.removed == ("package", "assessment", "team")
    assert dict(plan.transforms) == {
        "id": "pseudonymise",
        "name": "mask",
        "dob": "generalise:year",
        "postcode": "generalise:district",
    }


def test_level_2_inherits_and_overrides_transforms_per_level():
    plan = open_gate(recipient="gp")
    assert plan.sent == ("id", "name", "dob", "postcode", "package")
    # id: level 1's pseudonymise carries on to level 2; name passes from 2; dob becomes month.
    assert dict(plan.transforms) == {"id": "pseudonymise", "dob": "generalise:month", "postcode": "generalise:sector"}


def test_a_drop_at_a_higher_level_removes_the_field_there():
    a = agreement(
        recipients=[
            {"partner": "board", "level": 4, "population": "all"},
            {"partner": "gp", "level": 2, "population": "all"},
        ]
    )
    plan = open_gate(a)
    assert "assessment" in plan.removed and "team" in plan.sent


def test_apply_sends_only_permitted_columns_transformed():
    frame = pd.DataFrame(
        {
            "id": ["C1", "C2"],
            "name": ["Jane Doe", None],
            "dob": ["1950-03-04", "not a date"],
            "postcode": ["AB12 3CD", "AB12 3CE"],
        },
        dtype=object,
    )
    out, malformed = open_gate(columns=list(frame.columns)).apply(frame)
    assert list(out.columns) == ["id", "name", "dob", "postcode"]
    assert out["name"].tolist() == ["***", None]
    assert out["dob"].tolist() == ["1950", None] and malformed == {"dob": 1}
    assert out["postcode"].tolist() == ["AB12", "AB12"]
    assert out["id"][0] != "C1" and len(out["id"][0]) == 64


def test_apply_refuses_a_column_the_plan_was_not_made_for():
    plan = open_gate(columns=["id"])
    with pytest.raises(EgressRefused, match=r"column\(s\) \['name'\] were not put to the gate"):
        plan.apply(pd.DataFrame({"id": ["C1"], "name": ["x"]}))


REFUSALS = {
    "unknown column": (
        dict(columns=[*COLUMNS, "religion"]),
        "agreement isp v3 has no catalogue entry for column(s) ['religion'] of clients; they may not leave",
    ),
    "recipient not named": (dict(recipient="police"), "agreement isp v3 does not name police as a recipient"),
    "expired": (
        dict(on=date(2027, 2, 1)),
        "agreement isp v3 expired on 2027-01-31; no version is in force on 2027-02-01",
    ),
    "not yet valid": (
        dict(on=date(2026, 1, 31)),
        "agreement isp v3 is not yet valid: it comes into force on 2026-02-01",
    ),
    "unsigned by the recipient": (
        dict(a=agreement(sign_off={"council": {"name": "A", "role": "DPO", "date": "2026-01-05"}})),
        "agreement isp v3 is not signed off by board, gp; IG sign-off by every party is required",
    ),
    "unsigned by the provider": (
        dict(
            a=agreement(
                sign_off={
                    "board": {"name": "B", "role": "CG", "date": "2026-01-05"},
                    "gp": {"name": "C", "role": "DPO", "date": "2026-01-05"},
                }
            )
        ),
        "agreement isp v3 is not signed off by council",
    ),
    "signed only after today": (
        dict(
            on=date(2026, 2, 1),
            a=agreement(
                sign_off={
                    "council": {"name": "A", "role": "DPO", "date": "2026-01-05"},
                    "board": {"name": "B", "role": "CG", "date": "2026-03-01"},
                    "gp": {"name": "C", "role": "DPO", "date": "2026-01-05"},
                }
            ),
        ),
        "agreement isp v3 is not signed off by board",
    ),
    "nothing left at the level": (dict(columns=["package"]), "agreement isp v3 allows no column of clients at level 1"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_the_gate_refuses_and_says_exactly_why(case):
    kwargs, message = REFUSALS[case]
    with pytest.raises(EgressRefused) as exc:
        open_gate(**kwargs)
    assert str(exc.value).startswith(message)


def test_between_two_versions_nothing_is_in_force():
    v3 = agreement(valid_until="2026-06-30")
    v4 = agreement(version=4, valid_from="2026-08-01", valid_until="2027-07-31")
    history = AgreementHistory([v4, v3])
    with pytest.raises(
        EgressRefused, match=r"no version in force on 2026-07-15: isp v3 ended 2026-06-30, isp v4 starts"
    ):
        gate(history, "clients", "board", COLUMNS, on=date(2026, 7, 15), key_for=key_for)
    assert gate(history, "clients", "board", COLUMNS, on=date(2026, 8, 1), key_for=key_for).agreement_version == 4


def test_a_dataset_the_agreement_does_not_cover_is_refused():
    with pytest.raises(EgressRefused, match="agreement isp v3 has no catalogue for dataset assessments"):
        gate(agreement(), "assessments", "board", ["id"], on=TODAY, key_for=key_for)


def test_pseudonymising_needs_the_key_lookup():
    with pytest.raises(EgressRefused, match="pseudonymises fields but no key lookup was given"):
        gate(agreement(), "clients", "board", COLUMNS, on=TODAY)
