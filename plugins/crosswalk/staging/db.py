"""Database engines for the staging and audit store (PostgreSQL in production, SQLite embedded)."""

from __future__ import annotations

import sqlite3

from sqlalchemy import Engine, create_engine, event


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
            # IMMEDIATE takes the write lock up front, so two writers queue rather than deadlock.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)
