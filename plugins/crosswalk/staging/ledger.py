"""The batch and delivery ledgers: what we have received and delivered, keyed by content.

A batch is identified by its feed and the sha256 of its manifest. The manifest names the data
file's sha256, so the same drop seen twice is the same batch (a rerun skips it) and a changed
file under an old name is a new batch.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection, Engine, TextClause, text
from sqlalchemy.exc import IntegrityError

RECEIVED, STAGED, QUARANTINED, PURGED = "received", "staged", "quarantined", "purged"
# Not loaded, and not the partner's fault: the same content as a staged batch (its reason names which).
SKIPPED = "skipped"
# Our fault, not the partner's (a bug, or the database refusing what we validated): the drop waits, untouched,
# until an operator releases it (`crosswalk drops release BATCH`); the partner is not blamed.
HELD = "held"
BUILDING, DELIVERED = "building", "delivered"


def _insert(table: str, row: dict) -> TextClause:
    return text(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(':' + k for k in row)})")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def batch_id_for(feed_id: str, manifest_sha256: str) -> str:
    return f"{feed_id}-{manifest_sha256[:16]}"


@dataclass(frozen=True)
class Batch:
    batch_id: str
    feed_id: str
    partner: str
    manifest_sha256: str
    file_name: str
    file_sha256: str | None
    file_size: int | None
    schema_id: str
    status: str
    rows_in: int | None = None
    rows_staged: int | None = None
    reason: str | None = None


_BATCH_COLS = ", ".join(f.name for f in fields(Batch))


def get_batch(conn: Connection, batch_id: str) -> Batch | None:
    row = conn.execute(text(f"SELECT {_BATCH_COLS} FROM batch WHERE batch_id = :b"), {"b": batch_id}).first()
    return Batch(*row) if row else None


def open_batch(engine: Engine, batch: Batch, dag_id: str, run_id: str) -> Batch:
    """Record a drop as received, or return the existing record if we have seen it before."""
    with engine.begin() as conn:
        existing = get_batch(conn, batch.batch_id)
        if existing is not None:
            return existing
        now = _now()
        row = {
            **asdict(batch),
            "status": RECEIVED,
            "dag_id": dag_id,
            "run_id": run_id,
            "created_at": now,
            "updated_at": now,
        }
        conn.execute(_insert("batch", row), row)
        return Batch(**{**asdict(batch), "status": RECEIVED})


def set_batch_status(
    conn: Connection,
    batch_id: str,
    status: str,
    *,
    reason: str | None = None,
    rows_in: int | None = None,
    rows_staged: int | None = None,
) -> None:
    conn.execute(
        text(
            "UPDATE batch SET status = :s, reason = :r, rows_in = COALESCE(:ri, rows_in),"
            " rows_staged = COALESCE(:rs, rows_staged), updated_at = :t, claimed_by = NULL, claim_expires = NULL"
            " WHERE batch_id = :b"
        ),
        {"s": status, "r": reason, "ri": rows_in, "rs": rows_staged, "t": _now(), "b": batch_id},
    )


CLAIM_SECONDS = 4 * 3600  # longer than any one attempt's work on a drop; a retry of the same run renews it


def _claim(engine: Engine, table: str, key: str, id_: str, owner: str, seconds: int, condition: str = "") -> str | None:
    now = _now()
    with engine.begin() as conn:
        taken = conn.execute(
            text(
                f"UPDATE {table} SET claimed_by = :o, claim_expires = :e WHERE {key} = :b{condition}"
                " AND (claimed_by IS NULL OR claimed_by = :o OR claim_expires < :n)"
            ),
            {
                "o": owner,
                "e": now + timedelta(seconds=seconds),
                "b": id_,
                "n": now,
                **({"r": RECEIVED} if condition else {}),
            },
        ).rowcount
        if taken == 1:
            return None
        row = conn.execute(text(f"SELECT claimed_by FROM {table} WHERE {key} = :b"), {"b": id_}).first()
        return (row[0] if row else None) or "another run"


def claim_batch(engine: Engine, batch_id: str, owner: str, seconds: int = CLAIM_SECONDS) -> str | None:
    """Claim a received batch for ``owner`` (a run), in one statement: taken when unclaimed, already
    ``owner``'s, or the claim has expired. Returns None when claimed, else the live claim's owner."""
    return _claim(engine, "batch", "batch_id", batch_id, owner, seconds, " AND status = :r")


def claim_delivery(engine: Engine, delivery_id: str, owner: str, seconds: int = CLAIM_SECONDS) -> str | None:
    """The same for a delivery being built and sent."""
    return _claim(engine, "delivery", "delivery_id", delivery_id, owner, seconds)


def release_delivery_claim(engine: Engine, delivery_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE delivery SET claimed_by = NULL, claim_expires = NULL WHERE delivery_id = :d"),
            {"d": delivery_id},
        )


def release_claim(engine: Engine, batch_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE batch SET claimed_by = NULL, claim_expires = NULL WHERE batch_id = :b"), {"b": batch_id}
        )


def hold_batch(engine: Engine, batch_id: str, reason: str) -> None:
    with engine.begin() as conn:
        set_batch_status(conn, batch_id, HELD, reason=reason)


def release_batch(engine: Engine, batch_id: str) -> Batch:
    """Put a held batch back to ``received``, so the next run takes its drop in again. Raises
    :class:`LookupError` if there is no such batch or it is not held."""
    with engine.begin() as conn:
        batch = get_batch(conn, batch_id)
        if batch is None or batch.status != HELD:
            raise LookupError(f"{batch_id}: no held batch of that id")
        set_batch_status(conn, batch_id, RECEIVED, reason="released by an operator")
        return batch


def quarantine_batch(engine: Engine, batch_id: str, reason: str) -> None:
    with engine.begin() as conn:
        set_batch_status(conn, batch_id, QUARANTINED, reason=reason)


def update_batch_file(
    engine: Engine, batch_id: str, file_sha256: str, file_size: int, plaintext_sha256: str | None = None
) -> None:
    """Record the data file's verified hashes and size once it has been checked against its manifest."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE batch SET file_sha256 = :h, file_size = :z, plaintext_sha256 = COALESCE(:p, plaintext_sha256),"
                " updated_at = :t WHERE batch_id = :b"
            ),
            {"h": file_sha256, "z": file_size, "p": plaintext_sha256, "t": _now(), "b": batch_id},
        )


