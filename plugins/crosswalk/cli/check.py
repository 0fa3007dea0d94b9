"""``crosswalk check`` and ``crosswalk pools``: is the configuration sound, and which pools it needs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from crosswalk.cli._common import UsageError, config_parent


def register(sub) -> None:
    check = sub.add_parser(
        "check", parents=[config_parent()], help="validate config/ and include/schemas/; exit 1 on any problem"
    )
    check.add_argument(
        "--offline",
        action="store_true",
        help="do not resolve connections through Airflow's secrets backends (for checking the repository "
        "itself; a deployment runs without it)",
    )
    check.add_argument(
        "--connect",
        action="store_true",
        help="also connect to each partner's SFTP server: compare the host key it presents with the pinned ones"
        " (both fingerprints shown; never trusted on first use), log in, and look for the inbox, outbox and"
        " quarantine",
    )
    check.set_defaults(func=run_check)

    pool = sub.add_parser(
        "pools",
        parents=[config_parent()],
        help="the Airflow pools the DAGs use (one per partner: SFTP sessions at once), for `airflow pools import`",
    )
    pool.add_argument("--out", type=Path, default=None, help="write the JSON here (default: standard output)")
    pool.set_defaults(func=run_pools)


def run_check(args: argparse.Namespace) -> int:
    from crosswalk.config.loader import load_config
    from crosswalk.errors import ConfigErrors

    if args.offline and args.connect:
        raise UsageError("--connect needs the connections: leave out --offline")
    reports: list[str] = []
    try:
        cfg = load_config(args.config, args.schemas)
        from crosswalk.matching.engines import backend_of, unavailable

        if engine := unavailable(backend_of(cfg.settings.matching)):
            raise ConfigErrors(engine)
        if not args.offline:
            from crosswalk.orchestration.connections import connection_problems
            from crosswalk.orchestration.notifiers import notifier_problems
            from crosswalk.orchestration.resources import missing_pools

            pools = missing_pools(cfg)
            problems = connection_problems(cfg) + notifier_problems(cfg.settings.notifications) + (pools or [])
            if problems:
                raise ConfigErrors(problems)
            if pools is None:
                print("crosswalk check: warning: Airflow's metadata database is not reachable from here; the"
                      " SFTP pools were not checked", file=sys.stderr)  # fmt: skip
            if args.connect:
                reports = _connect(cfg)
    except ConfigErrors as exc:
        first, *rest = str(exc).splitlines()
        print("\n".join([f"crosswalk check: FAILED: {first}", *(f"  {line}" for line in rest)]), file=sys.stderr)
        return 1
    for warning in cfg.warnings:
        print(f"crosswalk check: warning: {warning}", file=sys.stderr)
    secrets = "connections not resolved (--offline)" if args.offline else "every connection resolves"
    versions = sum(len(h.versions) for h in cfg.agreements.values())
    print(
        f"crosswalk check: OK: {cfg.config_dir}: {len(cfg.partners)} partner(s), {len(cfg.feeds)} feed(s), "
        f"{len(cfg.agreements)} agreement(s) ({versions} version(s)); {cfg.schemas_dir}: {len(cfg.schemas)} "
        f"table schema(s); {secrets}"
    )
    for line in _schedule_report(cfg, offline=args.offline):
        print(line)
    for line in reports:
        print(f"crosswalk check: connect {line}")
    return 0


def _connect(cfg) -> list[str]:
    """Each partner's server, as a run would reach it; every failure reported, the root causes first."""
    from crosswalk.errors import ConfigError, ConfigErrors
    from crosswalk.orchestration.sftp import probe

    reports, problems = [], []
    for partner in cfg.partners.values():
        try:
            reports.append(probe(partner))
        except ConfigError as exc:
            problems.append(exc)
    if problems:
        raise ConfigErrors(problems)
    return reports


def _schedule_report(cfg, *, offline: bool) -> list[str]:
    """One line per feed that asks for more than manual: graduated, or held and why."""
    from crosswalk.orchestration.resources import schedule_decisions
    from crosswalk.schedules import MANUAL

    return [
        f"crosswalk check: schedule {d.feed_id}: {d.summary()}"
        for d in schedule_decisions(cfg, offline=offline).values()
        if d.requested != MANUAL
    ]


def run_pools(args: argparse.Namespace) -> int:
    import json

    from crosswalk.config.loader import load_config
    from crosswalk.orchestration.sftp import pools

    text = json.dumps(pools(load_config(args.config, args.schemas, check_descriptors=False)), indent=2) + "\n"
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0
