"""Deduplicate one source: clusters that never hold two valid, different CHIs, and a golden record each.

Edges come from the same valid CHI (with a date of birth it agrees with, and forenames that do not
clearly disagree: :func:`crosswalk.matching.decisions.deterministic`'s rule) and from Splink's dedupe
predictions at or above ``threshold`` (the auto-match threshold, p 0.90 by default), less the pairs
the twin and household rules hold to be two people (see :func:`_two_people`); ``address`` is compared
when present. Clusters are built by adding edges strongest first and refusing any merge that would
put two different valid CHIs in one cluster, so a CHI-less record that looks like both twins joins at
most one of them. Survivorship for the golden record: a valid CHI wins;
for every other field, the most recent record that has a value (later rows are more recent), so the
most complete, most recent picture survives. Every source record id is kept.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from crosswalk.matching.decisions import (
    WEIGHT_DECIMALS,
    Thresholds,
    dob_agrees_with_chi,
    forenames_disagree,
    one_keystroke,
)
from crosswalk.matching.engines import DEFAULT, Backend
from crosswalk.matching.families import family_evidence
from crosswalk.matching.normalise import PERSON_COLUMNS, person_columns, prepare
from crosswalk.matching.training import scoring_linker

log = logging.getLogger(__name__)


def _splink_pairs(people: pd.DataFrame, threshold: float, em_max_pairs: float, backend: Backend) -> pd.DataFrame:
    families = family_evidence(people)
    families.log("the twin and household rules are")
    with scoring_linker(
        {"records": people},
        "dedupe_only",
        backend=backend,
        sex=True,
        retain_matching_columns=True,  # the rules in _two_people read the names
        em_max_pairs=em_max_pairs,
    ) as linker:
        scored = linker.inference.predict(threshold_match_probability=threshold).as_pandas_dataframe()
    if families.present:
        scored = scored[~_two_people(scored)]
    return pd.DataFrame(
        {"a": scored["unique_id_l"].astype(str), "b": scored["unique_id_r"].astype(str),
         "weight": scored["match_weight"].astype(float)}
    )  # fmt: skip


# Comparison levels the rules below read (Splink numbers a comparison's levels from the last, 0, up;
# null is -1). Names (comparisons.name_comparison): 0 not alike at all, 1 Jaro-Winkler 0.7 to 0.88. Dates of
# birth (comparisons.dob_comparison): 0 more than ten years apart, 1 more than a year. Sex: 0 differs.
NAME_NOT_ALIKE, NAME_LOOSELY_ALIKE = 0, 1
DOB_OVER_A_YEAR_APART = 1
SEX_DIFFERS = 0


def _two_people(scored: pd.DataFrame) -> pd.Series:
    """Pairs that are two people however well the rest agrees: Fellegi-Sunter's independence assumption
    counts a shared surname, address and birthday as separate evidence, but a household or twins share
    them by nature, so the fields that tell its members apart decide.

    - The twin rule: forenames not alike at all. A sibling is far likelier than a duplicate whose
      forename changed completely.
    - The household rule: forenames only loosely alike (Jaro-Winkler below 0.88) and either dates of
      birth more than a year apart or a different sex. A duplicate needs two independent errors to look
      like that; a sibling, parent or twin of the other sex looks like that by nature. On the 1M
      synthetic dedupe it drops 1,141 of the 2,683 wrong pairs above the threshold and no right one.

    Neither applies when the names were transposed, when the forenames are one keystroke apart (a dropped,
    changed, added or swapped letter: Jaro-Winkler calls "SAM" and "SMA", or "AMY" and "AY", not alike,
    but siblings' names are not one typo apart), nor when the optional identifier is the same on both
    records (household members do not share one)."""
    forename = scored["gamma_forename"]
    apart = scored["gamma_date_of_birth"].between(0, DOB_OVER_A_YEAR_APART)
    other_sex = scored["gamma_sex"] == SEX_DIFFERS
    rule = (forename == NAME_NOT_ALIKE) | ((forename == NAME_LOOSELY_ALIKE) & (apart | other_sex))
    transposed = (scored["forename_l"] == scored["surname_r"]) | (scored["surname_l"] == scored["forename_r"])
    same_id = (scored["local_id_l"] == scored["local_id_r"]).fillna(False) if "local_id_l" in scored else False
    rule = rule & ~transposed & ~same_id
    # Worked out only on the rows a rule flagged: a few thousand at 1M records.
    return rule & ~one_keystroke(scored["forename_l"].where(rule), scored["forename_r"].where(rule))


def dedupe(
    people: pd.DataFrame,
    *,
    threshold: float = Thresholds.upper,
    em_max_pairs: float = Thresholds.em_max_pairs,
    backend: Backend = DEFAULT,
) -> pd.DataFrame:
    """``record_id, cluster_id, chi`` per record (cluster id: the smallest record id in the cluster). ``backend``:
    where the pairs are scored (:mod:`crosswalk.matching.engines`)."""
    p = prepare(people[person_columns(people)]).reset_index(drop=True)
    ids = p["record_id"].astype(str).tolist()
    # Deterministic edges: records sharing a valid CHI with compatible dates of birth.
    with_chi = p.dropna(subset=["chi"])
    same = with_chi.merge(with_chi, on="chi", suffixes=("_l", "_r"))
    same = same[(same["record_id_l"] < same["record_id_r"])]
    same = same[dob_agrees_with_chi(same["date_of_birth_l"], same["date_of_birth_r"], same["chi"])]
    conflicts = forenames_disagree(same)
    same = same[~conflicts]  # a CHI copied from a relative: left to the model, which the veto then governs
    edges = pd.concat(
        [
            pd.DataFrame(
                {"a": same["record_id_l"].astype(str), "b": same["record_id_r"].astype(str), "weight": np.inf}
            ),
            _splink_pairs(p, threshold, em_max_pairs, backend)
            if len(p) > 1
            else pd.DataFrame(columns=["a", "b", "weight"]),
        ],
        ignore_index=True,
    )
    # Strongest first; equal weights in a fixed order (see decisions.WEIGHT_DECIMALS), whatever engine scored them.
    edges = edges.assign(_order=edges["weight"].round(WEIGHT_DECIMALS)).sort_values(
        ["_order", "a", "b"], ascending=[False, True, True]
    )

    chi_of = {i: c for i, c in zip(ids, p["chi"].tolist(), strict=True) if isinstance(c, str)}
    # Only records on an edge can join a cluster: the rest, most of a large source, stay on their own.
    parent = {i: i for i in set(edges["a"]).union(edges["b"])}
    cluster_chi = {i: chi_of[i] for i in parent if i in chi_of}  # root -> the one valid CHI in the cluster

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    refused = 0
    for a, b in zip(edges["a"].tolist(), edges["b"].tolist(), strict=True):
        ra, rb = root(a), root(b)
        if ra == rb:
            continue
        ca, cb = cluster_chi.get(ra), cluster_chi.get(rb)
        if ca is not None and cb is not None and ca != cb:
            refused += 1  # the veto: two valid, different CHIs are two people
            continue
        keep, drop = (ra, rb) if ra < rb else (rb, ra)
        parent[drop] = keep
        if (ca or cb) is not None:
            cluster_chi[keep] = ca or cb
    roots = [root(i) if i in parent else i for i in ids]
    chi = [cluster_chi.get(r) if r in parent else chi_of.get(r) for r in roots]
    out = pd.DataFrame({"record_id": ids, "cluster_id": roots, "chi": chi})
    log.info(
        "Deduplicated %d record(s) into %d cluster(s); %d merge(s) refused by the CHI veto; %d pair(s) sharing a "
        "CHI not joined on it because their forenames disagree",
        len(out),
        out["cluster_id"].nunique(),
        refused,
        int(conflicts.sum()),
    )
    return out


def golden_records(people: pd.DataFrame, clusters: pd.DataFrame) -> pd.DataFrame:
    """One row per cluster: the cluster's valid CHI, and for each other field the most recent non-empty
    value (later input rows count as more recent); ``members`` lists every source record id."""
    data = people[PERSON_COLUMNS].astype("string").replace("", pd.NA).reset_index(drop=True)
    data["cluster_id"] = clusters["cluster_id"].to_numpy()
    fields = ["forename", "surname", "date_of_birth", "sex", "postcode"]
    latest = data.groupby("cluster_id", sort=True)[fields].last()  # last non-null per column
    members = data.groupby("cluster_id", sort=True)["record_id"].agg(lambda s: " ".join(s))
    chi = clusters.groupby("cluster_id", sort=True)["chi"].first()
    golden = latest.assign(chi_number=chi, members=members)
    if "person_id" in clusters.columns:  # the stable id (crosswalk.matching.person_ids), where one was given
        golden.insert(0, "person_id", clusters.groupby("cluster_id", sort=True)["person_id"].first())
    return golden.reset_index()
