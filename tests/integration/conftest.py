from __future__ import annotations

import pytest

from tests.support.project import EnvPatch, make_project


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'crosswalk.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def project(tmp_path, sshd, db_url, airflow_db):
    """A deployment wired to the real sshd and database; partner folders emptied afterwards."""
    import shutil

    from crosswalk.orchestration.connections import dispose_engines
    from tests.support.env import require

    require(None if shutil.which("age") else "the age CLI is not installed (apt-get install age)")

    proj = make_project(tmp_path, sshd, db_url)
    with EnvPatch(proj.env()):
        yield proj
    dispose_engines()
    for user in sshd.users.values():
        for sub in ("inbox", "outbox", "quarantine"):
            for child in (user.root / sub).iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    if not db_url.startswith("sqlite"):
        from sqlalchemy import create_engine, text

        eng = create_engine(db_url)
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        eng.dispose()
