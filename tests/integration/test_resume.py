"""A download cut off in one attempt resumes in the next, from the ciphertext spooled per batch in the work
root; the plaintext of the failed attempt is gone; the spool goes once the drop has its outcome."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import pytest

from crosswalk import workroot
from crosswalk.audit import AuditLog, RunContext
from crosswalk.errors import TransferError
from crosswalk.orchestration.connections import age_identities, engine_for, openpgp_secret
from crosswalk.orchestration.sftp import partner_bulk, partner_sftp
from crosswalk.pipeline.inbound import InboundJob, discover, ingest_drop
from crosswalk.staging.migrations import upgrade
from tests.support.project import clients_csv

pytestmark = [pytest.mark.sshd]
COUNCIL = "northshire-council"


def _take_in(project, run_id: str = "r1", bulk=None):
    """One ingest attempt as the inbound task makes it: discover the one new drop, take it in."""
    cfg, feed = project.cfg, project.cfg.inbound("council-clients")
    partner = cfg.partners[COUNCIL]
    engine = engine_for(cfg.settings.database_conn_id)
    audit = AuditLog(engine, RunContext(dag_id="inbound_council_clients", run_id=run_id, task_id="ingest_drop"))
    with partner_sftp(partner) as sftp:
        [drop] = discover(sftp, cfg, feed, engine).new
        bulk = bulk or partner_bulk(partner)
        return ingest_drop(
            InboundJob(sftp, engine, audit, cfg, feed, age_identities(cfg), bulk, openpgp_secret(cfg)), drop
        )


@dataclass
class CutOff:
    """The real bulk engine, but the link drops after ``keep`` bytes of the first download."""

    real: object
    keep: int

    def download(self, remote, local):
        self.real.download(remote, local)  # the whole file, then cut it back to what had arrived
        part = local.with_name(local.name + ".part")
        local.replace(part)
        with part.open("r+b") as f:
            f.truncate(self.keep)
        raise TransferError("connection reset by peer (injected)")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_download_cut_off_in_one_attempt_resumes_in_the_next(project, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(workroot.ENV, str(tmp_path / "workroot"))
    cfg, feed = project.cfg, project.cfg.inbound("council-clients")
    partner = cfg.partners[COUNCIL]
    project.drop(COUNCIL, clients_csv(project.work, n=300), feed=feed.id, schema_id=feed.schema_id)
    engine = engine_for(cfg.settings.database_conn_id)
    upgrade(engine)

    with pytest.raises(TransferError):
        _take_in(project, bulk=CutOff(partner_bulk(partner), keep=10_000))
    [spooled] = (tmp_path / "workroot" / "spool").iterdir()
    assert spooled.name.endswith(".part") and spooled.stat().st_size == 10_000  # ciphertext, kept for the retry
    assert [p.name for p in (tmp_path / "workroot").iterdir()] == ["spool"]  # the attempt's private directory: gone

    with caplog.at_level(logging.INFO):
        result = _take_in(project)
    assert result.outcome == "staged" and result.rows == 300
    assert any(r.getMessage().startswith("Resuming") and "at byte 10000" in r.getMessage() for r in caplog.records)
    assert list((tmp_path / "workroot" / "spool").iterdir()) == []  # the drop has its outcome: the spool goes


@dataclass
class Slow:
    """The real bulk engine, slowed so that a second run arrives while the first is downloading."""

    real: object
    started: object  # threading.Event

    def download(self, remote, local):
        import time

        self.started.set()
        time.sleep(1.5)
        return self.real.download(remote, local)


def test_two_runs_at_once_take_a_drop_in_once_and_a_dead_runs_claim_is_taken_over(project, tmp_path, monkeypatch):
    import threading
    from datetime import datetime

    from sqlalchemy import text

    from crosswalk.audit import read_events

    monkeypatch.setenv(workroot.ENV, str(tmp_path / "workroot"))
    cfg, feed = project.cfg, project.cfg.inbound("council-clients")
    partner = cfg.partners[COUNCIL]
    project.drop(COUNCIL, clients_csv(project.work, n=50), feed=feed.id, schema_id=feed.schema_id)
    engine = engine_for(cfg.settings.database_conn_id)
    upgrade(engine)

    def run(run_id, bulk, results):
        results[run_id] = _take_in(project, run_id, bulk)

    results: dict = {}
    started = threading.Event()
    first = threading.Thread(target=run, args=("run-1", Slow(partner_bulk(partner), started), results))
    first.start()
    assert started.wait(30)
    run("run-2", partner_bulk(partner), results)  # meets run-1's live claim
    first.join()
    assert results["run-1"].outcome == "staged" and results["run-2"].outcome == "skipped"
    assert results["run-2"].reason == "in progress in run run-1"
    assert len(read_events(engine, event="file.received")) == 1 and len(read_events(engine, event="batch.staged")) == 1

    # A run killed mid-drop leaves its claim: live, the drop is left to it; expired, the next run takes over.
    import hashlib

    from crosswalk.staging import ledger

    enc = project.drop(COUNCIL, clients_csv(project.work, n=20, name="clients_20261122.csv", seed=9), feed=feed.id,
                       schema_id=feed.schema_id)  # fmt: skip
    manifest = (project.outbox(COUNCIL) / f"{enc.name}.manifest.json").read_bytes()
    sha = hashlib.sha256(manifest).hexdigest()
    batch_id = ledger.batch_id_for(feed.id, sha)
    batch = ledger.Batch(batch_id, feed.id, COUNCIL, sha, enc.name, None, None, feed.schema_id, ledger.RECEIVED)
    ledger.open_batch(engine, batch, "inbound_council_clients", "dead-run")
    assert ledger.claim_batch(engine, batch_id, "dead-run") is None
    results.clear()
    run("run-3", partner_bulk(partner), results)
    assert results["run-3"].outcome == "skipped" and results["run-3"].reason == "in progress in run dead-run"
    with engine.begin() as conn:  # time passes: the dead run's claim runs out
        conn.execute(text("UPDATE batch SET claim_expires = :t WHERE batch_id = :b"),
                     {"t": datetime(2000, 1, 1), "b": batch_id})  # fmt: skip
    run("run-4", partner_bulk(partner), results)
    assert results["run-4"].outcome == "staged" and results["run-4"].batch_id == batch_id


def test_a_full_work_root_is_named_with_its_free_space_and_the_drop_is_taken_in_once_there_is_room(
    project, tmp_path, monkeypatch
):
    """A real, small filesystem as the work root (a 1 MiB tmpfs): the drop does not fit, is held before any
    download with the space it needs (ops told, the partner not blamed, never retried run after run); once the
    filesystem is larger and an operator releases it, it is staged."""
    import subprocess

    from crosswalk.errors import DropHeld
    from crosswalk.staging import ledger

    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount)], check=True)
    try:
        monkeypatch.setenv(workroot.ENV, str(mount / "work"))
        cfg, feed = project.cfg, project.cfg.inbound("council-clients")
        project.drop(COUNCIL, clients_csv(project.work, n=4000), feed=feed.id, schema_id=feed.schema_id)
        engine = engine_for(cfg.settings.database_conn_id)
        upgrade(engine)

        with pytest.raises(DropHeld) as held:
            _take_in(project)
        with engine.connect() as conn:
            batch = ledger.get_batch(conn, held.value.batch_id)
        assert batch.status == "held" and held.value.code == "work_root_full"
        assert re.search(rf"work_root_full: .* in the work root {mount / 'work'}, which has \d+ free", batch.reason)
        subprocess.run(["mount", "-o", "remount,size=64m", str(mount)], check=True)
        ledger.release_batch(engine, batch.batch_id)
        assert _take_in(project).outcome == "staged"
    finally:
        subprocess.run(["umount", str(mount)], check=False)


KILLED_MID_INGEST = """
import os, signal, sys
from crosswalk.audit import AuditLog, RunContext
from crosswalk.orchestration.connections import age_identities, engine_for, openpgp_secret
from crosswalk.orchestration.resources import project_config
from crosswalk.orchestration.sftp import partner_bulk, partner_sftp
from crosswalk.pipeline import inbound

