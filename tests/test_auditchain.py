"""The audit trail is a hash chain: append-only, tamper-evident, and never forked by parallel writers.

Tampering is done the way someone with direct database access would: lift the append-only
triggers, then edit, delete, reorder or insert rows. `crosswalk audit verify` must name the position.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import subprocess
from datetime import datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from crosswalk import auditchain
from crosswalk.audit import AuditLog, RunContext, read_events
from crosswalk.staging.db import make_engine
from crosswalk.staging.migrations import upgrade
from tests.conftest import REPO

CLI = str(REPO / ".venv" / "bin" / "crosswalk")


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'audit.db'}"
        return
    pg = request.getfixturevalue("postgres_url")
    yield pg
    eng = make_engine(pg)
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    eng.dispose()


@pytest.fixture
def engine(url):
    eng = make_engine(url)
    upgrade(eng)
    log = AuditLog(eng, RunContext(dag_id="d", run_id="r", task_id="t", triggered_by="tester"))
    for i in range(6):
        log.emit("file.received", "succeeded", file_name=f"f{i}.csv", rows_in=i, detail={"fields_sent": ["a", "b"]})
    yield eng
    eng.dispose()


def cli_verify(url: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, "audit", "verify", "--url", url], capture_output=True, text=True)


def lift_append_only(conn) -> None:
    """What an attacker with DDL rights would do first."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
    else:
        conn.execute(text("DROP TRIGGER audit_event_no_update"))
        conn.execute(text("DROP TRIGGER audit_event_no_delete"))


def test_an_untampered_chain_verifies(engine, url):
    events = read_events(engine)
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5, 6]
    assert events[0]["prev_hash"] == auditchain.GENESIS
    assert all(b["prev_hash"] == a["event_hash"] for a, b in itertools.pairwise(events))
    out = cli_verify(url)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "crosswalk audit verify: chain intact: 6 event(s), positions 1 to 6"


