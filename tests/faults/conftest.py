"""A deployment of its own for each fault test: a private sshd behind a throttled link (killed and restarted
at will), the test's own work root and TMPDIR (searched afterwards for anything left behind)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PARTNERS
from tests.support.env import require
from tests.support.faults import PrivatePostgres, Throttle, private_postgres_unavailable_reason
from tests.support.inbox import inbox_entries
from tests.support.project import EnvPatch, Project, edit_yaml, make_project
from tests.support.sshd import Sshd, sshd_unavailable_reason, start_sshd

RATE = 512 * 1024  # bytes a second each way: a 2 MB file takes about 4 s, so a fault lands mid-transfer


@dataclass
class Faulty:
    project: Project
    sshd: Sshd
    link: Throttle
    work_root: Path
    tmpdir: Path
    postgres: PrivatePostgres | None = None  # when the test restarts the database, a cluster of its own

    def left_behind(self) -> list[Path]:
        """Every file under the work root and TMPDIR: after a recovery, there must be none."""
        return sorted(p for d in (self.work_root, self.tmpdir) if d.exists() for p in d.rglob("*") if p.is_file())


@pytest.fixture(params=["sqlite"])
def database(request, tmp_path):
    """The staging database: ``sqlite``; ``postgres`` (a fresh database on the shared server); or
    ``private`` (a PostgreSQL cluster the test starts itself, so that it may restart it)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crosswalk.db'}", None
    elif request.param == "postgres":
        from sqlalchemy import create_engine, text

        url = request.getfixturevalue("postgres_url")
        yield url, None
        from crosswalk.orchestration.connections import dispose_engines

        dispose_engines()
        eng = create_engine(url)
        with eng.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        eng.dispose()
    else:
        require(private_postgres_unavailable_reason())
        cluster = PrivatePostgres().init()
        try:
            yield cluster.url, cluster
        finally:
            from crosswalk.orchestration.connections import dispose_engines

            dispose_engines()
            cluster.stop()


@pytest.fixture
def faulty(tmp_path, database, airflow_db):
    require(sshd_unavailable_reason())
    require(None if shutil.which("age") else "the age CLI is not installed (apt-get install age)")
    from crosswalk.orchestration.connections import dispose_engines

    db_url, cluster = database
    server = start_sshd(PARTNERS)
    link = Throttle(server.port, RATE)
    server.client_port = link.port  # our connections go through the slow link; partners drop files directly
    try:
        project = make_project(tmp_path, server, db_url)
        for path in (project.config_dir / "partners").glob("*.yaml"):
            edit_yaml(path, lambda doc: doc["sftp"].update(transfer_attempts=2))  # exhausted in about a second
        project.reload()
        work_root, tmpdir = tmp_path / "workroot", tmp_path / "tmp"
        tmpdir.mkdir()
        env = {**project.env(), "CROSSWALK_WORK_DIR": str(work_root), "TMPDIR": str(tmpdir)}
        with EnvPatch(env):
            yield Faulty(project, server, link, work_root, tmpdir, cluster)
    finally:
        dispose_engines()
        link.close()
        server.stop()


def assert_recovered(faulty: Faulty) -> None:
    """What must hold once the recovery has run, whatever the fault: nothing left in the work root or
    TMPDIR; no partial or manifest-less file of ours in a partner's inbox; every attempt with an outcome
    event; the audit chain intact."""
    import contextlib
    import io

    from sqlalchemy import text

    from crosswalk.audit import ATTEMPT_OUTCOMES
    from crosswalk.cli import main as cli_main
    from crosswalk.orchestration.connections import engine_for

    assert faulty.left_behind() == []
    for code in faulty.sshd.users:
        names = {p.name for p in inbox_entries(faulty.project.inbox(code))}
        assert not [n for n in names if n.endswith(".part")], names
        data = {n for n in names if n.endswith((".age", ".gpg", ".pgp"))}
        assert all(f"{n}.manifest.json" in names and f"{n}.manifest.json.sig" in names for n in data), names
    engine = engine_for(faulty.project.cfg.settings.database_conn_id)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT run_id, task_id, event FROM audit_event WHERE event LIKE 'task.%'")).all()
    starts: dict = {}
    for run_id, task_id, event in rows:
        if event == "task.started" or event in ATTEMPT_OUTCOMES:
            starts.setdefault((run_id, task_id), [0, 0])[event != "task.started"] += 1
    assert all(n_start == n_end for n_start, n_end in starts.values()), starts
    # `crosswalk audit verify` as an IG officer runs it: its entry point, in this process (the same code).
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli_main(["audit", "verify", "--config", str(faulty.project.config_dir)])
    assert code == 0 and "chain intact" in out.getvalue(), out.getvalue()
