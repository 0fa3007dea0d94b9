"""Retention of staged personal data: batches staged longer ago than the configured number of days
lose their rows; the ledger keeps the batch (hashes, counts) marked ``purged``. One transaction per
batch, so a purge interrupted part-way leaves every batch either whole or purged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, text

from crosswalk.staging.ledger import PURGED, STAGED, set_batch_status


@dataclass(frozen=True)
class Purged:
    feed_id: str
    batch_id: str
    rows: int


def purge_staged(engine: Engine, tables: dict[str, str], staged_before: datetime) -> list[Purged]:
    """Delete the rows of every staged batch of the feeds in ``tables`` (feed id -> staging table)
    created before ``staged_before``; mark each batch purged."""
    out = []
    with engine.connect() as conn:
        old = conn.execute(
            text("SELECT feed_id, batch_id FROM batch WHERE status = :s AND created_at < :t ORDER BY created_at"),
            {"s": STAGED, "t": staged_before},
        ).all()
    for feed_id, batch_id in old:
        table = tables.get(feed_id)
        if table is None:
            continue  # a feed no longer configured: left for a person to decide
        with engine.begin() as conn:
            rows = conn.execute(text(f"DELETE FROM {table} WHERE batch_id = :b"), {"b": batch_id}).rowcount
            set_batch_status(conn, batch_id, PURGED, reason=f"retention: staged before {staged_before:%Y-%m-%d}")
        out.append(Purged(feed_id, batch_id, rows))
    return out
