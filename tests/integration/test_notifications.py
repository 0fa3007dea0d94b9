"""Notices from real runs (dag.test against real sshd) to a real local webhook: a quarantined drop and a
task that fails for good each tell the team that asked, with a one-line reason and no personal data."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from tests.support.airflow import run_dag
from tests.support.project import EnvPatch, clients_csv, edit_yaml
from tests.support.smtp import Mailbox
from tests.support.webhook import Webhook

pytestmark = [pytest.mark.sshd, pytest.mark.airflow]
COUNCIL = "northshire-council"


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'crosswalk.db'}"


@pytest.fixture
def mailbox():
    box = Mailbox()
    yield box
    box.close()


@pytest.fixture
def hook(project, mailbox):
    h = Webhook()
    edit_yaml(
        project.config_dir / "crosswalk.yaml",
        notifications=[
            {"id": "council-it", "webhook": {"conn_id": "crosswalk_notify"}, "on": ["quarantine", "failure"]},
            {"id": "ig-mail", "email": {"to": ["ig@northshire.example"], "smtp_conn_id": "smtp_ig"}, "on": ["failure"]},
        ],
    )
    project.reload()
    conn = json.dumps({"conn_type": "http", "host": h.url, "password": "team-token"})
    with EnvPatch({"AIRFLOW_CONN_CROSSWALK_NOTIFY": conn, "AIRFLOW_CONN_SMTP_IG": mailbox.connection_json()}):
        yield h
    h.close()


def _flip_last_bytes(path):
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0x01
    path.write_bytes(bytes(raw))


def test_a_quarantined_drop_and_a_failed_task_each_notify_the_team(project, hook, mailbox):
    plain = clients_csv(project.work, n=20)
    project.drop(COUNCIL, plain, feed="council-clients", schema_id="social_care_client",
                 edit_after_manifest=_flip_last_bytes)  # fmt: skip
    assert run_dag("inbound_council_clients")[0] == "failed"  # a rejected drop fails its task, visibly
    quarantine, failed_ingest = hook.received
    assert quarantine["kind"] == "quarantine" and quarantine["partner"] == COUNCIL
    assert quarantine["summary"].startswith(f"{COUNCIL}: clients_20261121.csv.age quarantined: checksum_mismatch")
    assert quarantine["dag_id"] == "inbound_council_clients" and quarantine["task_id"] == "ingest_drop[0]"
    assert failed_ingest["kind"] == "failure" and failed_ingest["task_id"] == "ingest_drop"

    later, earlier = date.today().isoformat(), (date.today() - timedelta(days=1)).isoformat()
    state, _ = run_dag("outbound_clients_to_health", {"staged_from": later, "staged_to": earlier})
    assert state == "failed"
    failure = hook.received[-1]
    assert failure["kind"] == "failure" and failure["feed_id"] == "clients-to-health"
    assert failure["summary"] == (
        f"outbound_clients_to_health.plan_deliveries failed: the date range is empty: staged_from {later} "
        f"is after staged_to {earlier}"
    )
    assert set(hook.auth) == {"Bearer team-token"}
    # The same failures by e-mail, through Airflow's SMTP provider: the DAGs' failure callbacks are notifiers.
    subjects = [m["Subject"] for m in mailbox.messages]
    assert subjects == ["Crosswalk: a task failed (northshire-council)", "Crosswalk: a task failed (nhs-northshire)"]
    assert "the date range is empty" in mailbox.messages[-1].get_body(("html",)).get_content()
    # Nothing from the records themselves: no names, no CHI numbers.
    text = plain.read_text().splitlines()[1]
    assert not any(v and v in json.dumps(hook.received) for v in text.split(",")[1:4])
