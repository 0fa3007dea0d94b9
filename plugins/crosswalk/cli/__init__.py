"""The ``crosswalk`` command.

One module per command group (as Airflow's CLI keeps its commands); each adds its parser with
``register`` and runs through ``func``. Command bodies import what they need lazily, so
``crosswalk check`` stays quick and never pulls in Airflow.
"""

from __future__ import annotations

import argparse

from crosswalk.cli import agreements, audit, check, db, demo, drops, files, keys, match, publish, review

# The order of ``crosswalk --help``.
GROUPS = (check, agreements, audit, match, review, drops, publish, db, keys, files, demo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crosswalk", description="The crosswalk command.")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
