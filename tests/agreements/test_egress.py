"""The egress gate: allow-list semantics at the recipient's level."""

from __future__ import annotations

import pytest

from crosswalk.agreements.egress import plan_egress
from crosswalk.config.models import Agreement
from crosswalk.errors import EgressRefused

AGREEMENT = Agreement.model_validate(
    {
        "id": "isp",
        "version": 3,
        "title": "t",
        "provider": "council",
        "recipients": [{"partner": "board", "level": 1}, {"partner": "gp", "level": 2}],
        "datasets": {
            "clients": {
                "fields": {
                    "id": {"level": 1},
                    "name": {"level": 1},
                    "package": {"level": 2},
                    "assessment": {"level": 3},
                }
            }
        },
    }
)


def test_level_one_recipient_gets_level_one_fields_only():
    plan = plan_egress(AGREEMENT, "clients", "board", ["id", "name", "package", "assessment"])
    assert plan.kept == ["id", "name"] and plan.removed == ["package", "assessment"]
    assert (plan.agreement_id, plan.agreement_version, plan.level) == ("isp", 3, 1)


def test_level_two_recipient_also_gets_level_two():
    assert plan_egress(AGREEMENT, "clients", "gp", ["id", "package", "assessment"]).kept == ["id", "package"]


def test_unknown_column_stops_everything():
    with pytest.raises(EgressRefused, match=r"no rule for column\(s\) \['religion'\]"):
        plan_egress(AGREEMENT, "clients", "gp", ["id", "religion"])


def test_recipient_not_named_and_dataset_not_covered_are_refused():
    with pytest.raises(EgressRefused, match="does not name police as a recipient"):
        plan_egress(AGREEMENT, "clients", "police", ["id"])
    with pytest.raises(EgressRefused, match="no rules for dataset index"):
        plan_egress(AGREEMENT, "index", "board", ["id"])
