"""The PostgreSQL role that feed tasks use: everything they need, and no way to rewrite the evidence.

Tasks insert and read audit events but may not update, delete or truncate them (the append-only
trigger refuses those for everyone as well); staging and ledger tables they may change. Migrations
and the audit DAG's retention purge run as the owner of the tables instead.
"""

from __future__ import annotations

import re

from sqlalchemy import Engine, text

_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def task_role_grants(role: str) -> list[str]:
    if not _ROLE.match(role):
        raise ValueError(f"{role!r} is not a plain PostgreSQL role name (lower case, digits, underscores)")
    return [
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_event FROM {role}",
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migration FROM {role}",
    ]


def grant_task_role(engine: Engine, role: str) -> list[str]:
    """Apply :func:`task_role_grants` (run as the tables' owner, after `crosswalk db upgrade`)."""
    if engine.dialect.name != "postgresql":
        raise ValueError("roles and grants are PostgreSQL's; SQLite (the embedded demo) has none")
    statements = task_role_grants(role)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    return statements
