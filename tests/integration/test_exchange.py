"""The exchange end to end: council drop → inbound DAG → staging → outbound DAG → NHS inbox.

Real parts only: OpenSSH sshd (chrooted SFTP users); the partner's own tools (age, ssh-keygen -Y,
OpenSSH sftp); Airflow's dag.test(); SQLite or PostgreSQL.
"""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess

import pytest
from sqlalchemy import text

from crosswalk.audit import read_events
from crosswalk.orchestration.connections import engine_for
from tests.support.airflow import run_dag
from tests.support.inbox import inbox_entries
from tests.support.project import clients_csv

pytestmark = [pytest.mark.sshd, pytest.mark.airflow]

COUNCIL, NHS = "northshire-council", "nhs-northshire"


def test_clients_flow_from_council_drop_to_nhs_inbox(project):
    data = clients_csv(project.work, n=40)
    enc = project.drop(COUNCIL, data, feed="council-clients", schema_id="social_care_client")
    original = enc.read_bytes()

    state, tis = run_dag("inbound_council_clients")
    assert state == "success", tis
    assert tis["ingest_drop[0]"] == "success"

    engine = engine_for("crosswalk_db")
    with engine.connect() as conn:
        batch = conn.execute(text("SELECT batch_id, status, rows_staged FROM batch")).one()
        staged = conn.execute(text("SELECT COUNT(*) FROM stg_social_care_client")).scalar_one()
    assert batch.status == "staged" and batch.rows_staged == 40 and staged == 40
    # The partner's original is untouched.
    assert (project.outbox(COUNCIL) / enc.name).read_bytes() == original

    state, tis = run_dag("outbound_clients_to_health")
    assert state == "success", tis
    delivered = sorted(p.name for p in inbox_entries(project.inbox(NHS)))
    name = f"social_care_clients_{batch.batch_id.rsplit('-', 1)[-1]}.csv.age"
    assert delivered == [name, name + ".manifest.json", name + ".manifest.json.sig"]  # no .part left behind

    ciphertext = (project.inbox(NHS) / name).read_bytes()
    manifest_path = project.inbox(NHS) / (name + ".manifest.json")
    manifest = json.loads(manifest_path.read_text())
    assert manifest["sha256"] == hashlib.sha256(ciphertext).hexdigest() and manifest["size"] == len(ciphertext)
    # The NHS board opens it with the age CLI and checks our signature with ssh-keygen -Y verify.
    payload = project.decrypt_delivery(NHS, project.inbox(NHS) / name)
    assert manifest["plaintext_sha256"] == hashlib.sha256(payload).hexdigest() and manifest["rows"] == 40
    assert manifest["recipients"] == [project.partner_keys[NHS].identity.recipient]
    allowed = project.work / "allowed_signers"
    our_pub = project.our_signing_key.with_suffix(".pub").read_text().split()[:2]
    allowed.write_text(f'crosswalk namespaces="crosswalk-manifest" {" ".join(our_pub)}\n')
    verified = subprocess.run(
        [
            "ssh-keygen",
            "-Y",
            "verify",
            "-f",
            str(allowed),
            "-I",
            "crosswalk",
            "-n",
            "crosswalk-manifest",
            "-s",
            str(manifest_path) + ".sig",
        ],
        input=manifest_path.read_bytes(),
        capture_output=True,
    )
    assert verified.returncode == 0, verified.stderr
    # The NHS board is at level 2 of the ISP (v2): care packages leave, level-3 assessments do not.
    header = next(csv.reader(payload.decode().splitlines()))
    assert header == manifest["fields"]
    assert "care_package_type" in header and "last_assessment_date" not in header
    assert {"source_id", "chi_number", "allocated_team"} <= set(header)
    assert (manifest["agreement_id"], manifest["agreement_version"], manifest["level"]) == ("northshire-isp", 2, 2)
    assert manifest["transforms"] == {"source_id": "pseudonymise"}

    events = {e["event"] for e in read_events(engine)}
    assert {"file.received", "batch.staged", "file.delivered", "task.started", "task.succeeded"} <= events


def test_rerun_neither_stages_nor_delivers_twice(project):
    data = clients_csv(project.work, n=10)
    project.drop(COUNCIL, data, feed="council-clients", schema_id="social_care_client")
    for _ in range(2):
        assert run_dag("inbound_council_clients")[0] == "success"
        assert run_dag("outbound_clients_to_health")[0] == "success"
    engine = engine_for("crosswalk_db")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM batch")).scalar_one() == 1
        assert conn.execute(text("SELECT COUNT(*) FROM stg_social_care_client")).scalar_one() == 10
        assert conn.execute(text("SELECT COUNT(*) FROM delivery")).scalar_one() == 1
    assert len(list(inbox_entries(project.inbox(NHS)))) == 3
    # The rerun skipped the drop; matching had no CHI index to match against, both times, and said so.
    assert [e["event"] for e in read_events(engine, outcome="skipped")] == [
        "batch.match_skipped",
        "drop.skipped",
        "batch.match_skipped",
    ]


def test_outbound_retry_after_a_crash_recognises_the_complete_delivery(project):
    """Upload finished but the ledger was not updated (a crash): the retry must not send it again."""
    data = clients_csv(project.work, n=8)
    project.drop(COUNCIL, data, feed="council-clients", schema_id="social_care_client")
    assert run_dag("inbound_council_clients")[0] == "success"
    assert run_dag("outbound_clients_to_health")[0] == "success"
    before = {p.name: p.read_bytes() for p in inbox_entries(project.inbox(NHS))}
    engine = engine_for("crosswalk_db")
    with engine.begin() as conn:
        conn.execute(text("UPDATE delivery SET status = 'building'"))  # as if the task died before recording it
    assert run_dag("outbound_clients_to_health")[0] == "success"
    assert {p.name: p.read_bytes() for p in inbox_entries(project.inbox(NHS))} == before  # not re-encrypted or re-sent
