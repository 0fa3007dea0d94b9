"""The ``crosswalk`` command.

Subcommands import what they need lazily so ``crosswalk check`` stays quick and never pulls in
Airflow.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _cmd_check(args: argparse.Namespace) -> int:
    from crosswalk.config.loader import load_config
    from crosswalk.errors import ConfigErrors

    try:
        cfg = load_config(args.config, args.schemas)
    except ConfigErrors as exc:
        print(f"crosswalk check: FAILED\n{exc}", file=sys.stderr)
        return 1
    print(
        f"crosswalk check: OK: {cfg.config_dir}: {len(cfg.partners)} partner(s), {len(cfg.feeds)} feed(s), "
        f"{len(cfg.agreements)} agreement(s); {cfg.schemas_dir}: {len(cfg.schemas)} table schema(s)"
    )
    return 0


def _cmd_db_upgrade(args: argparse.Namespace) -> int:
    from sqlalchemy import create_engine

    from crosswalk.staging.migrations import upgrade

    applied = upgrade(create_engine(args.url))
    print(f"crosswalk db upgrade: applied {len(applied)} migration(s): {', '.join(applied) or 'none needed'}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from crosswalk.demo.run import run_demo

    return run_demo(Path(args.workdir), rows=args.rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crosswalk", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="validate config/ and include/schemas/; exit 1 on any problem")
    check.add_argument("--config", type=Path, default=None, help="config directory (default: the bundle's)")
    check.add_argument("--schemas", type=Path, default=None, help="table-schema directory (default: the bundle's)")
    check.set_defaults(func=_cmd_check)

    db = sub.add_parser("db", help="staging and audit database")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply the DDL in include/sql/migrations")
    up.add_argument("--url", required=True, help="SQLAlchemy URL, e.g. postgresql+psycopg://host/db")
    up.set_defaults(func=_cmd_db_upgrade)

    demo = sub.add_parser("demo", help="run the embedded end-to-end demo (two local SFTP servers, SQLite)")
    demo.add_argument("--workdir", default=".demo", help="where the demo keeps its servers, keys and database")
    demo.add_argument("--rows", type=int, default=500, help="synthetic clients to generate")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
