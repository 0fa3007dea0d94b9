"""The crosswalk table and clerical decisions: write a batch's link results idempotently, reuse the
decisions reviewers made for as long as the two records are unchanged."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Engine, text

from crosswalk.matching.link import AUTO, MODEL_VERSION, NONE, PERSON_COLUMNS

CLERICAL = "clerical"
_FIELDS = [c for c in PERSON_COLUMNS if c != "record_id"]


def person_hashes(people: pd.DataFrame) -> pd.Series:
    """SHA-256 of each record's person fields, by record id (a change to any of them changes it)."""
    text_rows = people[_FIELDS].astype("string").fillna("").agg("\x1f".join, axis=1)
    return pd.Series([hashlib.sha256(t.encode()).hexdigest() for t in text_rows], index=people["record_id"].astype(str))


def _pair_hash(source_hash: str, index_hash: str | None) -> str:
    return hashlib.sha256(f"{source_hash}:{index_hash or ''}".encode()).hexdigest()


def write_crosswalk(
    engine: Engine,
    source_system: str,
    batch_id: str,
    index_batch_id: str | None,
    result: pd.DataFrame,
    source_hashes: pd.Series,
    index_hashes: pd.Series,
    index_chi: pd.Series,
) -> dict[str, int]:
    """Upsert one row per source record; returns counts of rows written, kept unchanged and decided
    by an earlier clerical review."""
    now = datetime.now(UTC).replace(tzinfo=None)
    counts = {"written": 0, "unchanged": 0, "clerical_reused": 0}
    with engine.begin() as conn:
        decisions = {
            (r.source_record_id, r.candidate_record_id, r.records_hash.strip()): (r.outcome, r.decided_by)
            for r in conn.execute(
                text(
                    "SELECT source_record_id, candidate_record_id, records_hash, outcome, decided_by"
                    " FROM review_decision WHERE source_system = :s"
                ),
                {"s": source_system},
            )
        }
        existing = {
            r.source_record_id: r
            for r in conn.execute(
                text(
                    "SELECT source_record_id, matched_record_id, method, band, records_hash FROM crosswalk"
                    " WHERE source_system = :s"
                ),
                {"s": source_system},
            )
        }
        for row in result.itertuples(index=False):
            rid = str(row.record_id)
            candidate = None if pd.isna(row.matched_record_id) else str(row.matched_record_id)
            rhash = _pair_hash(source_hashes[rid], index_hashes.get(candidate) if candidate else None)
            method = None if pd.isna(row.method) else str(row.method)
            band, chi, decided_by = str(row.band), None if pd.isna(row.matched_chi) else str(row.matched_chi), None
            decision = decisions.get((rid, candidate, rhash)) if candidate else None
            if decision is not None:
                outcome, decided_by = decision
                method, band = CLERICAL, AUTO if outcome == "match" else NONE
                chi = index_chi.get(candidate) if outcome == "match" else None
                counts["clerical_reused"] += 1
            old = existing.get(rid)
            if old is not None and (old.matched_record_id, old.method, old.band, old.records_hash.strip()) == (
                candidate,
                method,
                band,
                rhash,
            ):
                counts["unchanged"] += 1
                continue
            params = {
                "s": source_system, "r": rid, "b": batch_id, "ib": index_batch_id, "chi": chi, "c": candidate,
                "m": method, "band": band, "w": _num(row.match_weight), "p": _num(row.match_probability),
                "ru": _num(row.runner_up_weight), "v": MODEL_VERSION, "h": rhash, "t": now, "by": decided_by,
            }  # fmt: skip
            conn.execute(text("DELETE FROM crosswalk WHERE source_system = :s AND source_record_id = :r"), params)
            conn.execute(
                text(
                    "INSERT INTO crosswalk (source_system, source_record_id, batch_id, index_batch_id,"
                    " matched_identifier, matched_record_id, method, band, match_weight, match_probability,"
                    " runner_up_weight, model_version, records_hash, decided_at, decided_by)"
                    " VALUES (:s, :r, :b, :ib, :chi, :c, :m, :band, :w, :p, :ru, :v, :h, :t, :by)"
                ),
                params,
            )
            counts["written"] += 1
    return counts


def _num(v) -> float | None:
    if v is None or pd.isna(v) or v in (float("inf"), float("-inf")):
        return None
    return float(v)


def record_decision(
    engine: Engine, source_system: str, source_record_id: str, outcome: str, decided_by: str
) -> dict[str, str]:
    """A reviewer's decision on the pair in review for ``source_record_id``; applied to the crosswalk now
    and reused on reruns while both records are unchanged. Returns the pair (ids only)."""
    if outcome not in ("match", "no_match"):
        raise ValueError("outcome is 'match' or 'no_match'")
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        row = conn.execute(
            text(
                "SELECT matched_record_id, records_hash, band FROM crosswalk"
                " WHERE source_system = :s AND source_record_id = :r"
            ),
            {"s": source_system, "r": source_record_id},
        ).first()
        if row is None or row.band != "review":
            raise LookupError(f"{source_system}/{source_record_id} has no pair awaiting review")
        params = {
            "s": source_system, "r": source_record_id, "c": row.matched_record_id, "h": row.records_hash.strip(),
            "o": outcome, "by": decided_by, "t": now,
        }  # fmt: skip
        conn.execute(
            text(
                "INSERT INTO review_decision (source_system, source_record_id, candidate_record_id, records_hash,"
                " outcome, decided_by, decided_at) VALUES (:s, :r, :c, :h, :o, :by, :t)"
            ),
            params,
        )
        conn.execute(
            text(
                "UPDATE crosswalk SET method = 'clerical', band = :band, decided_by = :by, decided_at = :t,"
                " matched_identifier = CASE WHEN :o = 'match' THEN matched_record_id ELSE NULL END"
                " WHERE source_system = :s AND source_record_id = :r"
            ),
            {**params, "band": AUTO if outcome == "match" else NONE},
        )
    return {"source_record_id": source_record_id, "candidate_record_id": row.matched_record_id}


def pair_hash(source_system: str, pair: dict[str, str]) -> str:
    """How the audit trail names a reviewed pair without its record ids: sha256 of "feed|record|candidate"."""
    return hashlib.sha256(
        f"{source_system}|{pair['source_record_id']}|{pair['candidate_record_id']}".encode()
    ).hexdigest()
