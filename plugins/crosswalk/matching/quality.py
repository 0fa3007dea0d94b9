"""Estimated precision and recall of a link run, from the reviewers' decisions.

Nobody knows the true links of a live run, but the clerical decisions are labels: pairs the model scored
(in the review band) that a person then called a match or not. Their observed match rate, against the
model's mean probability for the same pairs, says how far the model's probabilities are off; the run's
probabilities, corrected by that much, give expected counts:

- precision of the automatic links: one less their expected share of wrong links (deterministic links
  count as right: two records holding one valid CHI);
- recall: the expected right links made automatically, over the expected right links among every pair the
  model scored. Pairs the blocking never produced are not counted, so recall is an upper estimate.

The correction scales each probability's error ``1 - p`` by ``(1 - observed) / (1 - predicted)`` on the
labelled pairs. With fewer than :data:`MIN_LABELS` labels there is no estimate. Counts and rates only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from crosswalk.matching.decisions import AUTO, DETERMINISTIC

MIN_LABELS = 20


def estimate(result: pd.DataFrame, labels: pd.DataFrame) -> dict[str, float | int | str]:
    """``result``: a link result (``method, band, match_probability``); ``labels``: the clerical decisions
    with the probability the model gave each pair (``match_probability``, ``match``: bool)."""
    labels = labels.dropna(subset=["match_probability"])
    n = len(labels)
    if n < MIN_LABELS:
        return {"labelled_pairs": n, "estimate": f"none: fewer than {MIN_LABELS} clerical decisions"}
    observed = float(labels["match"].mean())
    predicted = float(labels["match_probability"].mean())
    scale = (1 - observed) / (1 - predicted) if predicted < 1 else 1.0
    scored = result.dropna(subset=["match_probability"])
    det = scored["method"] == DETERMINISTIC
    p = scored["match_probability"].astype(float).clip(0, 1)
    adjusted = np.where(det, 1.0, (1 - (1 - p) * scale).clip(0, 1))
    auto = (scored["band"] == AUTO).to_numpy()
    expected_right_auto = float(adjusted[auto].sum())
    expected_right_all = float(adjusted.sum())
    return {
        "labelled_pairs": n,
        "labelled_match_rate": round(observed, 4),
        "model_probability_on_labelled": round(predicted, 4),
        "estimated_precision": round(expected_right_auto / auto.sum(), 4) if auto.any() else 1.0,
        "estimated_recall": round(expected_right_auto / expected_right_all, 4) if expected_right_all else 1.0,
    }


def on_labels(result: pd.DataFrame, labels: pd.DataFrame) -> dict[str, float | int]:
    """How a link ``result`` does on labelled pairs (``record_id, candidate_record_id, match``): a labelled
    match counts as found when the record is linked automatically to that candidate; a labelled non-match
    counts against precision when it is. For comparing a retrained model with the one in use."""
    linked = result[result["band"] == AUTO].set_index("record_id")["matched_record_id"].astype(str)
    got = labels["record_id"].astype(str).map(linked) == labels["candidate_record_id"].astype(str)
    match = labels["match"].astype(bool)
    tp, fp, fn = int((got & match).sum()), int((got & ~match).sum()), int((~got & match).sum())
    return {
        "labelled_pairs": len(labels),
        "true_links": tp,
        "wrong_links": fp,
        "missed": fn,
        "precision": round(tp / (tp + fp), 4) if tp + fp else 1.0,
        "recall": round(tp / (tp + fn), 4) if tp + fn else 1.0,
    }
