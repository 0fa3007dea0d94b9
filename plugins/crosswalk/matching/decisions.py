"""What the scores decide: the deterministic rule, the identifier veto, the one-to-one best link, bands.

a. deterministic: the same valid CHI on both sides and a compatible date of birth (equal, missing on
   one side, day and month swapped, or one keystroke out where the CHI, which carries the date of birth,
   agrees with the other side) links at once, unless the forenames clearly disagree (a CHI copied from a
   relative's record is a real entry error): that pair goes to review with its reason;
c. veto: two valid, different CHIs never link automatically (the pair is dropped);
d. one-to-one: a source record takes its best candidate only when it leads the runner-up by
   ``min_lead`` match weight; otherwise the pair goes to review;
e. bands: ``upper`` and above links, ``lower`` to ``upper`` goes to review, below is no match
   (defaults 0.90 and 0.50; per feed in config). Where the index holds no families
   (:mod:`crosswalk.matching.families`), a sole candidate (no other index record scored at all) in the
   review band links: the score is then a fair probability (no household's shared evidence inflates it),
   and no one else is in the running.

(b, the probabilistic scores, comes from :mod:`crosswalk.matching.link`.) Pure pandas: testable on a
handful of hand-made scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MODEL_VERSION = "link-v1"


AUTO, REVIEW, NONE = "auto", "review", "none"
WEIGHT_DECIMALS = 9  # match weights agree to about 1e-14 between DuckDB and Spark: order by them to 1e-9


DETERMINISTIC, PROBABILISTIC = "deterministic", "probabilistic"

# Why a record landed in its band: a code per decision, kept in the crosswalk and shown to reviewers.
SAME_CHI = "same_chi"
SAME_CHI_FORENAMES_DISAGREE = "same_chi_forenames_disagree"
SCORE_ABOVE_AUTO = "score_above_auto"
LEAD_BELOW_MARGIN = "lead_below_margin"
SCORE_IN_REVIEW_BAND = "score_in_review_band"
SOLE_CANDIDATE = "sole_candidate"


@dataclass(frozen=True)
class Thresholds:
    # Tuned on bench/people.py (20k): with the CHI veto and the lead margin guarding precision, auto
    # linking from p 0.9 kept precision at 0.9997 and lifted recall from 0.974 (p 0.99) to 0.991.
    upper: float = 0.90  # match probability at or above which a link is made without review
    lower: float = 0.50  # below this, no match; between, clerical review
    min_lead: float = 4.0  # match weight (bits) by which the best candidate must beat the runner-up
    em_max_pairs: float = 1e6  # pairs for training: random pairs for u, about as many blocked pairs for EM


def compatible_dob(a: pd.Series, b: pd.Series) -> np.ndarray:
    same = (a == b).fillna(False).to_numpy(dtype=bool)
    missing = (a.isna() | b.isna()).to_numpy()
    swapped = (a.str[:4] == b.str[:4]) & (a.str[5:7] == b.str[8:10]) & (a.str[8:10] == b.str[5:7])
    return same | missing | swapped.fillna(False).to_numpy(dtype=bool)


def chi_carries(dob: pd.Series, chi: pd.Series) -> np.ndarray:
    """The CHI's first six digits are the holder's date of birth (DDMMYY): does ``dob`` (ISO) agree?"""
    ddmmyy = dob.str[8:10] + dob.str[5:7] + dob.str[2:4]
    return (ddmmyy == chi.str[:6]).fillna(False).to_numpy(dtype=bool)


def one_keystroke(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Damerau-Levenshtein distance at most 1 where both have a value (run on the few pairs that need it)."""
    from jellyfish import damerau_levenshtein_distance

    both = (a.notna() & b.notna()).to_numpy(dtype=bool)
    out = np.zeros(len(a), dtype=bool)
    pairs = zip(a[both].tolist(), b[both].tolist(), strict=True)
    out[both] = np.fromiter((damerau_levenshtein_distance(x, y) <= 1 for x, y in pairs), dtype=bool, count=both.sum())
    return out


def dob_agrees_with_chi(dob_l: pd.Series, dob_r: pd.Series, chi: pd.Series) -> np.ndarray:
    """Two records holding one CHI are the same birth: the dates compatible, or one keystroke apart with the
    CHI agreeing with one of them (so the other is the typo)."""
    ok = compatible_dob(dob_l, dob_r)
    near = ~ok & (chi_carries(dob_l, chi) | chi_carries(dob_r, chi))
    ok[near] = one_keystroke(dob_l[near], dob_r[near])
    return ok


FORENAMES_ALIKE = 0.7  # Jaro-Winkler: Splink's loosest name level; below it, names are "not alike at all"


def forenames_disagree(pairs: pd.DataFrame) -> np.ndarray:
    """Forenames that are not alike at all (Jaro-Winkler below 0.7, more than one keystroke apart, not the
    other record's surname): what a CHI copied from a relative's record looks like. A surname may change;
    a missing forename disagrees with nothing."""
    from jellyfish import jaro_winkler_similarity

    a, b = pairs["forename_l"], pairs["forename_r"]
    both = (a.notna() & b.notna()).to_numpy(dtype=bool)
    out = np.zeros(len(pairs), dtype=bool)
    names = zip(a[both].tolist(), b[both].tolist(), strict=True)
    out[both] = np.fromiter((jaro_winkler_similarity(x, y) < FORENAMES_ALIKE for x, y in names), bool, both.sum())
    out &= ~one_keystroke(a, b)
    out &= ~((a == pairs["surname_r"]) | (b == pairs["surname_l"])).fillna(False).to_numpy(dtype=bool)
    return out


