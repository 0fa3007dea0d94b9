"""Staged rows: load a batch atomically and idempotently; read it back in chunks.

Table names come from validated config (``stg_[a-z0-9_]+``) and column names from validated
table schemas, so composing them into SQL is safe; values are always bound parameters.
"""

from __future__ import annotations

import contextlib
import io
import re
import uuid
from collections.abc import Iterable, Iterator
from typing import IO

import pandas as pd
from sqlalchemy import Connection, Engine, text

from crosswalk.errors import StagingFailed
from crosswalk.schemas.tableschema import DEFAULT_DATE_FORMAT, TableSchema
from crosswalk.schemas.validate import iter_chunks, read_header, to_typed
from crosswalk.staging.db import READ_ONLY
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
    """Yield the batch's rows in file order, ``chunk_rows`` at a time, as tuples of ``columns``.

    On PostgreSQL through the driver's own server-side cursor, whose rows are tuples already (a
    million rows of an extract in about half the time SQLAlchemy's row objects take).
    """
    cols = ", ".join(columns)
    with engine.connect().execution_options(stream_results=True, **{READ_ONLY: True}) as conn:
        if conn.dialect.name == "postgresql":
            raw = conn.connection.dbapi_connection
            with raw.cursor(name=f"crosswalk_staged_{uuid.uuid4().hex[:12]}") as cur:
                cur.itersize = chunk_rows
                cur.execute(f"SELECT {cols} FROM {table} WHERE batch_id = %(b)s ORDER BY row_number", {"b": batch_id})
                while rows := cur.fetchmany(chunk_rows):
                    yield rows
            return
        result = conn.execute(
            text(f"SELECT {cols} FROM {table} WHERE batch_id = :b ORDER BY row_number"),
            {"b": batch_id},
        )
        while rows := result.fetchmany(chunk_rows):
            yield [tuple(r) for r in rows]


def stage_file(
    engine: Engine,
    table: str,
    batch_id: str,
    schema: TableSchema,
    stream: IO[bytes],
    rows_in: int,
    chunk_rows: int = 100_000,
) -> int:
    """Stage a validated CSV stream as ``batch_id``: replace, never duplicate; all or nothing.

    On PostgreSQL the file goes in with ``COPY ... FROM STDIN`` as it is (the batch id and row number
    are column defaults; see migration 0005), unless a date column has a non-ISO format, when each
    chunk is re-encoded first. Elsewhere (SQLite, the embedded default) by batched inserts. Either
    way in one transaction with the delete of any earlier attempt, so a failure part-way leaves the
    batch as it was. A quoted empty cell is NULL, as an unquoted one is.
    """
    if engine.dialect.name != "postgresql":
        # Closed here, not by the garbage collector after the stream it reads is gone.
        with contextlib.closing(iter_chunks(stream, schema, chunk_rows)) as read:
            chunks = (to_typed(c, schema) for c in read)
            return stage_batch(engine, table, batch_id, schema.field_names, chunks, rows_in)
    import psycopg

    with engine.begin() as conn:
        found = conn.execute(text("SELECT 1 FROM batch WHERE batch_id = :b FOR UPDATE"), {"b": batch_id}).first()
        if found is None:
            raise StagingFailed(f"{table}: no batch {batch_id} in the ledger")
        # One load per table at a time, so the sequence hands this load an unbroken run of numbers.
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:t))"), {"t": table})
        conn.execute(text(f"DELETE FROM {table} WHERE batch_id = :b"), {"b": batch_id})
        base = conn.execute(text(f"SELECT nextval('{table}_row_seq')")).scalar_one()
        conn.execute(
            text("SELECT set_config('crosswalk.batch_id', :b, true), set_config('crosswalk.row_base', :r, true)"),
            {"b": batch_id, "r": str(base)},
        )
        try:
            staged = _copy(conn, table, schema, stream, chunk_rows)
        except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as exc:
            # Not chained: the database's message and context quote the offending value.
            raise StagingFailed(f"{table}: {_where(exc)}") from None
        set_batch_status(conn, batch_id, STAGED, rows_in=rows_in, rows_staged=staged)
    return staged


def _copy(conn: Connection, table: str, schema: TableSchema, stream: IO[bytes], chunk_rows: int) -> int:
    names = ", ".join(schema.field_names)
    cur = conn.connection.dbapi_connection.cursor()
    iso = all(f.date_format == DEFAULT_DATE_FORMAT for f in schema.fields if f.type == "date")
    with cur:
        if iso:
            start = stream.tell()
            header = read_header(stream)
            stream.seek(start)
            if stream.read(3) != b"\xef\xbb\xbf":  # a byte-order mark is not part of the header
                stream.seek(start)
            cols = ", ".join(header)  # the file's own order; validation checked the set against the schema
            sql = f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv, HEADER MATCH, FORCE_NULL ({cols}))"
            with cur.copy(sql) as copy:
                while block := stream.read(1 << 20):
                    copy.write(block)
        else:
            sql = f"COPY {table} ({names}) FROM STDIN WITH (FORMAT csv, FORCE_NULL ({names}))"
            with cur.copy(sql) as copy, contextlib.closing(iter_chunks(stream, schema, chunk_rows)) as read:
                for chunk in read:
                    buf = io.StringIO()
                    _for_copy(chunk, schema).to_csv(buf, header=False, index=False)
                    copy.write(buf.getvalue().encode())
        return cur.rowcount


def _where(exc) -> str:
    """SQLSTATE, line and column of a COPY error, without the value the context quotes."""
    found = re.search(r"line (\d+), column (\w+)", exc.diag.context or "")
    where = f" at line {found[1]}, column {found[2]}" if found else ""
    return f"the database refused the rows ({exc.sqlstate}, {type(exc).__name__}){where}"


def _for_copy(chunk: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    """The chunk's columns in schema order, dates as ISO text."""
    out = chunk[schema.field_names].copy()
    for spec in schema.fields:
        if spec.type == "date" and spec.date_format != DEFAULT_DATE_FORMAT:
            col = out[spec.name]
            parsed = pd.to_datetime(col.where(col != ""), format=spec.date_format, errors="raise")
            out[spec.name] = parsed.dt.strftime("%Y-%m-%d").fillna("")
    return out
