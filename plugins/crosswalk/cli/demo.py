"""``crosswalk demo``: the embedded end-to-end demo."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub) -> None:
    demo = sub.add_parser("demo", help="run the embedded end-to-end demo (two local SFTP servers, SQLite)")
    demo.add_argument("--workdir", default=".demo", help="where the demo keeps its servers, keys and database")
    demo.add_argument("--rows", type=int, default=500, help="synthetic clients to generate")
    demo.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from crosswalk.demo.run import run_demo

    return run_demo(Path(args.workdir), rows=args.rows)