def test_the_table_refuses_update_and_delete(engine):
    for statement in ("UPDATE audit_event SET reason = 'x' WHERE seq = 2", "DELETE FROM audit_event WHERE seq = 2"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    assert auditchain.verify(engine).ok


TAMPER = {
    "edit": (
        ["UPDATE audit_event SET rows_in = 99 WHERE seq = 3"],
        "position 3: event {id3} (file.received) does not match its hash: it was edited",
    ),
    "delete": (["DELETE FROM audit_event WHERE seq = 4"], "position 4: position 4 missing: deleted"),
    "reorder": (
        [
            "UPDATE audit_event SET seq = -2 WHERE seq = 2",
            "UPDATE audit_event SET seq = 2 WHERE seq = 3",
            "UPDATE audit_event SET seq = 3 WHERE seq = -2",
        ],
        "position 2: event {id3} (file.received) does not link to position 1: an event was inserted, deleted or "
        "reordered here",
    ),
    "insert": (
        [
            # Make room at position 5 and slip in a forged copy of event 4, linked to it and hashed correctly.
            "UPDATE audit_event SET seq = seq + 100 WHERE seq >= 5",
            "UPDATE audit_event SET seq = seq - 99 WHERE seq >= 105",
            "FORGE",
        ],
        "position 6: event {id5} (file.received) does not link to position 5: an event was inserted, deleted or "
        "reordered here",
    ),
}


@pytest.mark.parametrize("case", TAMPER)
def test_tampering_is_found_at_its_position(engine, url, case):
    statements, expected = TAMPER[case]
    ids = {f"id{e['seq']}": e["event_id"].strip() for e in read_events(engine)}
    with engine.begin() as conn:
        lift_append_only(conn)
        for statement in statements:
            if statement == "FORGE":
                forged = dict(conn.execute(text("SELECT * FROM audit_event WHERE seq = 4")).mappings().one())
                forged.update(event_id="f" * 32, seq=5, prev_hash=forged["event_hash"].strip(), reason="forged")
                forged["event_hash"] = auditchain.event_hash(forged)
                cols = ", ".join(forged)
                conn.execute(
                    text(f"INSERT INTO audit_event ({cols}) VALUES ({', '.join(':' + c for c in forged)})"), forged
                )
            else:
                conn.execute(text(statement))
    out = cli_verify(url)
    assert out.returncode == 1
    assert out.stdout.startswith(f"crosswalk audit verify: chain BROKEN at {expected.format(**ids)}"), out.stdout


def _writer(url: str, n: int, name: str) -> None:
    eng = make_engine(url)
    log = AuditLog(eng, RunContext(task_id=name))
    for i in range(n):
        log.emit("task.started", "started", reason=f"{name}-{i}")
    eng.dispose()


@pytest.mark.parametrize("url", ["postgres"], indirect=True)
def test_parallel_writers_never_fork_the_chain(engine, url):
    """Four processes append at once, as parallel Airflow tasks do."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(url, 40, f"w{i}")) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    result = auditchain.verify(engine)
    assert result.ok and result.checked == 6 + 160, result.summary()
    with engine.connect() as conn:
        seqs = [r[0] for r in conn.execute(text("SELECT seq FROM audit_event ORDER BY seq"))]
    assert seqs == list(range(1, 167))


def test_an_export_verifies_on_its_own_and_shows_tampering(engine, url, tmp_path):
    out = tmp_path / "audit.jsonl"
    done = subprocess.run([CLI, "audit", "export", "--url", url, "-o", str(out)], capture_output=True, text=True)
    assert done.returncode == 0 and "6 event(s)" in done.stderr
    lines = out.read_text().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3, 4, 5, 6]
    ok = subprocess.run([CLI, "audit", "verify", "--file", str(out)], capture_output=True, text=True)
    assert ok.returncode == 0 and "chain intact: 6 event(s)" in ok.stdout
    # A period that starts mid-chain verifies from its first event.
    (tmp_path / "tail.jsonl").write_text("\n".join(lines[2:]) + "\n")
    tail = subprocess.run(
        [CLI, "audit", "verify", "--file", str(tmp_path / "tail.jsonl")], capture_output=True, text=True
    )
    assert tail.returncode == 0, tail.stdout
    edited = json.loads(lines[1])
    edited["rows_in"] = 42
    lines[1] = json.dumps(edited)
    out.write_text("\n".join(lines) + "\n")
    bad = subprocess.run([CLI, "audit", "verify", "--file", str(out)], capture_output=True, text=True)
    assert bad.returncode == 1 and "BROKEN at position 2" in bad.stdout


def _time_of(event) -> datetime:
    t = event["event_time"]
    return datetime.fromisoformat(t) if isinstance(t, str) else t


def test_a_retention_purge_keeps_the_rest_verifiable_and_is_itself_audited(engine, url):
    events = read_events(engine)
    cutoff = _time_of(events[3])  # events at positions 1-3 are older
    log = AuditLog(engine, RunContext(dag_id="crosswalk_audit", task_id="purge_expired"))
    assert auditchain.purge_before(engine, cutoff, log.append) == 3
    left = read_events(engine)
    assert [e["seq"] for e in left] == [4, 5, 6, 7]
    purged = json.loads(left[-1]["detail"])
    assert left[-1]["event"] == "audit.purged" and purged["purged_through_seq"] == 3
    out = cli_verify(url)
    assert out.returncode == 0, out.stdout
    assert out.stdout.strip() == "crosswalk audit verify: chain intact: 4 event(s), positions 4 to 7"
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:  # the guard is back
        conn.execute(text("DELETE FROM audit_event WHERE seq = 5"))


def test_deleting_the_oldest_events_without_a_purge_is_found(engine, url):
    with engine.begin() as conn:
        lift_append_only(conn)
        conn.execute(text("DELETE FROM audit_event WHERE seq <= 2"))
    out = cli_verify(url)
    assert out.returncode == 1
    assert "BROKEN at position 1: positions 1 to 2 missing: deleted, and no purge recorded it" in out.stdout


def test_rates_in_a_detail_mapping_are_recorded_and_verify(engine, url):
    """A match run's quality estimate (rates) once raised TypeError as soon as reviewers had made 20 decisions."""
    log = AuditLog(engine, RunContext(dag_id="d", run_id="r2", task_id="t"))
    quality = {"labelled_pairs": 25, "estimated_precision": 0.9981, "estimated_recall": 0.97}
    log.emit("batch.matched", "succeeded", detail={"quality": quality})
    assert json.loads(read_events(engine, event="batch.matched")[0]["detail"])["quality"] == quality
    assert cli_verify(url).returncode == 0
    with pytest.raises(TypeError, match="mapping of names to names, counts or rates"):
        log.emit("batch.matched", "succeeded", detail={"quality": {"nested": {"a": 1}}})
