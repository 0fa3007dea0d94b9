"""The walking skeleton end to end: council drop → inbound DAG → staging → outbound DAG → NHS inbox.

Real parts only: OpenSSH sshd (chrooted SFTP users), the OpenSSH sftp client as the partner,
Airflow's dag.test(), and SQLite or PostgreSQL.
"""

from __future__ import annotations

import csv
import hashlib
import json

import pytest
from sqlalchemy import text

from crosswalk.audit import read_events
from crosswalk.orchestration.resources import engine_for
from tests.support.airflow import run_dag
from tests.support.project import clients_csv

pytestmark = [pytest.mark.sshd, pytest.mark.airflow]

COUNCIL, NHS = "northshire-council", "nhs-northshire"


def test_clients_flow_from_council_drop_to_nhs_inbox(project):
    data = clients_csv(project.work, n=40)
    original = data.read_bytes()
    project.drop(COUNCIL, data, feed="council-clients", schema_id="social_care_client")

    state, tis = run_dag("inbound_council_clients")
    assert state == "success", tis
    assert tis["ingest_drop[0]"] == "success"

    engine = engine_for("crosswalk_db")
    with engine.connect() as conn:
        batch = conn.execute(text("SELECT batch_id, status, rows_staged FROM batch")).one()
        staged = conn.execute(text("SELECT COUNT(*) FROM stg_social_care_client")).scalar_one()
    assert batch.status == "staged" and batch.rows_staged == 40 and staged == 40
    # The partner's original is untouched.
    assert (project.outbox(COUNCIL) / data.name).read_bytes() == original

    state, tis = run_dag("outbound_clients_to_health")
    assert state == "success", tis
    delivered = sorted(p.name for p in project.inbox(NHS).iterdir())
    name = f"social_care_clients_{batch.batch_id.rsplit('-', 1)[-1]}.csv"
    assert delivered == [name, name + ".manifest.json"]  # no .part left behind

    payload = (project.inbox(NHS) / name).read_bytes()
    manifest = json.loads((project.inbox(NHS) / (name + ".manifest.json")).read_text())
    assert manifest["sha256"] == hashlib.sha256(payload).hexdigest()
    assert manifest["size"] == len(payload) and manifest["rows"] == 40
    # The NHS board is at level 1 of the ISP: level-2 care-package fields must not leave.
    header = next(csv.reader(payload.decode().splitlines()))
    assert header == manifest["fields"]
    assert "care_package_type" not in header and "weekly_hours" not in header
    assert {"source_id", "chi_number", "allocated_team"} <= set(header)
    assert manifest["agreement_id"] == "northshire-isp" and manifest["level"] == 1

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
    assert len(list(project.inbox(NHS).iterdir())) == 2
    assert [e["event"] for e in read_events(engine, outcome="skipped")] == ["drop.skipped"]
