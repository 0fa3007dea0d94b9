"""Apply the DDL in ``include/sql/migrations/`` in order, once each.

Each file runs in one transaction with its row in ``schema_migration``. On PostgreSQL an
advisory lock makes concurrent upgrades (parallel tasks) take turns; on SQLite the write lock
taken by ``BEGIN IMMEDIATE`` does the same.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, text

from crosswalk.paths import SQL_DIR

log = logging.getLogger(__name__)
_LOCK_KEY = 0x43525357  # "CRSW"


def migration_files(sql_dir: Path = SQL_DIR) -> list[Path]:
    return sorted((sql_dir / "migrations").glob("*.sql"))


def split_statements(sql: str) -> list[str]:
    """Split a DDL file into statements. Our DDL has no ';' inside literals, so this is enough."""
    no_comments = re.sub(r"--[^\n]*", "", sql)
    return [s.strip() for s in no_comments.split(";") if s.strip()]


def upgrade(engine: Engine, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply pending migrations; return the versions applied (empty when up to date)."""
    applied_now: list[str] = []
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS schema_migration ("
                " version VARCHAR(100) PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"
            )
        )
        done = {r[0] for r in conn.execute(text("SELECT version FROM schema_migration"))}
        for path in migration_files(sql_dir):
            if path.stem in done:
                continue
            for statement in split_statements(path.read_text(encoding="utf-8")):
                conn.exec_driver_sql(statement)
            conn.execute(
                text("INSERT INTO schema_migration (version, applied_at) VALUES (:v, :t)"),
                {"v": path.stem, "t": datetime.now(UTC).replace(tzinfo=None)},
            )
            applied_now.append(path.stem)
            log.info("Applied migration %s", path.stem)
    return applied_now
