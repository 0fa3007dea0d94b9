"""Database engines for the staging and audit store (PostgreSQL in production, SQLite embedded), and
the one bulk load every set-based write goes through."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event, text

if TYPE_CHECKING:  # engines are made while DAG files are parsed, which must not import pandas
    import pandas as pd


READ_ONLY = "crosswalk_read_only"  # an execution option: this connection only reads


def make_engine(url: str) -> Engine:
    """Create an engine with the settings Crosswalk relies on.

    For SQLite: transactions that really cover DDL and bulk inserts (pysqlite otherwise commits
    implicitly around DDL, which would let a failed load leave half a batch), foreign keys on,
    and a busy timeout so parallel tasks wait for the write lock instead of failing.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: sqlite3.Connection, _record) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            dbapi_conn.execute("PRAGMA foreign_keys = ON")
            dbapi_conn.execute("PRAGMA journal_mode = WAL")

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn) -> None:
            # IMMEDIATE takes the write lock up front, so two writers queue rather than deadlock. A reader
            # (execution option READ_ONLY) takes none: under WAL it reads while a writer holds the lock, as a
            # publish does when it streams the batch it reads into the version it writes.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


def create_temp_table(conn: Connection, name: str, columns: Sequence[str], numeric: Sequence[str] = ()) -> None:
    """A fresh temporary table of text columns (``numeric`` ones double precision), inside the caller's
    transaction: it lives on that connection only, and a rollback takes it away."""
    conn.execute(text(f"DROP TABLE IF EXISTS {name}"))
    cols = ", ".join(f"{c} {'DOUBLE PRECISION' if c in numeric else 'TEXT'}" for c in columns)
    conn.execute(text(f"CREATE TEMPORARY TABLE {name} ({cols})"))


def csv_blocks(frame: pd.DataFrame, rows_per_block: int = 100_000) -> Iterator[bytes]:
    """``frame`` as CSV without a header, a block of rows at a time, by Arrow's writer: a null is an
    unquoted empty field, an empty string ``""`` (how COPY tells them apart)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    for batch in arrow.to_batches(max_chunksize=rows_per_block):
        buf = io.BytesIO()
        pacsv.write_csv(batch, buf, options)
        yield buf.getvalue()


def load_rows(conn: Connection, table: str, columns: Sequence[str], frame: pd.DataFrame) -> int:
    """Load ``frame``'s ``columns`` into ``table`` as one set, inside the caller's transaction; missing
    values become NULL, an empty string stays empty.

    PostgreSQL: ``COPY ... FROM STDIN (FORMAT csv)`` fed by :func:`csv_blocks`. Elsewhere (SQLite): one
    ``executemany``.
    """
    cols = ", ".join(columns)
    cur = conn.connection.dbapi_connection.cursor()
    try:
        if conn.dialect.name == "postgresql":
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv)") as copy:
                for block in csv_blocks(frame[list(columns)]):
                    copy.write(block)
        else:
            values = frame[list(columns)].astype(object)
            rows = values.where(values.notna(), None).itertuples(index=False, name=None)
            cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({', '.join('?' * len(columns))})", rows)
    finally:
        cur.close()
    return len(frame)