def deterministic(source: pd.DataFrame, index: pd.DataFrame) -> pd.DataFrame:
    """Pairs with the same valid CHI and a date of birth it agrees with (:func:`dob_agrees_with_chi`):
    ``band`` auto, or review where the forenames disagree; ``reason`` says which."""
    pairs = source.dropna(subset=["chi"]).merge(index.dropna(subset=["chi"]), on="chi", suffixes=("_l", "_r"))
    pairs = pairs[dob_agrees_with_chi(pairs["date_of_birth_l"], pairs["date_of_birth_r"], pairs["chi"])]
    conflict = forenames_disagree(pairs)
    return pd.DataFrame(
        {
            "record_id_l": pairs["record_id_l"],
            "record_id_r": pairs["record_id_r"],
            "chi_r": pairs["chi"],
            "band": np.where(conflict, REVIEW, AUTO),
            "reason": np.where(conflict, SAME_CHI_FORENAMES_DISAGREE, SAME_CHI),
        }
    )


def band_counts(result: pd.DataFrame) -> dict[str, int]:
    """Counts per method and band (for logs and the audit trail; never values)."""
    keys = result["method"].fillna("none").astype(str) + ":" + result["band"].astype(str)
    return {k: int(v) for k, v in sorted(keys.value_counts().items())}


def empty_scores() -> pd.DataFrame:
    """No scored pairs (nothing left for the model, or one side empty)."""
    return pd.DataFrame(
        {"record_id_l": pd.Series(dtype="string"), "record_id_r": pd.Series(dtype="string"),
         "match_weight": pd.Series(dtype=float), "match_probability": pd.Series(dtype=float)}
    )  # fmt: skip


def decide(
    source: pd.DataFrame,
    index: pd.DataFrame,
    det: pd.DataFrame,
    scores: pd.DataFrame,
    t: Thresholds,
    *,
    sole_candidate_links: bool = False,
) -> pd.DataFrame:
    """One row per prepared source record from the deterministic pairs ``det`` (``record_id_l``,
    ``record_id_r``, ``band``, ``reason``) and the model's ``scores`` (``record_id_l``, ``record_id_r``,
    ``match_weight``, ``match_probability``): the veto, the one-to-one best link with its lead, and the
    bands, each with its ``reason``. ``sole_candidate_links``: a review-band candidate with no runner-up
    links (only where the index holds no families)."""
    # Veto: two valid, different CHIs are two people.
    chi_l = scores["record_id_l"].map(source.set_index("record_id")["chi"])
    chi_r = scores["record_id_r"].map(index.set_index("record_id")["chi"])
    vetoed = (chi_l.notna() & chi_r.notna() & (chi_l != chi_r)).to_numpy()
    # Best first; equal weights (twins' records score alike) by candidate id, so the choice depends on neither the
    # engine's row order nor the last bits of its arithmetic (weights rounded for the order only).
    scores = scores[~vetoed].assign(_order=lambda f: f["match_weight"].round(WEIGHT_DECIMALS))
    scores = scores.sort_values(["record_id_l", "_order", "record_id_r"], ascending=[True, False, True])
    best = scores.groupby("record_id_l", sort=False).head(1).set_index("record_id_l")
    runner = scores.groupby("record_id_l", sort=False).nth(1).set_index("record_id_l")["match_weight"]

    out = pd.DataFrame({"record_id": source["record_id"]}).set_index("record_id", drop=False)
    out["matched_record_id"] = pd.Series(dtype="string")
    out["method"], out["band"] = pd.NA, NONE
    out["match_weight"], out["match_probability"], out["runner_up_weight"] = np.nan, np.nan, np.nan
    b = best.reindex(out.index)
    has = b["record_id_r"].notna()
    out.loc[has, "matched_record_id"] = b.loc[has, "record_id_r"]
    out.loc[has, "match_weight"] = b.loc[has, "match_weight"]
    out.loc[has, "match_probability"] = b.loc[has, "match_probability"]
    out["runner_up_weight"] = runner.reindex(out.index)
    lead_ok = (out["match_weight"] - out["runner_up_weight"].fillna(-np.inf)) >= t.min_lead
    p = out["match_probability"]
    out["reason"] = pd.Series(pd.NA, index=out.index, dtype="string")
    out.loc[has, "method"] = PROBABILISTIC
    auto = has & (p >= t.upper) & lead_ok
    out.loc[auto, ["band", "reason"]] = [AUTO, SCORE_ABOVE_AUTO]
    out.loc[has & (p >= t.upper) & ~lead_ok, ["band", "reason"]] = [REVIEW, LEAD_BELOW_MARGIN]
    out.loc[has & (p >= t.lower) & (p < t.upper), ["band", "reason"]] = [REVIEW, SCORE_IN_REVIEW_BAND]
    if sole_candidate_links:
        sole = has & (p >= t.lower) & (p < t.upper) & out["runner_up_weight"].isna()
        out.loc[sole, ["band", "reason"]] = [AUTO, SOLE_CANDIDATE]
    d = det.set_index("record_id_l")
    out.loc[d.index, ["matched_record_id", "method", "band", "reason"]] = np.column_stack(
        [d["record_id_r"], np.full(len(d), DETERMINISTIC), d["band"], d["reason"]]
    )
    out.loc[d.index, ["match_weight", "match_probability"]] = [np.inf, 1.0]
    out.loc[out["band"] == NONE, ["matched_record_id", "method", "reason"]] = pd.NA
    out["matched_chi"] = out["matched_record_id"].map(index.set_index("record_id")["chi"])
    out.loc[out["band"] != AUTO, "matched_chi"] = pd.NA
    return out.reset_index(drop=True)
