"""On PostgreSQL, the task role can append audit events and stage rows, but cannot rewrite the evidence."""

from __future__ import annotations

import subprocess
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from crosswalk.audit import AuditLog, RunContext
from crosswalk.staging import ledger
from crosswalk.staging.db import make_engine
from crosswalk.staging.grants import task_role_grants
from crosswalk.staging.migrations import upgrade
from tests.conftest import REPO


@pytest.fixture
def owner(postgres_url):
    eng = make_engine(postgres_url)
    upgrade(eng)
    yield eng
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    eng.dispose()


def test_the_task_role_appends_but_cannot_update_or_delete_audit_events(owner, postgres_url):
    role = f"cw_task_{uuid.uuid4().hex[:8]}"
    with owner.begin() as conn:
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
    try:
        cli = [str(REPO / ".venv" / "bin" / "crosswalk"), "db", "grant", "--url", postgres_url, "--role", role]
        done = subprocess.run(cli, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        as_task = make_engine(make_url(postgres_url).set(username=role).render_as_string(hide_password=False))
        AuditLog(as_task, RunContext(task_id="t")).emit("task.started", "started")  # insert: allowed
        ledger.open_batch(
            as_task,
            ledger.Batch("f-1", "f", "p", "m" * 64, "x.csv", None, None, "health_board_index", ledger.RECEIVED),
            "dag",
            "run",
        )  # staging ledgers: allowed
        for statement in ("UPDATE audit_event SET reason = 'x'", "DELETE FROM audit_event", "TRUNCATE audit_event"):
            with pytest.raises(DBAPIError, match="permission denied for table audit_event"), as_task.begin() as conn:
                conn.execute(text(statement))
        as_task.dispose()
    finally:
        with owner.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))


def test_role_names_are_checked():
    with pytest.raises(ValueError, match="not a plain PostgreSQL role name"):
        task_role_grants("x; DROP TABLE audit_event")
