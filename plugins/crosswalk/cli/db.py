"""``crosswalk db``: the staging and audit database's schema and grants."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    db = sub.add_parser("db", help="staging and audit database")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply the DDL in include/sql/migrations")
    up.add_argument("--url", required=True, help="SQLAlchemy URL, e.g. postgresql+psycopg://host/db")
    up.set_defaults(func=run_upgrade)
    grant = db_sub.add_parser(
        "grant", help="give a PostgreSQL role what feed tasks need, with insert-only access to audit_event"
    )
    grant.add_argument("--url", required=True, help="SQLAlchemy URL, connecting as the tables' owner")
    grant.add_argument("--role", required=True, help="the role the crosswalk_db connection of tasks logs in as")
    grant.set_defaults(func=run_grant)


def run_upgrade(args: argparse.Namespace) -> int:
    from sqlalchemy import create_engine

    from crosswalk.staging.migrations import upgrade

    applied = upgrade(create_engine(args.url))
    print(f"crosswalk db upgrade: applied {len(applied)} migration(s): {', '.join(applied) or 'none needed'}")
    return 0


def run_grant(args: argparse.Namespace) -> int:
    from sqlalchemy import create_engine

    from crosswalk.staging.grants import grant_task_role

    done = grant_task_role(create_engine(args.url), args.role)
    print(f"crosswalk db grant: {args.role}: " + "; ".join(done))
    return 0
