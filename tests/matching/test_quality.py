"""Estimated precision and recall from the reviewers' labels: the labels correct the model's probabilities,
too few labels give no estimate, and nothing but counts and rates comes out."""

from __future__ import annotations

import pandas as pd
import pytest

from crosswalk.matching.quality import MIN_LABELS, estimate

RESULT = pd.DataFrame(
    {
        "method": ["deterministic", "probabilistic", "probabilistic", "probabilistic", None],
        "band": ["auto", "auto", "review", "review", "none"],
        "match_probability": [1.0, 0.96, 0.7, 0.6, None],
    }
)


def _labels(n: int, p: float, matched: float) -> pd.DataFrame:
    k = round(n * matched)
    return pd.DataFrame({"match_probability": [p] * n, "match": [True] * k + [False] * (n - k)})


def test_calibrated_labels_leave_the_probabilities_as_they_are():
    got = estimate(RESULT, _labels(40, 0.65, 0.65))
    # precision: (1 + 0.96) / 2; recall: 1.96 over 1 + 0.96 + 0.7 + 0.6
    assert got["estimated_precision"] == pytest.approx(0.98, abs=1e-4)
    assert got["estimated_recall"] == pytest.approx(1.96 / 3.26, abs=1e-4)
    assert set(got) == {"labelled_pairs", "labelled_match_rate", "model_probability_on_labelled",
                        "estimated_precision", "estimated_recall"}  # fmt: skip


def test_an_overconfident_model_is_corrected_by_its_labels():
    # Reviewers found half the pairs the model put at 0.75 to be matches: errors are twice what it says.
    got = estimate(RESULT, _labels(40, 0.75, 0.5))
    assert got["estimated_precision"] == pytest.approx((1 + (1 - 0.04 * 2)) / 2, abs=1e-4)
    assert got["estimated_precision"] < estimate(RESULT, _labels(40, 0.75, 0.75))["estimated_precision"]


def test_too_few_labels_give_no_estimate():
    got = estimate(RESULT, _labels(MIN_LABELS - 1, 0.7, 0.7))
    assert got == {"labelled_pairs": MIN_LABELS - 1, "estimate": f"none: fewer than {MIN_LABELS} clerical decisions"}


def test_a_model_on_labelled_pairs_counts_true_wrong_and_missed_links():
    from crosswalk.matching.quality import on_labels

    result = pd.DataFrame(
        {"record_id": ["a", "b", "c", "d"], "matched_record_id": ["A", "X", "C", "D"],
         "band": ["auto", "auto", "review", "auto"]}
    )  # fmt: skip
    labels = pd.DataFrame(
        {"record_id": ["a", "b", "c", "d"], "candidate_record_id": ["A", "B", "C", "D"],
         "match": [True, True, True, False]}
    )  # fmt: skip
    # a found; b linked elsewhere (missed); c only in review (missed); d linked though labelled a non-match
    assert on_labels(result, labels) == {
        "labelled_pairs": 4, "true_links": 1, "wrong_links": 1, "missed": 2, "precision": 0.5, "recall": 0.3333
    }  # fmt: skip
