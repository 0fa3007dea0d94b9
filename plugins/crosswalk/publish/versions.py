"""Versioned publication tables behind a view: publish, roll back, prune. Pure SQLAlchemy Core.

A portal reads ``pub_<name>`` (a view). Each publish writes a new table ``pub_<name>__v<N>``, then in
one transaction repoints the view at it and records the version in the ``publication`` ledger, so a
reader sees the old version or the new one, never a mix and never an empty table. A rollback
repoints the view at the previous version still kept. Names come from validated config
(``pub_[a-z0-9_]+``), so composing them into DDL is safe; values are always bound parameters.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import Column, Connection, Engine, MetaData, Table, Text, text

from crosswalk.columns import per_distinct
from crosswalk.staging.db import csv_blocks, load_rows

LIVE, SUPERSEDED, ROLLED_BACK, PURGED = "live", "superseded", "rolled_back", "purged"


@dataclass(frozen=True)
class Version:
    publication_id: str
    name: str
    version: int
    kind: str
    table_name: str | None
    status: str
    content_sha256: str
    source_batches: list[str]
    rows_out: int
    fields_published: list[str]
    agreement_id: str
    agreement_version: int
    level: int
    recipient: str


_COLS = (
    "publication_id, name, version, kind, table_name, status, content_sha256, source_batches, rows_out,"
    " fields_published, agreement_id, agreement_version, level, recipient"
)


def _version(row) -> Version:
    v = list(row)
    v[7], v[9] = json.loads(v[7]), json.loads(v[9])
    return Version(*v)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def content_hash(frame: pd.DataFrame) -> str:
    """sha256 of the rows as published: the column names, then the values as the portal reads them
    (:func:`_as_text`) as CSV in row order. Same content, same hash."""
    return _digest(_as_text(frame))


def _digest(text_frame: pd.DataFrame) -> str:
    h = hashlib.sha256(json.dumps(list(text_frame.columns)).encode())
    for block in csv_blocks(text_frame):
        h.update(block)
    return h.hexdigest()


def versions(engine_or_conn: Engine | Connection, name: str) -> list[Version]:
    """Every recorded version of ``name``, newest first."""
    sql = text(f"SELECT {_COLS} FROM publication WHERE name = :n ORDER BY version DESC")
    if isinstance(engine_or_conn, Engine):
        with engine_or_conn.connect() as conn:
            return [_version(r) for r in conn.execute(sql, {"n": name})]
    return [_version(r) for r in engine_or_conn.execute(sql, {"n": name})]


def live(engine: Engine, name: str) -> Version | None:
    return next((v for v in versions(engine, name) if v.status == LIVE), None)


@dataclass(frozen=True)
class Outcome:
    version: Version
    published: bool  # False: the same content was already live, nothing changed


class _Unchanged(Exception):
    """The new version's content is the live version's: roll its table back."""


def publish(
    engine: Engine,
    name: str,
    view: str,
    frames: pd.DataFrame | Iterable[pd.DataFrame],
    *,
    kind: str,
    source_batches: Sequence[str],
    agreement_id: str,
    agreement_version: int,
    level: int,
    recipient: str,
    columns: Sequence[str] | None = None,
    detail: dict | None = None,
    dag_id: str = "",
    run_id: str = "",
) -> Outcome:
    """Write ``frames`` (one frame, or chunks of ``columns``) as the next version of ``name`` and make it what
    ``view`` shows, atomically.

    Streamed: each chunk is turned into the text the portal reads, hashed and COPY'd (batched inserts on
    SQLite) as it passes, so memory stays flat whatever the size. Idempotent: if the content (and agreement
    version) is the live version's, the new table is rolled back and the live version returned. Values are
    stored as text (dates ISO), so every portal reads the same thing on PostgreSQL and SQLite. ``detail`` is
    recorded once every chunk has passed (a caller may fill it in as its chunks are made).
    """
    if isinstance(frames, pd.DataFrame):
        columns, frames = list(frames.columns), [frames]
    assert columns is not None, "chunks need their columns"
    columns = list(columns)
    current = live(engine, name)
    try:
        with engine.begin() as conn:
            # Serialise publishers of one name: take the ledger's lock first (SQLite: BEGIN IMMEDIATE does).
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": "publish:" + name})
            number = 1 + (
                conn.execute(text("SELECT MAX(version) FROM publication WHERE name = :n"), {"n": name}).scalar() or 0
            )
            table_name = f"{view}__v{number}"
            Table(table_name, MetaData(), *(Column(c, Text) for c in columns)).create(conn)
            digest, rows = hashlib.sha256(json.dumps(columns).encode()), 0
            for frame in frames:
                as_text = _as_text(frame[columns])  # what the table holds, worked out once for hash and load
                for block in csv_blocks(as_text):
                    digest.update(block)
                load_rows(conn, table_name, columns, as_text)
                rows += len(as_text)
            if (
                current
                and current.content_sha256 == digest.hexdigest()
                and current.agreement_version == agreement_version
            ):
                raise _Unchanged
            version = Version(
                f"{name}:v{number}", name, number, kind, table_name, LIVE, digest.hexdigest(), list(source_batches),
                rows, columns, agreement_id, agreement_version, level, recipient,
            )  # fmt: skip
            _supersede_live(conn, name)
            record(conn, version, detail, dag_id, run_id)
            _point(conn, view, table_name, columns)
    except _Unchanged:
        assert current is not None
        return Outcome(current, False)
    return Outcome(version, True)


def rollback(engine: Engine, name: str, view: str) -> tuple[Version, Version]:
    """Make the newest kept version before the live one live again; returns (from, to).

    Raises :class:`LookupError` if nothing is live or no earlier version is kept.
    """
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": "publish:" + name})
        every = versions(conn, name)
        current = next((v for v in every if v.status == LIVE), None)
        if current is None:
            raise LookupError(f"{name} has no live version to roll back")
        earlier = next((v for v in every if v.version < current.version and v.status == SUPERSEDED), None)
        if earlier is None:
            raise LookupError(f"{name} v{current.version} has no earlier version kept to roll back to")
        _set_status(conn, current, ROLLED_BACK)
        _set_status(conn, earlier, LIVE)
        _point(conn, view, earlier.table_name or "", earlier.fields_published)
    return current, earlier


def prune(engine: Engine, name: str, keep: int) -> list[str]:
    """Drop the tables of versions beyond the newest ``keep`` that are not live; the ledger keeps the record."""
    dropped = []
    with engine.begin() as conn:
        every = versions(conn, name)
        kept = 0
        for v in every:
            if v.status == PURGED or v.table_name is None:
                continue
            if v.status == LIVE or kept < keep:
                kept += 1
                continue
            conn.execute(text(f"DROP TABLE IF EXISTS {v.table_name}"))
            _set_status(conn, v, PURGED)
            dropped.append(v.publication_id)
    return dropped


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every value as the text a portal reads (dates ISO, the rest ``str``), missing as None; a column at a
    time, once per distinct value where that is exact."""
    return pd.DataFrame(
        {c: per_distinct(frame[c], _text, keeps_strings=True) for c in frame.columns}, index=frame.index
    )


