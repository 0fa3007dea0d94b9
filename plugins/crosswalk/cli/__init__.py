"""The ``crosswalk`` command.

One module per command group (as Airflow's CLI keeps its commands); each adds its parser with
``register`` and runs through ``func``. Command bodies import what they need lazily, so
``crosswalk check`` stays quick and never pulls in Airflow.

No input makes it print a traceback: usage errors exit 2 (argparse's own, and :class:`UsageError`), every
other failure exits 1 with one line, from :func:`one_line`. ``--debug`` (or ``CROSSWALK_DEBUG=1``) shows the
traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from crosswalk.cli import agreements, audit, check, db, demo, drops, files, keys, match, partner, publish, review

# The order of ``crosswalk --help``.
GROUPS = (check, agreements, audit, match, review, drops, partner, publish, db, keys, files, demo)


EXAMPLES = """examples:
  crosswalk check                                   the config, and every connection it names, before a deploy
  crosswalk check --offline                         the config alone (no Airflow needed)
  crosswalk agreements show northshire-isp          an agreement's fields by level, lawful basis and sign-offs
  crosswalk audit report --from 2026-11-01 --to 2026-11-30 -o reports   the IG report for November
  crosswalk review list --feed council-clients      pairs awaiting a reviewer
  crosswalk partner pack northshire-council -o pack   a partner's guide, our keys and their drop scripts
  crosswalk manifest --feed F --schema S --sender ORG -r age1... plain.csv plain.csv.age   a partner's manifest
  crosswalk match retrain council-clients --by "A Analyst"   a new model, scored on the reviewers' decisions

Each command has its own --help. Exit status: 0 done, 1 failed, 2 bad usage."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crosswalk",
        description="Governed data exchange between health and social-care organisations.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("--debug", action="store_true", help="on failure, show the traceback (it may show data)")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from crosswalk.cli._common import UsageError

    args = build_parser().parse_args(argv)  # a usage error exits 2 here, with argparse's one line
    name = " ".join(["crosswalk", args.command, *filter(None, [_subcommand(args)])])
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug or os.environ.get("CROSSWALK_DEBUG"):
            raise
        print(f"{name}: {one_line(exc)}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError) else 1


def one_line(exc: BaseException) -> str:
    """What went wrong, in one line, never a value from a record. Our own exceptions (and anything raised in our
    code) say it in our words, which never quote a cell; a file the system could not open names the file; a
    database that refused names the driver's reason. Anything else raised inside a library (a CSV parser, say)
    may quote the data it choked on, so only its kind is shown."""
    from crosswalk.errors import CrosswalkError

    first = (str(exc).strip().splitlines() or [""])[0]
    if isinstance(exc, CrosswalkError) or _raised_in_our_code(exc):
        return first or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error
    if orig is not None and type(exc).__module__.startswith("sqlalchemy"):
        reason = (str(orig).strip().splitlines() or [""])[0]
        return f"the database refused: {reason} (check --url or the database connection)"
    return f"failed ({type(exc).__name__} in {type(exc).__module__.split('.')[0]}); run with --debug for the details"


def _raised_in_our_code(exc: BaseException) -> bool:
    import crosswalk

    ours = os.path.dirname(os.path.abspath(crosswalk.__file__)) + os.sep
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and os.path.abspath(frames[-1].filename).startswith(ours)


def _subcommand(args: argparse.Namespace) -> str | None:
    return next((v for k, v in vars(args).items() if k.endswith("_command") and isinstance(v, str)), None)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("crosswalk")
    except PackageNotFoundError:
        return "unknown (not installed)"
