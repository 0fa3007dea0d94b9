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


DIALECTS = ("postgresql", "sqlite")


def migration_files(sql_dir: Path = SQL_DIR, dialect: str | None = None) -> list[Path]:
    """``NNNN_name.sql`` runs everywhere; ``NNNN_name.<dialect>.sql`` only on that dialect."""

    def applies(path: Path) -> bool:
        suffix = path.stem.rsplit(".", 1)[-1] if "." in path.stem else None
        return suffix is None or suffix == dialect

    def order(path: Path) -> tuple[str, bool]:  # a dialect's part of a migration runs after the shared part
        return path.stem.split(".", 1)[0], "." in path.stem

    return sorted((p for p in (sql_dir / "migrations").glob("*.sql") if applies(p)), key=order)


def split_statements(sql: str) -> list[str]:
    """Split a DDL file into statements at ``;`` ending a line, except inside a ``$$`` body
    (PostgreSQL functions) or a ``CREATE TRIGGER … END;`` block (SQLite). Our DDL has no ``;`` in
    literals, so this is enough."""
    statements: list[str] = []
    current: list[str] = []
    in_dollar = False
    for line in re.sub(r"--[^\n]*", "", sql).splitlines():
        current.append(line)
        stripped = line.strip()
        if stripped.count("$$") % 2:
            in_dollar = not in_dollar
        if in_dollar or not stripped.endswith(";"):
            continue
        text_so_far = "\n".join(current)
        in_trigger_body = (
            re.match(r"\s*CREATE\s+TRIGGER\b", text_so_far, re.I)
            and re.search(r"\bBEGIN\b", text_so_far, re.I)
            and not re.search(r"\bEND\s*;\s*$", text_so_far, re.I)
        )
        if in_trigger_body:
            continue
        statements.append(text_so_far.strip().removesuffix(";").strip())
        current = []
    tail = "\n".join(current).strip().removesuffix(";").strip()
    if tail:
        statements.append(tail)
    return [s for s in statements if s]


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
        for path in migration_files(sql_dir, engine.dialect.name):
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
