"""What several command groups share: argument types, the parent parsers and the audit database."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


class UsageError(Exception):
    """Arguments that parse but do not make sense together (``--from`` after ``--to``): exit 2, as argparse does."""


def iso_date(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def day_start(day):
    """Midnight at the start of ``day`` (a date, or None)."""
    from datetime import datetime

    return None if day is None else datetime.combine(day, datetime.min.time())


def period(date_from, date_to):
    """``[from, to]`` as whole days, refusing a period that ends before it starts."""
    if date_from is not None and date_to is not None and date_to < date_from:
        raise UsageError(f"--to {date_to} is before --from {date_from}: give the first day first")
    return date_from, date_to


def config_parent(*, schemas: bool = True) -> argparse.ArgumentParser:
    """``--config`` (and ``--schemas``): where the bundle's configuration is, when not the bundle's own."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--config", type=Path, default=None, help="config directory (default: the bundle's)")
    if schemas:
        parent.add_argument("--schemas", type=Path, default=None, help="table-schema directory (default: the bundle's)")
    return parent


def database_parent() -> argparse.ArgumentParser:
    """``--url`` or the configured connection: the staging and audit database."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--url", help="database URL (default: the configured connection, via Airflow)")
    parent.add_argument("--config", type=Path, default=None, help="config directory (default: the bundle's)")
    return parent


def audit_engine(args: argparse.Namespace):
    """The staging and audit database: ``--url``, else the configured connection (secrets backend)."""
    if args.url:
        from crosswalk.staging.db import make_engine

        return make_engine(args.url)
    from crosswalk.config.loader import load_config
    from crosswalk.orchestration.connections import engine_for

    conn_id = load_config(args.config, check_descriptors=False).settings.database_conn_id
    try:
        return engine_for(conn_id)
    except Exception as exc:  # Airflow's lookup fails in many ways outside a deployment; the remedy is one
        raise UsageError(
            f"cannot read the connection {conn_id!r} here ({type(exc).__name__}): run where Airflow's"
            " connections are, or pass --url (e.g. postgresql://user@host/db)"
        ) from exc


def disclosure_key(args: argparse.Namespace) -> bytes:
    """Our disclosure-log key, from its connection (the secrets backend)."""
    from crosswalk.config.loader import load_config
    from crosswalk.orchestration.connections import disclosure_key as read

    cfg = load_config(args.config, check_descriptors=False)
    try:
        return read(cfg)
    except Exception as exc:  # outside a deployment Airflow's lookup fails in many ways; the remedy is one
        raise UsageError(
            f"cannot read the disclosure key's connection {cfg.settings.keys.disclosure_key_conn_id!r} here"
            f" ({type(exc).__name__}): run where Airflow's connections are"
        ) from exc


def write_secret(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never overwrite a key
    with os.fdopen(fd, "w") as f:
        f.write(text)
