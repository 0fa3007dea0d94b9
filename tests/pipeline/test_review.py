"""Review cards show only what the reviewer's organisation may see, as the agreements in force allow."""

from __future__ import annotations

from datetime import date

import pytest

from crosswalk.agreements.egress import EgressRefused
from crosswalk.config.loader import load_config
from crosswalk.pipeline.review import _shown, visible_fields
from tests.conftest import REPO

CFG = load_config(REPO / "config", REPO / "include" / "schemas", check_descriptors=False)
ON = date(2026, 11, 21)
CLIENT = {"source_id": "SC-1", "chi_number": "0101011237", "forename": "Ann", "surname": "Smith",
          "date_of_birth": "1901-01-01", "sex": "F", "postcode": "NS1 1AA", "address_line1": "1 High St"}  # fmt: skip


def _reviewed_by(partner: str):
    feed = CFG.inbound("council-clients")
    return feed.model_copy(update={"matching": feed.matching.model_copy(update={"reviewer": partner})})


def test_a_reviewer_sees_their_own_organisations_records_in_full():
    feed = _reviewed_by("northshire-council")
    assert feed.reviewer == "northshire-council"
    assert visible_fields(CFG, feed, feed.reviewer, on=ON) is None
    assert _shown(CLIENT, None) == CLIENT


def test_a_reviewer_at_the_other_organisation_sees_the_card_through_the_agreement_at_their_level():
    feed = _reviewed_by("nhs-northshire")
    plan = visible_fields(CFG, feed, "nhs-northshire", on=ON)
    assert plan is not None and (plan.agreement_id, plan.level) == ("northshire-isp", 2)
    shown = _shown(CLIENT, plan)
    # northshire-isp v2 pseudonymises the council's record id at level 2: the card withholds it.
    assert shown["source_id"] == "(withheld: pseudonymise)"
    assert {k: v for k, v in shown.items() if k != "source_id"} == {k: v for k, v in CLIENT.items() if k != "source_id"}


def test_a_reviewer_with_no_agreement_for_the_data_sees_nothing():
    feed = _reviewed_by("nhs-northshire")
    index = CFG.inbound("health-index")
    with pytest.raises(EgressRefused, match="no agreement in force lets someone-else"):
        visible_fields(CFG, index, "someone-else", on=ON)
    # After the agreement expires, the board's reviewers see no council record at all.
    with pytest.raises(EgressRefused, match="no agreement in force lets nhs-northshire see social_care_client"):
        visible_fields(CFG, feed, "nhs-northshire", on=date(2031, 1, 1))
