"""The crosswalk table and clerical decisions: write a batch's link results idempotently, reuse the
decisions reviewers made for as long as the two records are unchanged."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from crosswalk.hashing import join_fields, sha256_hex
from crosswalk.identifiers import VALID, chi_status, normalise
from crosswalk.matching.decisions import AUTO, MODEL_VERSION, NONE
from crosswalk.matching.normalise import PERSON_COLUMNS
from crosswalk.staging.db import create_temp_table, load_rows

CLERICAL = "clerical"
_FIELDS = [c for c in PERSON_COLUMNS if c != "record_id"]


def person_hashes(people: pd.DataFrame) -> pd.Series:
    """SHA-256 of each record's person fields, by record id (a change to any of them changes it).

    The fields as text (missing as empty), joined by the unit separator; hashed in bulk.
    """
    hashes = sha256_hex(join_fields(people[_FIELDS], "\x1f"))
    return pd.Series(hashes.array, index=people["record_id"].astype(str))


_NEW = "cw_new"  # the batch's results, loaded as one set before they replace the crosswalk's rows
_NEW_COLUMNS = (
    "source_record_id", "matched_identifier", "matched_record_id", "method", "band", "match_weight",
    "match_probability", "runner_up_weight", "records_hash", "decided_by", "reason",
)  # fmt: skip


def crosswalk_rows(
    result: pd.DataFrame,
    decisions: pd.DataFrame,
    source_hashes: pd.Series,
    index_hashes: pd.Series,
    index_chi: pd.Series,
) -> pd.DataFrame:
    """The crosswalk's rows for ``result``, with every earlier clerical decision on an unchanged pair applied.

    ``decisions`` has ``source_record_id, candidate_record_id, records_hash, outcome, decided_by``.
    Pure and set-based: joins, not a loop per record.
    """
    rid = result["record_id"].astype(str).reset_index(drop=True)
    candidate = result["matched_record_id"].astype("string").reset_index(drop=True)
    index_side = candidate.map(index_hashes).astype("string").fillna("")
    rhash = sha256_hex(rid.map(source_hashes).astype("string") + ":" + index_side)
    out = pd.DataFrame(
        {
            "source_record_id": rid,
            "matched_identifier": result["matched_chi"].astype("string").reset_index(drop=True),
            "matched_record_id": candidate,
            "method": result["method"].astype("string").reset_index(drop=True),
            "band": result["band"].astype(str).reset_index(drop=True),
            "match_weight": _nums(result["match_weight"]),
            "match_probability": _nums(result["match_probability"]),
            "runner_up_weight": _nums(result["runner_up_weight"]),
            "records_hash": rhash,
            "decided_by": pd.Series(pd.NA, index=rid.index, dtype="string"),
            "reason": result["reason"].astype("string").reset_index(drop=True),
        }
    )
    if decisions.empty:
        return out
    keys = ["source_record_id", "matched_record_id", "records_hash"]
    found = out[keys].merge(
        decisions.rename(columns={"candidate_record_id": "matched_record_id"}).astype("string"), on=keys, how="left"
    )
    decided = found["outcome"].notna().to_numpy() & out["matched_record_id"].notna().to_numpy()
    match = decided & (found["outcome"] == "match").to_numpy()
    out.loc[decided, "method"] = CLERICAL
    out.loc[decided, "band"] = np.where(match[decided], AUTO, NONE)
    out.loc[decided, "decided_by"] = found.loc[decided, "decided_by"].to_numpy()
    chi = out["matched_record_id"].map(index_chi).astype("string")
    out.loc[decided, "matched_identifier"] = chi[decided].where(match[decided], pd.NA)
    return out


def write_crosswalk(
    engine: Engine,
    source_system: str,
    batch_id: str,
    index_batch_id: str | None,
    result: pd.DataFrame,
    source_hashes: pd.Series,
    index_hashes: pd.Series,
    index_chi: pd.Series,
    model_version: str = MODEL_VERSION,
) -> dict[str, int]:
    """Replace the crosswalk's rows for the records in ``result`` as one set; returns counts of rows
    written, kept unchanged and decided by an earlier clerical review.

    Set-based, so the cost does not grow with the rows already written: the results go into a
    temporary table in one bulk load, rows identical to what the crosswalk holds are dropped from it,
    and the rest replace their old rows with one DELETE and one INSERT ... SELECT, in one transaction.
    """
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        decisions = pd.DataFrame(
            conn.execute(
                text(
                    "SELECT source_record_id, candidate_record_id, records_hash, outcome, decided_by"
                    " FROM review_decision WHERE source_system = :s"
                ),
                {"s": source_system},
            ).all(),
            columns=["source_record_id", "candidate_record_id", "records_hash", "outcome", "decided_by"],
        )
        decisions["records_hash"] = decisions["records_hash"].astype("string").str.strip()
        rows = crosswalk_rows(result, decisions, source_hashes, index_hashes, index_chi)
        clerical = int((rows["method"] == CLERICAL).sum())
        create_temp_table(
            conn, _NEW, (*_NEW_COLUMNS, "cluster_id"), numeric=("match_weight", "match_probability", "runner_up_weight")
        )
        load_rows(conn, _NEW, _NEW_COLUMNS, rows)
        if engine.dialect.name == "postgresql":
            conn.execute(text(f"ANALYZE {_NEW}"))  # a temporary table has no statistics: the joins need them
        conn.execute(
            text(
                f"DELETE FROM {_NEW} WHERE EXISTS (SELECT 1 FROM crosswalk c WHERE c.source_system = :s"
                f" AND c.source_record_id = {_NEW}.source_record_id"
                f" AND COALESCE(c.matched_record_id, '') = COALESCE({_NEW}.matched_record_id, '')"
                f" AND COALESCE(c.method, '') = COALESCE({_NEW}.method, '')"
                f" AND c.band = {_NEW}.band AND c.records_hash = {_NEW}.records_hash"
                f" AND COALESCE(c.reason, '') = COALESCE({_NEW}.reason, '') AND c.model_version = :v)"
            ),
            {"s": source_system, "v": model_version},
        )
        changed = conn.execute(text(f"SELECT COUNT(*) FROM {_NEW}")).scalar_one()
        # A rewritten row keeps its person id: only the person-id step (stable_ids) changes one.
        conn.execute(
            text(
                f"UPDATE {_NEW} SET cluster_id = (SELECT c.cluster_id FROM crosswalk c WHERE c.source_system = :s"
                f" AND c.source_record_id = {_NEW}.source_record_id)"
            ),
            {"s": source_system},
        )
        conn.execute(
            text(
                "DELETE FROM crosswalk WHERE source_system = :s"
                f" AND source_record_id IN (SELECT source_record_id FROM {_NEW})"
            ),
            {"s": source_system},
        )
        conn.execute(
            text(
                "INSERT INTO crosswalk (source_system, source_record_id, batch_id, index_batch_id,"
                " matched_identifier, matched_record_id, method, band, match_weight, match_probability,"
                " runner_up_weight, model_version, records_hash, decided_at, decided_by, reason, cluster_id)"
                " SELECT :s, source_record_id, :b, :ib, matched_identifier, matched_record_id, method, band,"
                " match_weight, match_probability, runner_up_weight, :v, records_hash, :t, decided_by, reason,"
                " cluster_id"
                f" FROM {_NEW}"
            ),
            {"s": source_system, "b": batch_id, "ib": index_batch_id, "v": model_version, "t": now},
        )
        conn.execute(text(f"DROP TABLE {_NEW}"))
    return {"written": changed, "unchanged": len(rows) - changed, "clerical_reused": clerical}


def unchanged(engine: Engine, source_system: str, source_hashes: pd.Series, index_hashes: pd.Series) -> pd.Index:
    """The source records whose crosswalk row still stands as it is: the record and its candidate (if any)
    unchanged, by the same records hash :func:`crosswalk_rows` wrote. Linking them again with the same model
    against the same index would decide exactly what the row holds."""
    with engine.connect() as conn:
        rows = pd.DataFrame(
            conn.execute(
                text(
                    "SELECT source_record_id, matched_record_id, records_hash FROM crosswalk WHERE source_system = :s"
                ),
                {"s": source_system},
            ).all(),
            columns=["source_record_id", "matched_record_id", "records_hash"],
        )
    rows = rows[rows["source_record_id"].isin(source_hashes.index)]
    if rows.empty:
        return pd.Index([], dtype=object)
    index_side = rows["matched_record_id"].astype("string").map(index_hashes).astype("string").fillna("")
    now = sha256_hex(rows["source_record_id"].map(source_hashes).astype("string").reset_index(drop=True) + ":"
                     + index_side.reset_index(drop=True))  # fmt: skip
    same = now.to_numpy() == rows["records_hash"].astype(str).str.strip().to_numpy()
    return pd.Index(rows["source_record_id"][same].astype(str))


def person_clusters(engine: Engine, source_system: str) -> pd.DataFrame:
    """Each source record's person as the crosswalk now stands (``source_record_id, cluster, person_id``):
    records linked to one index record (automatically or by a reviewer) are one person; any other record
    is a person of its own. ``person_id`` is the stable id the last run gave it (null for a new record)."""
    with engine.connect() as conn:
        rows = pd.DataFrame(
            conn.execute(
                text(
                    "SELECT source_record_id, matched_record_id, band, cluster_id FROM crosswalk"
                    " WHERE source_system = :s"
                ),
                {"s": source_system},
            ).all(),
            columns=["source_record_id", "matched_record_id", "band", "cluster_id"],
        )
    linked = (rows["band"] == AUTO) & rows["matched_record_id"].notna()
    cluster = ("index:" + rows["matched_record_id"].astype("string")).where(linked, "self:" + rows["source_record_id"])
    return pd.DataFrame(
        {"source_record_id": rows["source_record_id"], "cluster": cluster, "person_id": rows["cluster_id"]}
    )


_IDS = "cw_ids"


def write_person_ids(conn, source_system: str, ids: pd.Series) -> int:
    """Set the person id (``ids``: source record id -> person id) of every row whose id differs, as one set in
    the caller's transaction; returns how many changed."""
    create_temp_table(conn, _IDS, ("source_record_id", "person_id"))
    frame = pd.DataFrame({"source_record_id": ids.index, "person_id": ids.array})
    load_rows(conn, _IDS, ("source_record_id", "person_id"), frame)
    conn.execute(text(f"CREATE INDEX ix_{_IDS} ON {_IDS} (source_record_id)"))
    where = (
        f"source_system = :s AND source_record_id IN (SELECT i.source_record_id FROM {_IDS} i"
        f" WHERE i.source_record_id = crosswalk.source_record_id AND i.person_id IS DISTINCT FROM crosswalk.cluster_id)"
    )
    changed = conn.execute(text(f"UPDATE crosswalk SET cluster_id = (SELECT i.person_id FROM {_IDS} i"
                                f" WHERE i.source_record_id = crosswalk.source_record_id) WHERE {where}"),
                           {"s": source_system}).rowcount  # fmt: skip
    conn.execute(text(f"DROP TABLE {_IDS}"))
    return int(changed)


