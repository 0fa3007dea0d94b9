"""Test set-up shared by the whole suite.

Airflow reads its configuration when first imported, so a private AIRFLOW_HOME, metadata
database and DAG folder are set here, before any test module imports it.

Integration fixtures need real servers: OpenSSH sshd (as root) and PostgreSQL at
127.0.0.1:5432. Locally a missing server skips with the reason; in CI (CI=true) it fails,
because CI must run them.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="crosswalk-airflow-home-"))
atexit.register(shutil.rmtree, _AIRFLOW_HOME, True)
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }
)

import pytest  # noqa: E402

from tests.support.env import require  # noqa: E402
from tests.support.sshd import sshd_unavailable_reason, start_sshd  # noqa: E402

PARTNERS = ["northshire-council", "nhs-northshire"]


@pytest.fixture(scope="session")
def sshd():
    require(sshd_unavailable_reason())
    server = start_sshd(PARTNERS)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_url():
    from tests.support.env import postgres_database

    with postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated Airflow metadata database, once per session (dag.test() needs one)."""
    from airflow.utils import db

    db.resetdb()
    return os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path):
    """A migrated staging database, on SQLite and on PostgreSQL (its schema emptied afterwards)."""
    from sqlalchemy import text

    from crosswalk.staging.db import make_engine
    from crosswalk.staging.migrations import upgrade

    url = f"sqlite:///{tmp_path / 's.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    eng = make_engine(url)
    upgrade(eng)
    yield eng
    if request.param == "postgres":
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    eng.dispose()


@pytest.fixture
def ckan_portal():
    """The CKAN Action API stand-in on a free port: (stand-in, its URL); the token is CKAN_TOKEN."""
    from tests.support.ckan import CKAN_TOKEN, CkanStandIn

    stand_in = CkanStandIn(CKAN_TOKEN)
    url = stand_in.start()
    yield stand_in, url
    stand_in.stop()


# What makes a test need a real server or a real Airflow run: a fixture that starts or reaches one, or a
# PostgreSQL parameter, or the ``airflow`` mark. Such tests are marked ``server``; `make test-fast` runs the rest.
_SERVER_FIXTURES = {"sshd", "project", "faulty", "deployment", "postgres_url", "airflow_db", "demo_run"}


def pytest_collection_modifyitems(items):
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if (
            _SERVER_FIXTURES & set(getattr(item, "fixturenames", ()))
            or {"postgres", "private"} & set(map(str, params.values()))
            or item.get_closest_marker("airflow")  # a real Airflow run, or the demo's own servers and processes
        ):
            item.add_marker(pytest.mark.server)
