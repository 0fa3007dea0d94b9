"""Deduplicate one source: clusters that never hold two valid, different CHIs, and a golden record each.

Edges come from the same valid CHI (with a compatible date of birth) and from Splink's dedupe
predictions at or above ``threshold`` (the auto-match threshold, p 0.90 by default), less the pairs
the twin rule holds to be two people (see :func:`_twins`); ``address`` is compared when present.
Clusters are built by adding edges strongest first and
refusing any merge that would put two different valid CHIs in one cluster, so a CHI-less record that
looks like both twins joins at most one of them. Survivorship for the golden record: a valid CHI wins;
for every other field, the most recent record that has a value (later rows are more recent), so the
most complete, most recent picture survives. Every source record id is kept.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from crosswalk.matching.link import (
    NAME_BLOCK,
    PERSON_COLUMNS,
    Thresholds,
    _compatible_dob,
    comparisons,
    duckdb_connection,
    extra_blocks,
    model_columns,
    optional_columns,
    person_columns,
    prepare,
    train,
)

log = logging.getLogger(__name__)


def _splink_pairs(people: pd.DataFrame, threshold: float, em_max_pairs: float) -> pd.DataFrame:
    from splink import Linker, SettingsCreator, block_on
    from splink.backends.duckdb import DuckDBAPI

    optional = optional_columns(people)
    db = DuckDBAPI(duckdb_connection())
    frame = people[model_columns(optional, sex=True)].rename(columns={"record_id": "unique_id"})
    table = db.register(frame, table_name="records")
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=comparisons(optional, sex=True),
        blocking_rules_to_generate_predictions=[
            block_on("date_of_birth"),
            block_on(*NAME_BLOCK),
            block_on("postcode", "surname"),
            *extra_blocks(optional),
        ],
        retain_matching_columns=True,  # the twin rule below reads the names and the forename level
    )
    linker = Linker(table, settings, log_level=logging.WARNING)
    train(linker, em_max_pairs)
    scored = linker.inference.predict(threshold_match_probability=threshold).as_pandas_dataframe()
    scored = scored[~_twins(scored)]
    return pd.DataFrame(
        {"a": scored["unique_id_l"].astype(str), "b": scored["unique_id_r"].astype(str),
         "weight": scored["match_weight"].astype(float)}
    )  # fmt: skip


def _twins(scored: pd.DataFrame) -> pd.Series:
    """The twin rule: forenames that are not alike at all (Splink's lowest level) mean two people, however
    well the rest agrees, unless the names were transposed. Twins share a surname, birthday and address,
    so Fellegi-Sunter's independence assumption scores them as one person; in a real population a
    sibling is far likelier than a duplicate whose forename changed completely. Twins do not share an
    identifier, so the same optional identifier on both records lifts the rule."""
    transposed = (scored["forename_l"] == scored["surname_r"]) | (scored["surname_l"] == scored["forename_r"])
    same_id = (scored["local_id_l"] == scored["local_id_r"]).fillna(False) if "local_id_l" in scored else False
    return (scored["gamma_forename"] == 0) & ~transposed & ~same_id


def dedupe(
    people: pd.DataFrame, *, threshold: float = Thresholds.upper, em_max_pairs: float = Thresholds.em_max_pairs
) -> pd.DataFrame:
    """``record_id, cluster_id, chi`` per record (cluster id: the smallest record id in the cluster)."""
    p = prepare(people[person_columns(people)]).reset_index(drop=True)
    ids = p["record_id"].astype(str).tolist()
    # Deterministic edges: records sharing a valid CHI with compatible dates of birth.
    with_chi = p.dropna(subset=["chi"])
    same = with_chi.merge(with_chi, on="chi", suffixes=("_l", "_r"))
    same = same[(same["record_id_l"] < same["record_id_r"])]
    same = same[_compatible_dob(same["date_of_birth_l"], same["date_of_birth_r"])]
    edges = pd.concat(
        [
            pd.DataFrame(
                {"a": same["record_id_l"].astype(str), "b": same["record_id_r"].astype(str), "weight": np.inf}
            ),
            _splink_pairs(p, threshold, em_max_pairs) if len(p) > 1 else pd.DataFrame(columns=["a", "b", "weight"]),
        ],
        ignore_index=True,
    ).sort_values("weight", ascending=False, kind="stable")

    parent = {i: i for i in ids}
    chi_of = {i: c for i, c in zip(ids, p["chi"].tolist(), strict=True) if isinstance(c, str)}
    cluster_chi = dict(chi_of)  # root -> the one valid CHI in the cluster, if any

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
    roots = [root(i) for i in ids]
    out = pd.DataFrame({"record_id": ids, "cluster_id": roots, "chi": [cluster_chi.get(r) for r in roots]})
    log.info(
        "Deduplicated %d record(s) into %d cluster(s); %d merge(s) refused by the CHI veto",
        len(out),
        out["cluster_id"].nunique(),
        refused,
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
    return latest.assign(chi_number=chi, members=members).reset_index()
