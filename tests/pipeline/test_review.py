"""Review cards show only what the reviewer's organisation may see, as the agreements in force allow."""

from __future__ import annotations

from datetime import date

import pytest

from crosswalk.agreements.egress import EgressRefused
from crosswalk.config.loader import load_config
from crosswalk.pipeline.review import _shown, visible_fields
from tests.conftest import REPO
from tests.pipeline.test_flows_offline import staged  # noqa: F401 (a fixture)

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


def test_the_evidence_picture_folds_what_the_reviewer_may_not_see():
    from crosswalk.pipeline.review import HIDDEN, waterfall_markdown

    weights = {"prior": -8.0, "forename": 4.0, "surname": -2.0, "date_of_birth": 8.0, "chi_digits": 6.0}
    lines = waterfall_markdown(weights, visible={"forename", "surname", "chi_number"})
    rows = [ln for ln in lines if ln.startswith("| ") and not ln.startswith("| evidence")]
    assert rows == [
        "| prior (before any comparison) | -8.0 | ░░░░░░░░░░░░ |",
        "| forename | +4.0 | ██████ |",
        "| surname | -2.0 | ░░░ |",
        f"| {HIDDEN} | +8.0 | ████████████ |",  # date of birth: not shown to this reviewer
        "| chi_digits | +6.0 | █████████ |",
        "| **total** | **+8.0** | |",
    ]


def test_a_review_card_shows_the_model_s_evidence_adding_up_to_the_pair_s_weight(staged):  # noqa: F811
    from sqlalchemy import text

    from crosswalk.pipeline.match import match_batch
    from crosswalk.pipeline.review import cards, pending

    feed = staged.cfg.inbound("council-clients")
    with staged.engine.connect() as conn:
        (batch,) = conn.execute(text("SELECT batch_id FROM batch WHERE feed_id = 'council-clients'")).scalars()
    match_batch(staged.engine, staged.audit("match"), staged.cfg, feed, batch)
    with staged.engine.begin() as conn:  # put one probabilistic link up for review, as a borderline one would be
        one = "SELECT source_record_id FROM crosswalk WHERE match_weight IS NOT NULL AND match_weight < 100 LIMIT 1"
        conn.execute(text(f"UPDATE crosswalk SET band = 'review' WHERE source_record_id = ({one})"))
    pairs = pending(staged.engine, feed.id)
    assert pairs
    (card,) = cards(staged.cfg, staged.engine, feed, pairs[:1])
    body = card["body"]
    assert "How the model weighs this pair" in body
    total = next(ln for ln in body.splitlines() if ln.startswith("| **total**"))
    assert total == f"| **total** | **{pairs[0].match_weight:+.1f}** | |"
