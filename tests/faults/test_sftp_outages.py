"""The partner's SFTP server dies mid-transfer (a real sshd, SIGKILLed with its sessions, behind a slow
link so that the kill lands mid-file) and comes back only after the task's own retries are spent: the
task fails, and its retry or the next run finishes the work once, from where it stopped."""

from __future__ import annotations

import contextlib
import re

import pytest

from crosswalk.orchestration import bookends, dag_inbound, dag_outbound
from crosswalk.orchestration.connections import engine_for
from crosswalk.staging import ledger
from tests.faults.conftest import assert_recovered
from tests.support.airflow import task_context as context
from tests.support.faults import attempt, wait_for
from tests.support.inbox import inbox_entries
from tests.support.project import clients_csv

pytestmark = [pytest.mark.sshd]
COUNCIL, NHS = "northshire-council", "nhs-northshire"
INBOUND, OUTBOUND = "inbound_council_clients", "outbound_clients_to_health"
INGEST, DELIVER = "dag_inbound:ingest", "dag_outbound:deliver"  # the task bodies each attempt runs


def _largest(files) -> int:
    sizes = [0]
    for f in files:
        with contextlib.suppress(FileNotFoundError):  # renamed or removed meanwhile
            sizes.append(f.stat().st_size)
    return max(sizes)


def _drop(faulty, n: int) -> dict:
    p = faulty.project
    feed = p.cfg.inbound("council-clients")
    p.drop(COUNCIL, clients_csv(p.work, n=n), feed=feed.id, schema_id=feed.schema_id)
    bookends.prepare(feed.id, context(INBOUND, "prepare", "in-1"))  # as every run starts: the database migrated
    [drop] = dag_inbound.discover(feed.id, context(INBOUND, "discover_drops", "in-1"))
    return drop


def test_sshd_killed_mid_download_the_retry_resumes_from_the_spooled_bytes(faulty, tmp_path):
    drop = _drop(faulty, n=20_000)  # about 3 MB of ciphertext: 6 s over the slow link
    first = attempt(INGEST, INBOUND, "ingest_drop[0]", "in-1", "council-clients", drop, log=tmp_path / "a1.log")
    wait_for(lambda: _largest((faulty.work_root / "spool").glob("*.part")) > 300_000, what="a partial download")
    faulty.sshd.kill()
    assert first.wait() != 0  # its own retries ran against a dead server
    assert "failed" in first.tail() and _largest((faulty.work_root / "spool").glob("*.part")) > 0

    faulty.sshd.start()
    second = attempt(INGEST, INBOUND, "ingest_drop[0]", "in-1", "council-clients", drop, log=tmp_path / "a2.log")
    result = second.result()
    assert result["outcome"] == "staged" and result["rows"] == 20_000
    [offset] = re.findall(r"Resuming \S+ at byte (\d+)", second.tail(200_000))
    assert int(offset) > 300_000  # not from byte 0
    engine = engine_for("crosswalk_db")
    assert len(ledger.staged_batches(engine, "council-clients")) == 1
    assert_recovered(faulty)


def test_sshd_killed_mid_upload_the_next_run_takes_back_the_partial_and_delivers_once(faulty, tmp_path):
    from crosswalk.audit import read_events

    drop = _drop(faulty, n=20_000)
    faulty.link.rate = 50 * 1024 * 1024  # the drop comes in quickly; the delivery goes out slowly
    staged = dag_inbound.ingest("council-clients", drop, context(INBOUND, "ingest_drop", "in-1", 0))
    faulty.link.rate = 256 * 1024
    batch = staged["batch_id"]
    inbox = faulty.project.inbox(NHS)

    first = attempt(DELIVER, OUTBOUND, "deliver_batch[0]", "out-1", "clients-to-health", batch, log=tmp_path / "a1.log")
    wait_for(lambda: _largest(inbox.glob("*.part")) > 100_000, what="a partial upload")
    faulty.sshd.kill()
    assert first.wait() != 0
    assert [p.name for p in inbox_entries(inbox) if p.name.endswith(".part")]  # it could not take it back

    faulty.sshd.start()
    faulty.link.rate = 50 * 1024 * 1024
    assert dag_outbound.plan("clients-to-health", context(OUTBOUND, "plan_deliveries", "out-2")) == [batch]
    assert list(inbox_entries(inbox)) == []  # before anything else, the next run took back the partial file
    engine = engine_for("crosswalk_db")
    [taken_back] = read_events(engine, event="delivery.taken_back")
    assert taken_back["run_id"] == "out-2" and taken_back["batch_id"] == batch

    second = attempt(
        DELIVER, OUTBOUND, "deliver_batch[0]", "out-2", "clients-to-health", batch, log=tmp_path / "a2.log"
    )
    assert second.result()["outcome"] == "delivered"
    assert len(list(inbox_entries(inbox))) == 3  # data, manifest, signature: once
    assert len(read_events(engine, event="file.delivered")) == 1
    assert ledger.get_delivery(engine, ledger.delivery_id_for("clients-to-health", batch)).status == "delivered"
    assert_recovered(faulty)
