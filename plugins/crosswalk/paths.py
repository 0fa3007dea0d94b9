"""Where the bundle's files are.

The bundle root is the repository root (``plugins/crosswalk`` is two levels below it). A
deployment may keep its configuration elsewhere: Airflow's own config option
``[crosswalk] config_dir`` (environment ``AIRFLOW__CROSSWALK__CONFIG_DIR``) and
``[crosswalk] schemas_dir`` override the defaults. We read the environment form directly so the
``crosswalk`` command does not have to import Airflow just to find its files.
"""

from __future__ import annotations

import os
from pathlib import Path

BUNDLE_ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = BUNDLE_ROOT / "include" / "sql"


def default_config_dir() -> Path:
    return Path(os.environ.get("AIRFLOW__CROSSWALK__CONFIG_DIR") or BUNDLE_ROOT / "config")


def default_schemas_dir() -> Path:
    return Path(os.environ.get("AIRFLOW__CROSSWALK__SCHEMAS_DIR") or BUNDLE_ROOT / "include" / "schemas")
