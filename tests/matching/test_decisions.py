"""The decision rules on hand-made scores: no Splink, no database."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crosswalk.matching.decisions import (
    AUTO,
    REVIEW,
    SCORE_IN_REVIEW_BAND,
    SOLE_CANDIDATE,
    Thresholds,
    decide,
    deterministic,
)


def _records(ids, chis=None):
    return pd.DataFrame(
        {"record_id": ids, "chi": chis or [None] * len(ids), "forename": "ann", "surname": "lee",
         "date_of_birth": "1970-01-01"}
    )  # fmt: skip


def _scores(rows):
    frame = pd.DataFrame(rows, columns=["record_id_l", "record_id_r", "match_probability"])
    frame["match_weight"] = np.log2(frame["match_probability"] / (1 - frame["match_probability"]))
    return frame


@pytest.fixture
def case():
    source, index = _records(["S1", "S2", "S3"]), _records(["I1", "I2", "I3", "I4"])
    scores = _scores(
        [
            ("S1", "I1", 0.7),  # the only candidate, in the review band
            ("S2", "I2", 0.7),  # in the review band, with a runner-up
            ("S2", "I3", 0.3),
            ("S3", "I4", 0.4),  # below the band
        ]
    )
    return source, index, deterministic(source, index), scores


def test_in_the_review_band_every_candidate_waits_for_a_reviewer_by_default(case):
    out = decide(*case, Thresholds()).set_index("record_id")
    assert out.loc["S1", "band"] == REVIEW and out.loc["S1", "reason"] == SCORE_IN_REVIEW_BAND
    assert out.loc["S2", "band"] == REVIEW
    assert out.loc["S3", "band"] == "none"


def test_where_the_index_holds_no_families_a_sole_candidate_in_the_review_band_links(case):
    out = decide(*case, Thresholds(), sole_candidate_links=True).set_index("record_id")
    assert (out.loc["S1", "band"], out.loc["S1", "reason"], out.loc["S1", "matched_record_id"]) == (
        AUTO,
        SOLE_CANDIDATE,
        "I1",
    )
    # A runner-up, however weak, means someone else is in the running: still a reviewer's call.
    assert out.loc["S2", "band"] == REVIEW and out.loc["S2", "reason"] == SCORE_IN_REVIEW_BAND
    assert out.loc["S3", "band"] == "none"