def _nums(values: pd.Series) -> pd.Series:
    """Weights as floats; missing and infinite as null (the database stores no infinity)."""
    out = pd.to_numeric(values, errors="coerce").astype("Float64").reset_index(drop=True)
    return out.mask(np.isinf(out.fillna(0).to_numpy()))


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


def linked_chis(engine: Engine, source_system: str) -> pd.Series:
    """Source record id -> the CHI matching linked it to (automatically or by a reviewer), as a Series: its
    index is hashed once and looked up by every chunk (a dict is turned into a new Series at every map)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT source_record_id, matched_identifier FROM crosswalk"
                " WHERE source_system = :s AND band = 'auto' AND matched_identifier IS NOT NULL"
            ),
            {"s": source_system},
        ).all()
    return pd.Series([r[1] for r in rows], index=pd.Index([r[0] for r in rows], dtype=object), dtype=object)


def own_chi(frame: pd.DataFrame) -> pd.Series:
    """Each record's own CHI, normalised, where it is valid (or valid bar a DOB/sex mismatch); else missing."""
    own = normalise(frame["chi_number"], restore_leading_zero=True)
    return own.where(chi_status(frame["chi_number"], dob=frame["date_of_birth"], sex=frame["sex"]) == VALID)


def person_chi(frame: pd.DataFrame, linked: pd.Series, id_column: str) -> pd.Series:
    """The CHI of the person each record is: its own (:func:`own_chi`), else the one matching linked it to
    (``linked``, from :func:`linked_chis`); missing where neither."""
    own = own_chi(frame)
    return own.where(own.notna(), frame[id_column].astype(str).map(linked))
