"""A task's process SIGKILLed at the worst moment (mid-COPY into PostgreSQL; mid-upload to a partner) and
PostgreSQL restarted under a COPY: the retry stages or delivers once, and nothing is left behind."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from crosswalk.audit import read_events
from crosswalk.orchestration import bookends, dag_inbound
from crosswalk.orchestration.connections import engine_for
from crosswalk.staging import ledger
from tests.faults.conftest import assert_recovered
from tests.faults.test_sftp_outages import COUNCIL, DELIVER, INBOUND, INGEST, NHS, OUTBOUND, _largest
from tests.support.airflow import task_context as context
from tests.support.faults import Attempt, attempt, wait_for
from tests.support.inbox import inbox_entries
from tests.support.project import clients_csv
from tests.support.sshd import descendants

pytestmark = [pytest.mark.sshd]
ROWS = 50_000  # a COPY long enough to be caught in the act


def _drop(faulty, n: int) -> dict:
    p = faulty.project
    feed = p.cfg.inbound("council-clients")
    p.drop(COUNCIL, clients_csv(p.work, n=n), feed=feed.id, schema_id=feed.schema_id)
    bookends.prepare(feed.id, context(INBOUND, "prepare", "in-1"))
    [drop] = dag_inbound.discover(feed.id, context(INBOUND, "discover_drops", "in-1"))
    return drop


def _copying(url: str):
    """True while a COPY into a staging table runs on the database at ``url`` (seen from another session)."""
    watcher = create_engine(url, pool_pre_ping=True)

    def now() -> bool:
        try:
            with watcher.connect() as conn:
                return bool(
                    conn.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'COPY stg_%'"
                            " AND datname = current_database()"
                        )
                    ).scalar_one()
                )
        except Exception:
            return False

    return now, watcher


def _caught_mid_copy(faulty, tmp_path) -> tuple[dict, Attempt]:
    """A drop of ``ROWS`` rows being taken in by a first attempt, caught while its COPY runs."""
    faulty.link.rate = 100 * 1024 * 1024
    drop = _drop(faulty, ROWS)
    copying, watcher = _copying(faulty.project.db_url)
    first = attempt(INGEST, INBOUND, "ingest_drop[0]", "in-1", "council-clients", drop, log=tmp_path / "a1.log")
    try:
        first.until(copying)
    finally:
        watcher.dispose()
    return drop, first


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _running(pid: int) -> bool:
    """Alive, and not a zombie waiting for its new parent to reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _staged_once(n: int) -> None:
    engine = engine_for("crosswalk_db")
    assert len(ledger.staged_batches(engine, "council-clients")) == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM stg_social_care_client")).scalar_one() == n
    assert len(read_events(engine, event="batch.staged")) == 1
    assert len(read_events(engine, event="file.received")) == 1


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_a_task_killed_mid_copy_is_retried_the_batch_staged_once_and_the_attempt_accounted_for(faulty, tmp_path):
    drop, first = _caught_mid_copy(faulty, tmp_path)
    first.kill()
    assert [p for p in faulty.work_root.rglob("*") if p.is_file()]  # what the kill left: swept by the retry

    second = attempt(INGEST, INBOUND, "ingest_drop[0]", "in-1", "council-clients", drop, log=tmp_path / "a2.log")
    assert second.result()["outcome"] == "staged"
    _staged_once(ROWS)
    engine = engine_for("crosswalk_db")
    [abandoned] = read_events(engine, event="task.abandoned")
    assert abandoned["task_id"] == "ingest_drop[0]" and "recorded no outcome" in abandoned["reason"]
    [swept] = read_events(engine, event="workroot.swept")
    assert json.loads(swept["detail"])["directories"] >= 1
    assert_recovered(faulty)


@pytest.mark.parametrize("database", ["private"], indirect=True)
def test_postgresql_restarted_mid_copy_the_retry_stages_the_batch_once(faulty, tmp_path):
    drop, first = _caught_mid_copy(faulty, tmp_path)
    faulty.postgres.restart()  # every session cut off mid-statement
    assert first.wait() != 0
    assert "lost the connection to the database" in first.tail(200_000)  # the reason an operator reads

    second = attempt(INGEST, INBOUND, "ingest_drop[0]", "in-1", "council-clients", drop, log=tmp_path / "a2.log")
    assert second.result()["outcome"] == "staged"
    _staged_once(ROWS)
    assert_recovered(faulty)


def test_a_task_killed_mid_upload_leaves_no_orphan_and_its_retry_delivers_once(faulty, tmp_path):
    faulty.link.rate = 100 * 1024 * 1024
    drop = _drop(faulty, 20_000)
    batch = dag_inbound.ingest("council-clients", drop, context(INBOUND, "ingest_drop", "in-1", 0))["batch_id"]
    faulty.link.rate = 256 * 1024
    inbox = faulty.project.inbox(NHS)

    first = attempt(DELIVER, OUTBOUND, "deliver_batch[0]", "out-1", "clients-to-health", batch, log=tmp_path / "a1.log")
    children: list[int] = []

    def mid_upload() -> bool:
        children[:] = descendants(first.proc.pid)  # the OpenSSH client doing the upload, and its ssh
        return _largest(inbox.glob("*.part")) > 100_000

    first.kill_when(mid_upload)
    clients = [pid for pid in children if _name(pid) in ("sftp", "ssh")]
    agents = [pid for pid in children if _name(pid) == "ssh-agent"]
    assert clients and agents
    # The client dies with the task: an orphan would carry on, and rename the data file into place.
    wait_for(lambda: not [pid for pid in clients if _running(pid)], 10, "the clients' end")
    time.sleep(2)
    assert [p.name for p in inbox_entries(inbox)] == [p.name for p in inbox.glob("*.part")]

    faulty.link.rate = 100 * 1024 * 1024
    second = attempt(
        DELIVER, OUTBOUND, "deliver_batch[0]", "out-1", "clients-to-health", batch, log=tmp_path / "a2.log"
    )
    assert second.result()["outcome"] == "delivered"
    assert not [pid for pid in agents if _running(pid)]  # the dead attempt's key agent: stopped by the sweep
    assert len(list(inbox_entries(inbox))) == 3
    engine = engine_for("crosswalk_db")
    assert len(read_events(engine, event="file.delivered")) == 1
    assert [e["task_id"] for e in read_events(engine, event="task.abandoned")] == ["deliver_batch[0]"]
    assert_recovered(faulty)