def staged_with_content(engine: Engine, feed_id: str, plaintext_sha256: str, other_than: str) -> str | None:
    """The staged batch of ``feed_id`` whose plaintext is exactly this one, if any (another name, same extract)."""
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT batch_id FROM batch WHERE feed_id = :f AND plaintext_sha256 = :p AND status = :s"
                " AND batch_id <> :b ORDER BY created_at LIMIT 1"
            ),
            {"f": feed_id, "p": plaintext_sha256, "s": STAGED, "b": other_than},
        ).scalar()


def skip_batch(engine: Engine, batch_id: str, reason: str) -> None:
    with engine.begin() as conn:
        set_batch_status(conn, batch_id, SKIPPED, reason=reason)


def reopen_batch(engine: Engine, batch_id: str, reason: str) -> None:
    """A quarantined drop whose files changed since (a new signature over the same manifest): examine it again."""
    with engine.begin() as conn:
        set_batch_status(conn, batch_id, RECEIVED, reason=reason)


def seen_drop_keys(engine: Engine, feed_id: str, outcomes: tuple[str, ...] | None = None) -> dict[str, str]:
    """Keys of the drops of ``feed_id`` that reached a terminal state (one indexed query, however many),
    or only those that reached one of ``outcomes``; each with its batch id."""
    sql, params = "SELECT drop_key, batch_id FROM drop_seen WHERE feed_id = :f", {"f": feed_id}
    if outcomes:
        sql += " AND outcome IN (" + ", ".join(f":o{i}" for i in range(len(outcomes))) + ")"
        params |= {f"o{i}": o for i, o in enumerate(outcomes)}
    with engine.connect() as conn:
        return dict(conn.execute(text(sql), params).all())


def latest_staged(engine: Engine, feed_id: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            text("SELECT batch_id FROM batch WHERE feed_id = :f AND status = :s ORDER BY updated_at DESC LIMIT 1"),
            {"f": feed_id, "s": STAGED},
        ).scalar()


