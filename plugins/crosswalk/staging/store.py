"""Staged rows: load a batch atomically and idempotently; read it back in chunks.

Table names come from validated config (``stg_[a-z0-9_]+``) and column names from validated
table schemas, so composing them into SQL is safe; values are always bound parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import Engine, text

from crosswalk.staging.ledger import STAGED, set_batch_status


def stage_batch(
    engine: Engine, table: str, batch_id: str, columns: list[str], chunks: Iterable[list[dict]], rows_in: int
) -> int:
    """Replace the batch's rows with ``chunks`` and mark it staged, all in one transaction.

    A rerun deletes what an earlier attempt may have left and loads again, so the table never
    holds a batch twice; a failure part-way rolls back, so it never holds half a batch.
    """
    cols = ", ".join(["batch_id", "row_number", *columns])
    params = ", ".join([":batch_id", ":row_number", *(f":{c}" for c in columns)])
    insert = text(f"INSERT INTO {table} ({cols}) VALUES ({params})")
    staged = 0
    with engine.begin() as conn:
        conn.execute(text(f"DELETE FROM {table} WHERE batch_id = :b"), {"b": batch_id})
        for rows in chunks:
            if not rows:
                continue
            for i, row in enumerate(rows, start=staged + 1):
                row["batch_id"], row["row_number"] = batch_id, i
            conn.execute(insert, rows)
            staged += len(rows)
        set_batch_status(conn, batch_id, STAGED, rows_in=rows_in, rows_staged=staged)
    return staged


def count_rows(engine: Engine, table: str, batch_id: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            text(f"SELECT COUNT(*) FROM {table} WHERE batch_id = :b"),
            {"b": batch_id},
        ).scalar_one()


def iter_staged(
    engine: Engine, table: str, batch_id: str, columns: list[str], chunk_rows: int = 50_000
) -> Iterator[list[tuple]]:
    """Yield the batch's rows in file order, ``chunk_rows`` at a time, as tuples of ``columns``."""
    cols = ", ".join(columns)
    with engine.connect().execution_options(stream_results=True) as conn:
        result = conn.execute(
            text(f"SELECT {cols} FROM {table} WHERE batch_id = :b ORDER BY row_number"),
            {"b": batch_id},
        )
        while rows := result.fetchmany(chunk_rows):
            yield [tuple(r) for r in rows]