def _text(v) -> str | None:
    if v is None or (not isinstance(v, str) and pd.isna(v)):  # as frame.notna() sees missing
        return None
    return v.isoformat() if hasattr(v, "isoformat") else str(v)


def _point(conn: Connection, view: str, table_name: str, columns: list[str]) -> None:
    """Repoint the readers' view, inside the caller's transaction."""
    cols = ", ".join(columns)
    conn.execute(text(f"DROP VIEW IF EXISTS {view}"))
    conn.execute(text(f"CREATE VIEW {view} AS SELECT {cols} FROM {table_name}"))


def _set_status(conn: Connection, v: Version, status: str) -> None:
    conn.execute(
        text("UPDATE publication SET status = :s, updated_at = :t WHERE publication_id = :p"),
        {"s": status, "t": _now(), "p": v.publication_id},
    )


def make_live(engine: Engine, name: str, publication_id: str) -> None:
    """Mark a version live and the one live before it superseded (open data: after go-live)."""
    with engine.begin() as conn:
        _supersede_live(conn, name)
        conn.execute(
            text("UPDATE publication SET status = :l, updated_at = :t WHERE publication_id = :p"),
            {"l": LIVE, "t": _now(), "p": publication_id},
        )


def _supersede_live(conn: Connection, name: str) -> None:
    conn.execute(
        text("UPDATE publication SET status = :s, updated_at = :t WHERE name = :n AND status = :l"),
        {"s": SUPERSEDED, "t": _now(), "n": name, "l": LIVE},
    )


def record(conn: Connection, v: Version, detail: dict | None, dag_id: str, run_id: str) -> None:
    """Add a version to the ledger, inside the caller's transaction."""
    now = _now()
    row = {
        **{k: getattr(v, k) for k in _COLS.replace(" ", "").split(",")},
        "source_batches": json.dumps(v.source_batches),
        "fields_published": json.dumps(v.fields_published),
        "detail": json.dumps(detail or {}, sort_keys=True),
        "dag_id": dag_id,
        "run_id": run_id,
        "created_at": now,
        "updated_at": now,
    }
    conn.execute(text(f"INSERT INTO publication ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})"), row)
