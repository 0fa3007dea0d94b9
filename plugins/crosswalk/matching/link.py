"""Link a social-care extract to a health-board index: deterministic, then probabilistic, with the
identifier veto, a one-to-one best link and bands.

The result has one row per source record: its best index record (if any), the method and band that
decided it, the match weight and probability, and the runner-up's weight. Pure: no Airflow, no database.
The stages live by job: :mod:`~crosswalk.matching.normalise` (the person columns),
:mod:`~crosswalk.matching.comparisons` and :mod:`~crosswalk.matching.training` (the Fellegi-Sunter model:
Splink 5 on DuckDB, u from random sampling, m by EM, term-frequency adjustments on names),
:mod:`~crosswalk.matching.decisions` (the rules and bands that turn scores into links).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from crosswalk.matching.decisions import Thresholds, band_counts, decide, deterministic, empty_scores
from crosswalk.matching.engines import DEFAULT, Backend
from crosswalk.matching.families import family_evidence
from crosswalk.matching.model import PRIOR, SavedModel
from crosswalk.matching.normalise import optional_columns, prepare
from crosswalk.matching.training import scoring_linker, trained_linker

log = logging.getLogger(__name__)


def _link_args(index: pd.DataFrame, t: Thresholds, model: SavedModel | None, tf_from=None) -> dict:
    from splink import block_on

    return {
        "more_blocks": (
            block_on("forename", "postcode"),
            "l.forename = r.surname and l.surname = r.forename",  # names entered the wrong way round
        ),
        "em_max_pairs": t.em_max_pairs,
        "model": model,
        "tf_from": index if tf_from is None else tf_from,
    }


def train_link_model(source_people: pd.DataFrame, index_people: pd.DataFrame, t: Thresholds = Thresholds()):
    """Train the link model on both sides and return it, saved (:class:`SavedModel`): what a later
    :func:`link` of a day's delta reuses instead of training again."""
    source, index = prepare(source_people), prepare(index_people)
    frames = {"source_records": source, "index_records": index}
    linker = trained_linker(frames, "link_only", **_link_args(index, t, None))
    families = family_evidence(index).present
    return SavedModel.from_linker(linker, "link_only", optional_columns(source, index), [source, index], families)


def _splink_scores(
    source: pd.DataFrame,
    index: pd.DataFrame,
    t: Thresholds,
    model: SavedModel | None,
    tf_from=None,
    backend: Backend = DEFAULT,
) -> pd.DataFrame:
    frames = {"source_records": source, "index_records": index}
    with scoring_linker(frames, "link_only", backend=backend, **_link_args(index, t, model, tf_from)) as linker:
        # Score down to half the review threshold: enough to see every runner-up that matters for the lead.
        scored = linker.inference.predict(threshold_match_probability=t.lower / 2).as_pandas_dataframe()
    # Orient each pair as (source, index) whichever way round Splink put them.
    flip = scored["source_dataset_l"] != "source_records"
    return pd.DataFrame(
        {
            "record_id_l": np.where(flip, scored["unique_id_r"], scored["unique_id_l"]),
            "record_id_r": np.where(flip, scored["unique_id_l"], scored["unique_id_r"]),
            "match_weight": scored["match_weight"].astype(float),
            "match_probability": scored["match_probability"].astype(float),
        }
    )


def pair_evidence(
    source: pd.DataFrame, index: pd.DataFrame, pairs: list[tuple[str, str]], model: SavedModel,
    tf_from: pd.DataFrame | None = None,
) -> dict[tuple[str, str], dict[str, float]]:  # fmt: skip
    """What each comparison contributed to each (source record, index record) pair, as the saved model scores it:
    ``prior`` and one match weight (log2 of the Bayes factor, name frequencies included) per comparison, which
    add up to the pair's match weight. Splink's own intermediate columns, on records already prepared; a review card's
    waterfall (counts and weights only: no value)."""
    frames = {
        "source_records": source[source["record_id"].isin({s for s, _ in pairs})],
        "index_records": index[index["record_id"].isin({c for _, c in pairs})],
    }
    args = {**_link_args(frames["index_records"], Thresholds(), model, tf_from), "intermediate": True}
    with scoring_linker(frames, "link_only", **args) as linker:
        scored = linker.inference.predict().as_pandas_dataframe()
    prior = model.match_weights().get(PRIOR, 0.0)
    wanted, out = set(pairs), {}
    for row in scored.to_dict("records"):
        flip = row["source_dataset_l"] != "source_records"
        key = (str(row["unique_id_r" if flip else "unique_id_l"]), str(row["unique_id_l" if flip else "unique_id_r"]))
        if key not in wanted:
            continue
        weights = {PRIOR: prior}
        for col, mw in row.items():  # Splink's mw_<comparison>, and mw_tf_adj_<comparison> for name frequencies
            if col.startswith("mw_") and not col.startswith("mw_tf_adj_") and mw is not None:
                tf = row.get(f"mw_tf_adj_{col[3:]}")
                weights[col[3:]] = float(mw) + (float(tf) if tf is not None and np.isfinite(tf) else 0.0)
        out[key] = weights
    return out


def link(
    source_people: pd.DataFrame,
    index_people: pd.DataFrame,
    t: Thresholds = Thresholds(),
    model: SavedModel | None = None,
    *,
    backend: Backend = DEFAULT,
) -> pd.DataFrame:
    """One row per source record: ``record_id, matched_record_id, matched_chi, method, band, match_weight,
    match_probability, runner_up_weight, reason``. With a saved ``model`` nothing is trained: only the source
    records (a day's delta) are scored against the index. ``backend``: where the pairs are scored
    (:mod:`crosswalk.matching.engines`)."""
    return link_prepared(prepare(source_people), prepare(index_people), t, model, backend=backend)


def link_prepared(
    source: pd.DataFrame,
    index: pd.DataFrame,
    t: Thresholds = Thresholds(),
    model: SavedModel | None = None,
    *,
    tf_from: pd.DataFrame | None = None,
    backend: Backend = DEFAULT,
) -> pd.DataFrame:
    """:func:`link` on records already prepared (:func:`~crosswalk.matching.normalise.prepare`), so a caller
    linking several parts against one index prepares it once. ``tf_from``: the prepared population whose
    name frequencies the scores use, when ``index`` is only part of it (the index records that changed)."""
    det = deterministic(source, index)
    det = det.drop_duplicates("record_id_l")  # the same CHI twice in the index is the index's problem, not ours
    # Arrow's is_in: pandas' isin on Arrow strings makes a Python object of every value looked for (2 s at 1M).
    linked = pc.is_in(pa.array(source["record_id"]), value_set=pa.array(det["record_id_l"]))
    rest = source[~linked.to_numpy(zero_copy_only=False)]
    scores = _splink_scores(rest, index, t, model, tf_from, backend) if len(rest) and len(index) else empty_scores()
    if model is not None:  # measured on the index it was trained with: a delta's index is the same population
        families = model.families
    else:
        evidence = family_evidence(index)
        evidence.log("the review band for a sole candidate is")
        families = evidence.present
    out = decide(source, index, det, scores, t, sole_candidate_links=not families)
    log.info("Linked %d source record(s): %s", len(out), band_counts(out))
    return out
