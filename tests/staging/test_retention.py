"""Retention: staged rows of batches older than the cut-off go; the ledger keeps the batch, marked purged."""

from __future__ import annotations

import io
from datetime import datetime

from sqlalchemy import text

from crosswalk.config.loader import load_config
from crosswalk.staging import ledger
from crosswalk.staging.retention import purge_staged
from crosswalk.staging.tables import count_rows, stage_file

TABLE = "stg_health_board_index"


def _stage(engine, batch_id: str, created: datetime) -> None:
    schema = load_config().schemas["health_board_index"]
    b = ledger.Batch(
        batch_id, "health-index", "p", batch_id.ljust(64, "0"), "x.csv", None, None, schema.id, ledger.RECEIVED
    )
    ledger.open_batch(engine, b, "dag", "run")
    csv = b"chi_number,forename,surname,date_of_birth,sex,postcode,gp_practice_code\n0101011237,A,B,1950-01-01,F,,\n"
    stage_file(engine, TABLE, batch_id, schema, io.BytesIO(csv), 1)
    with engine.begin() as conn:
        conn.execute(text("UPDATE batch SET created_at = :t WHERE batch_id = :b"), {"t": created, "b": batch_id})


def test_old_batches_lose_their_rows_and_new_ones_keep_them(engine):
    _stage(engine, "old", datetime(2026, 1, 1))
    _stage(engine, "new", datetime(2026, 11, 1))
    purged = purge_staged(engine, {"health-index": TABLE}, datetime(2026, 8, 1))
    assert [(p.batch_id, p.rows) for p in purged] == [("old", 1)]
    assert count_rows(engine, TABLE, "old") == 0 and count_rows(engine, TABLE, "new") == 1
    with engine.connect() as conn:
        old = ledger.get_batch(conn, "old")
    assert old.status == ledger.PURGED and old.rows_staged == 1 and "retention" in old.reason
    # A rerun finds nothing more to do.
    assert purge_staged(engine, {"health-index": TABLE}, datetime(2026, 8, 1)) == []