def killed(*args, **kwargs):  # the worker dies with the plaintext decrypted and validated on disk
    os.kill(os.getpid(), signal.SIGKILL)

inbound._stage = killed
cfg = project_config()
feed = cfg.inbound("council-clients")
partner = cfg.partners[feed.partner]
engine = engine_for(cfg.settings.database_conn_id)
audit = AuditLog(engine, RunContext(dag_id="inbound_council_clients", run_id="r1", task_id="ingest_drop"))
with partner_sftp(partner) as sftp:
    [drop] = inbound.discover(sftp, cfg, feed, engine).new
    job = inbound.InboundJob(sftp, engine, audit, cfg, feed, age_identities(cfg), partner_bulk(partner),
                             openpgp_secret(cfg))
    inbound.ingest_drop(job, drop)
"""


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_task_killed_with_plaintext_on_disk_leaves_nothing_after_its_retry(project, tmp_path, monkeypatch):
    import os
    import signal
    import subprocess
    import sys

    from sqlalchemy import text

    from tests.conftest import REPO

    root = tmp_path / "workroot"
    monkeypatch.setenv(workroot.ENV, str(root))
    cfg, feed = project.cfg, project.cfg.inbound("council-clients")
    project.drop(COUNCIL, clients_csv(project.work, n=200), feed=feed.id, schema_id=feed.schema_id)
    engine = engine_for(cfg.settings.database_conn_id)
    upgrade(engine)

    env = {**os.environ, "PYTHONPATH": f"{REPO / 'plugins'}:{REPO}"}
    killed = subprocess.run([sys.executable, "-c", KILLED_MID_INGEST], env=env, check=False, capture_output=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    left = [p for p in root.rglob("*") if p.is_file()]
    assert any(p.name == "plaintext.csv" for p in left)  # what the kill left behind

    # Airflow's retry of the same task: the sweep first (as every audited task does), then the drop again.
    swept = workroot.sweep()
    assert swept.removed == 1 and swept.files >= 1
    assert _take_in(project).outcome == "staged"
    assert [p for p in root.rglob("*") if p.is_file()] == []  # no plaintext, ciphertext or key anywhere
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM stg_social_care_client")).scalar_one() == 200
        assert conn.execute(text("SELECT COUNT(*) FROM batch")).scalar_one() == 1
