"""The inbound flow on a local-directory outbox and SQLite: take a drop in, refuse a bad one, never twice."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from crosswalk.errors import ChecksumMismatch, SchemaViolation
from crosswalk.pipeline.inbound import discover, ingest_drop
from crosswalk.staging import ledger
from tests.support.offline import COUNCIL
from tests.support.project import clients_csv

FEED, SCHEMA = "council-clients", "social_care_client"


def _events(engine, name: str) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM audit_event WHERE event = :e"), {"e": name}).scalar_one()


def test_a_drop_is_staged_once_and_a_second_run_takes_nothing(offline):
    plain = clients_csv(offline.work, n=25)
    offline.drop(COUNCIL, plain, feed=FEED, schema_id=SCHEMA)
    feed = offline.cfg.inbound(FEED)
    intake = discover(offline.areas[COUNCIL], offline.cfg, feed, offline.engine)
    assert (len(intake.new), intake.already, intake.found.waiting) == (1, 0, [])

    result = ingest_drop(offline.inbound_job(FEED, offline.audit("ingest")), intake.new[0])
    assert (result.outcome, result.rows, result.batch_status) == ("staged", 25, ledger.STAGED)
    with offline.engine.connect() as conn:
        staged = conn.execute(text("SELECT count(*) FROM stg_social_care_client")).scalar_one()
    assert staged == 25

    again = discover(offline.areas[COUNCIL], offline.cfg, feed, offline.engine)
    assert (again.new, again.already) == ([], 1)
    assert [d.data_file for d in again.again] == [intake.new[0].data_file]  # matched again, not staged again
    rerun = ingest_drop(offline.inbound_job(FEED, offline.audit("ingest", run_id="run-2")), again.again[0])
    assert rerun.outcome == "skipped"
    assert (_events(offline.engine, "file.received"), _events(offline.engine, "batch.staged")) == (1, 1)
    assert not list(offline.work.glob("work-root/**/*.csv"))  # no plaintext outlives the task


def test_a_drop_changed_after_its_manifest_is_quarantined_with_one_line_and_the_original_kept(offline):
    plain = clients_csv(offline.work, n=10)
    files = offline.drop(COUNCIL, plain, feed=FEED, schema_id=SCHEMA)
    uploaded = offline.outbox(COUNCIL) / files.data.name
    uploaded.write_bytes(uploaded.read_bytes()[:-1] + b"\0")  # same size, other bytes
    original = uploaded.read_bytes()
    feed = offline.cfg.inbound(FEED)
    drop = discover(offline.areas[COUNCIL], offline.cfg, feed, offline.engine).new[0]

    with pytest.raises(ChecksumMismatch):
        ingest_drop(offline.inbound_job(FEED, offline.audit("ingest")), drop)
    assert uploaded.read_bytes() == original  # the partner's original is never changed
    folder = next(p for p in offline.quarantine(COUNCIL).iterdir() if p.is_dir())
    assert sorted(p.name.split("--")[0] for p in folder.iterdir()) == ["REASON.txt", "data", "manifest", "signature"]
    reason = (folder / "REASON.txt").read_text().splitlines()[1]
    assert reason.startswith("reason: checksum_mismatch: ")
    feedback = list(offline.inbox(COUNCIL).glob("crosswalk-feedback_*.txt"))
    assert len(feedback) == 1 and feedback[0].read_text() == (folder / "REASON.txt").read_text()
    with offline.engine.connect() as conn:
        statuses = conn.execute(text("SELECT status FROM batch")).scalars().all()
        staged = conn.execute(text("SELECT count(*) FROM stg_social_care_client")).scalar_one()
    assert (statuses, staged) == ([ledger.QUARANTINED], 0)
    # The same drop is not taken in again on the next run: it is terminal.
    assert discover(offline.areas[COUNCIL], offline.cfg, feed, offline.engine).new == []


def test_an_unknown_column_is_an_error_not_a_passenger(offline):
    plain = clients_csv(offline.work, n=5)
    lines = plain.read_text().splitlines()
    plain.write_text("\n".join([lines[0] + ",shoe_size"] + [ln + ",9" for ln in lines[1:]]) + "\n")
    offline.drop(COUNCIL, plain, feed=FEED, schema_id=SCHEMA)
    drop = discover(offline.areas[COUNCIL], offline.cfg, offline.cfg.inbound(FEED), offline.engine).new[0]
    # Named by position: a header cell is the partner's free text, and never quoted.
    with pytest.raises(SchemaViolation, match=r"1 unknown column\(s\), at position\(s\) 21$") as refused:
        ingest_drop(offline.inbound_job(FEED, offline.audit("ingest")), drop)
    assert "shoe_size" not in str(refused.value)


def test_a_drop_without_its_signature_waits_and_is_not_taken(offline):
    plain = clients_csv(offline.work, n=5)
    files = offline.drop(COUNCIL, plain, feed=FEED, schema_id=SCHEMA)
    (offline.outbox(COUNCIL) / files.signature.name).unlink()
    intake = discover(offline.areas[COUNCIL], offline.cfg, offline.cfg.inbound(FEED), offline.engine)
    assert intake.new == [] and len(intake.found.waiting) == 1


def _verify_receipt(offline, path) -> dict:
    """As the partner would: ssh-keygen -Y verify against our allowed_signers line."""
    import json
    import subprocess

    from crosswalk.crypto import sshsig
    from crosswalk.receipts import NAMESPACE

    ours = sshsig.public_key_line(sshsig.load_private_key(offline.keys.our_signing).public_key())
    operator = offline.cfg.settings.operator.code
    allowed = offline.work / "crosswalk_allowed_signers"
    allowed.write_text(f"{operator} {ours}\n")
    with path.open("rb") as body:
        done = subprocess.run(
            ["ssh-keygen", "-Y", "verify", "-f", str(allowed), "-I", operator, "-n", NAMESPACE,
             "-s", f"{path}.sig"], stdin=body, capture_output=True, text=True,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(path.read_text())


def test_every_drop_taken_in_gets_a_signed_receipt_the_partner_verifies_with_ssh_keygen(offline):
    plain = clients_csv(offline.work, n=12)
    offline.drop(COUNCIL, plain, feed=FEED, schema_id=SCHEMA)
    feed = offline.cfg.inbound(FEED)
    drop = discover(offline.areas[COUNCIL], offline.cfg, feed, offline.engine).new[0]
    result = ingest_drop(offline.inbound_job(FEED, offline.audit("ingest")), drop)
    (path,) = (offline.inbox(COUNCIL) / "receipts").glob("crosswalk-receipt_*.json")
    receipt = _verify_receipt(offline, path)
    assert receipt["batch_id"] == result.batch_id and receipt["outcome"] == "staged"
    assert receipt["rows_staged"] == 12 and receipt["reason_code"] is None and len(receipt["file_sha256"]) == 64
    assert receipt["sender"] == COUNCIL and receipt["at"].endswith("Z")

    # A replay of the same drop sends no second receipt (once per outcome)...
    again = discover(offline.areas[COUNCIL], offline.cfg, feed, offline.engine).again[0]
    ingest_drop(offline.inbound_job(FEED, offline.audit("ingest", run_id="run-2")), again)
    assert _events(offline.engine, "receipt.sent") == 1
    # ...but one a crash kept from going is sent on the replay.
    with offline.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER IF EXISTS audit_event_no_delete"))
        conn.execute(text("DELETE FROM audit_event WHERE event = 'receipt.sent'"))
    path.unlink()
    ingest_drop(offline.inbound_job(FEED, offline.audit("ingest", run_id="run-3")), again)
    assert _verify_receipt(offline, path)["batch_id"] == result.batch_id


def test_a_quarantined_drop_gets_a_receipt_with_its_reason_code(offline):
    plain = clients_csv(offline.work, n=10)
    files = offline.drop(COUNCIL, plain, feed=FEED, schema_id=SCHEMA)
    uploaded = offline.outbox(COUNCIL) / files.data.name
    uploaded.write_bytes(uploaded.read_bytes()[:-1] + b"\0")
    drop = discover(offline.areas[COUNCIL], offline.cfg, offline.cfg.inbound(FEED), offline.engine).new[0]
    with pytest.raises(ChecksumMismatch):
        ingest_drop(offline.inbound_job(FEED, offline.audit("ingest")), drop)
    (path,) = (offline.inbox(COUNCIL) / "receipts").glob("crosswalk-receipt_*.json")
    receipt = _verify_receipt(offline, path)
    assert (receipt["outcome"], receipt["reason_code"], receipt["rows_staged"]) == (
        "quarantined",
        "checksum_mismatch",
        None,
    )