def received_since(engine: Engine, feed_id: str, since: datetime) -> list[datetime]:
    """When each batch of the feed first arrived, for those that arrived at or after ``since`` (naive UTC), in
    whatever state it is now: a drop that came counts, even one quarantined."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT created_at FROM batch WHERE feed_id = :f AND created_at >= :s"), {"f": feed_id, "s": since}
        ).scalars()
        return [(r if isinstance(r, datetime) else datetime.fromisoformat(str(r))).replace(tzinfo=UTC) for r in rows]


def drop_seen(engine: Engine, drop_key: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1 FROM drop_seen WHERE drop_key = :k"), {"k": drop_key}).first() is not None


def record_drop_seen(
    engine: Engine, drop_key: str, feed_id: str, batch_id: str, outcome: str, content_sha256: str | None = None
) -> None:
    """Remember that the drop with these exact files reached ``outcome`` (idempotent: a retry records nothing new),
    and, where known, what its files held (:func:`content_seen`)."""
    if not drop_key or drop_seen(engine, drop_key):
        return
    row = {
        "drop_key": drop_key, "feed_id": feed_id, "batch_id": batch_id, "outcome": outcome, "seen_at": _now(),
        "content_sha256": content_sha256,
    }  # fmt: skip
    try:
        with engine.begin() as conn:
            conn.execute(_insert("drop_seen", row), row)
    except IntegrityError:
        pass  # a concurrent run recorded the same drop first: the same fact


def skipped_batch_named(engine: Engine, feed_id: str, name: str) -> str | None:
    """The batch of ``feed_id`` skipped as a duplicate whose id, or data file name (as shown), is ``name``."""
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT batch_id FROM batch WHERE feed_id = :f AND status = :s AND (batch_id = :n OR file_name = :n)"
                " ORDER BY updated_at DESC LIMIT 1"
            ),
            {"f": feed_id, "s": SKIPPED, "n": name},
        ).scalar()


def content_seen(engine: Engine, batch_id: str, content_sha256: str) -> bool:
    """A drop of ``batch_id`` with exactly these bytes already reached its outcome (listed then with other times)."""
    with engine.connect() as conn:
        return (
            conn.execute(
                text("SELECT 1 FROM drop_seen WHERE batch_id = :b AND content_sha256 = :c"),
                {"b": batch_id, "c": content_sha256},
            ).first()
            is not None
        )


def staged_batches(engine: Engine, feed_id: str, since: date | None = None, until: date | None = None) -> list[Batch]:
    """Staged batches of a feed, oldest first; optionally only those staged from ``since`` to ``until``
    (whole days, inclusive)."""
    clause, params = "", {"f": feed_id, "s": STAGED}
    if since is not None:
        clause += " AND created_at >= :since"
        params["since"] = datetime.combine(since, time.min)
    if until is not None:
        clause += " AND created_at < :until"
        params["until"] = datetime.combine(until + timedelta(days=1), time.min)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                f"SELECT {_BATCH_COLS} FROM batch WHERE feed_id = :f AND status = :s{clause}"
                " ORDER BY created_at, batch_id"
            ),
            params,
        )
        return [Batch(*r) for r in rows]


def delivery_id_for(feed_id: str, source_batch_id: str) -> str:
    return f"{feed_id}:{source_batch_id}"


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    feed_id: str
    partner: str
    source_batch_id: str
    agreement_id: str
    agreement_version: int
    level: int
    file_name: str
    status: str
    file_sha256: str | None = None
    file_size: int | None = None
    rows_out: int | None = None
    fields_sent: list[str] | None = None


_DELIVERY_COLS = ", ".join(f.name for f in fields(Delivery))


def get_delivery(engine: Engine, delivery_id: str) -> Delivery | None:
    with engine.connect() as conn:
        row = conn.execute(
            text(f"SELECT {_DELIVERY_COLS} FROM delivery WHERE delivery_id = :d"), {"d": delivery_id}
        ).first()
    if row is None:
        return None
    values = list(row)
    values[-1] = json.loads(values[-1]) if values[-1] else None
    return Delivery(*values)


def open_delivery(engine: Engine, d: Delivery, dag_id: str, run_id: str) -> Delivery:
    with engine.begin() as conn:
        row = conn.execute(text("SELECT status FROM delivery WHERE delivery_id = :d"), {"d": d.delivery_id}).first()
        if row is None:
            now = _now()
            new = {
                **asdict(d),
                "status": BUILDING,
                "fields_sent": None,
                "dag_id": dag_id,
                "run_id": run_id,
                "created_at": now,
                "updated_at": now,
            }
            conn.execute(_insert("delivery", new), new)
    found = get_delivery(engine, d.delivery_id)
    assert found is not None
    return found


def unfinished_deliveries(engine: Engine, feed_id: str, run_id: str) -> list[Delivery]:
    """Deliveries of ``feed_id`` begun and never completed that no other run is working on now (no claim,
    an expired one, or this run's own): what a failed or killed attempt may have left half-sent."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                f"SELECT {_DELIVERY_COLS} FROM delivery WHERE feed_id = :f AND status = :s"
                " AND (claimed_by IS NULL OR claimed_by = :r OR claim_expires < :n) ORDER BY created_at"
            ),
            {"f": feed_id, "s": BUILDING, "r": run_id, "n": _now()},
        ).all()
    return [Delivery(*row[:-1], json.loads(row[-1]) if row[-1] else None) for row in rows]


def complete_delivery(
    engine: Engine,
    delivery_id: str,
    *,
    file_sha256: str,
    file_size: int,
    rows_out: int,
    fields_sent: list[str],
) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE delivery SET status = :s, file_sha256 = :h, file_size = :z, rows_out = :r,"
                " fields_sent = :f, updated_at = :t, claimed_by = NULL, claim_expires = NULL WHERE delivery_id = :d"
            ),
            {
                "s": DELIVERED,
                "h": file_sha256,
                "z": file_size,
                "r": rows_out,
                "f": json.dumps(fields_sent),
                "t": _now(),
                "d": delivery_id,
            },
        )
