"""What the scores decide: the deterministic rule, the identifier veto, the one-to-one best link, bands.

a. deterministic: the same valid CHI on both sides and a compatible date of birth (equal, missing on
   one side, or day and month swapped) links at once;
c. veto: two valid, different CHIs never link automatically (the pair is dropped);
d. one-to-one: a source record takes its best candidate only when it leads the runner-up by
   ``min_lead`` match weight; otherwise the pair goes to review;
e. bands: ``upper`` and above links, ``lower`` to ``upper`` goes to review, below is no match
   (defaults 0.90 and 0.50; per feed in config).

(b, the probabilistic scores, comes from :mod:`crosswalk.matching.link`.) Pure pandas: testable on a
handful of hand-made scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

MODEL_VERSION = "link-v1"


AUTO, REVIEW, NONE = "auto", "review", "none"


DETERMINISTIC, PROBABILISTIC = "deterministic", "probabilistic"


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


def deterministic(source: pd.DataFrame, index: pd.DataFrame) -> pd.DataFrame:
    """Pairs with the same valid CHI and a compatible date of birth."""
    pairs = source.dropna(subset=["chi"]).merge(index.dropna(subset=["chi"]), on="chi", suffixes=("_l", "_r"))
    pairs = pairs[compatible_dob(pairs["date_of_birth_l"], pairs["date_of_birth_r"])]
    return pd.DataFrame(
        {"record_id_l": pairs["record_id_l"], "record_id_r": pairs["record_id_r"], "chi_r": pairs["chi"]}
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
    source: pd.DataFrame, index: pd.DataFrame, det: pd.DataFrame, scores: pd.DataFrame, t: Thresholds
) -> pd.DataFrame:
    """One row per prepared source record from the deterministic pairs ``det`` (``record_id_l``,
    ``record_id_r``) and the model's ``scores`` (``record_id_l``, ``record_id_r``, ``match_weight``,
    ``match_probability``): the veto, the one-to-one best link with its lead, and the bands."""
    # Veto: two valid, different CHIs are two people.
    chi_l = scores["record_id_l"].map(source.set_index("record_id")["chi"])
    chi_r = scores["record_id_r"].map(index.set_index("record_id")["chi"])
    vetoed = (chi_l.notna() & chi_r.notna() & (chi_l != chi_r)).to_numpy()
    scores = scores[~vetoed].sort_values(["record_id_l", "match_weight"], ascending=[True, False])
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
    out.loc[has, "method"] = PROBABILISTIC
    out.loc[has & (p >= t.upper) & lead_ok, "band"] = AUTO
    out.loc[has & (p >= t.lower) & ~((p >= t.upper) & lead_ok), "band"] = REVIEW
    d = det.set_index("record_id_l")
    out.loc[d.index, ["matched_record_id", "method", "band"]] = np.column_stack(
        [d["record_id_r"], np.full(len(d), DETERMINISTIC), np.full(len(d), AUTO)]
    )
    out.loc[d.index, ["match_weight", "match_probability"]] = [np.inf, 1.0]
    out.loc[out["band"] == NONE, ["matched_record_id", "method"]] = pd.NA
    out["matched_chi"] = out["matched_record_id"].map(index.set_index("record_id")["chi"])
    out.loc[out["band"] != AUTO, "matched_chi"] = pd.NA
    return out.reset_index(drop=True)
