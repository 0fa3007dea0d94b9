"""The saved person model of each matching feed, in our database: one active model per feed.

Each feed's first match trains a model and saves it here; every later batch links with it, untrained (a
day's delta costs a prediction, not a training). Only an explicit retraining replaces it
(:func:`crosswalk.pipeline.match.retrain`), audited, with both models scored on the reviewers' decisions.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, text

from crosswalk.matching.model import SavedModel


def active(engine_or_conn: Engine | Connection, source_system: str) -> SavedModel | None:
    """The feed's model in use, or ``None`` before its first match."""

    def read(conn: Connection):
        return conn.execute(
            text("SELECT model FROM match_model WHERE source_system = :s AND active = :t"),
            {"s": source_system, "t": True},
        ).scalar_one_or_none()

    if isinstance(engine_or_conn, Connection):
        doc = read(engine_or_conn)
    else:
        with engine_or_conn.connect() as conn:
            doc = read(conn)
    return None if doc is None else SavedModel.from_json(doc, f"match_model {source_system}")


def save(conn: Connection, source_system: str, model: SavedModel, trained_by: str, *, activate: bool) -> None:
    """Store ``model`` for the feed (once per version) and, with ``activate``, make it the one in use."""
    exists = conn.execute(
        text("SELECT 1 FROM match_model WHERE source_system = :s AND version = :v"),
        {"s": source_system, "v": model.version},
    ).first()
    if exists is None:
        conn.execute(
            text(
                "INSERT INTO match_model (source_system, version, training_hash, model, trained_at, trained_by,"
                " active) VALUES (:s, :v, :h, :m, :t, :by, :f)"
            ),
            {
                "s": source_system, "v": model.version, "h": model.training_hash, "m": model.to_json(),
                "t": datetime.now(UTC).replace(tzinfo=None), "by": trained_by, "f": False,
            },
        )  # fmt: skip
    if activate:
        conn.execute(
            text("UPDATE match_model SET active = (version = :v) WHERE source_system = :s"),
            {"s": source_system, "v": model.version},
        )


def matched_index(engine: Engine, source_system: str, version: str) -> str | None:
    """The index batch the feed's crosswalk was last brought up to date against with model ``version``."""
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT matched_index FROM match_model WHERE source_system = :s AND version = :v"),
            {"s": source_system, "v": version},
        ).scalar_one_or_none()


def record_matched_index(conn: Connection, source_system: str, version: str, index_batch_id: str) -> None:
    conn.execute(
        text("UPDATE match_model SET matched_index = :i WHERE source_system = :s AND version = :v"),
        {"s": source_system, "v": version, "i": index_batch_id},
    )
