"""What several command groups share: argument types, the parent parsers and the audit database."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def iso_date(text: str):
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from exc


def day_start(text: str | None):
    from datetime import datetime

    return None if text is None else datetime.combine(iso_date(text), datetime.min.time())


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

    return engine_for(load_config(args.config, check_descriptors=False).settings.database_conn_id)


def write_secret(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never overwrite a key
    with os.fdopen(fd, "w") as f:
        f.write(text)
