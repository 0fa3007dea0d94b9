"""A partner's daily drop that has not come: at the deadline the watch DAG (a real Airflow run, the outbox on real
sshd) tells the team and the partner's own contact once, records `drop.late`, and says nothing once it has come."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crosswalk.audit import read_events
from crosswalk.orchestration.connections import engine_for
from tests.support.airflow import run_dag
from tests.support.project import EnvPatch, clients_csv, edit_yaml
from tests.support.webhook import Webhook

pytestmark = [pytest.mark.sshd, pytest.mark.airflow]
COUNCIL = "northshire-council"


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'crosswalk.db'}"


def test_a_late_drop_is_told_once_to_the_team_and_the_partner_and_not_once_it_has_come(project):
    hook = Webhook()
    try:
        edit_yaml(project.config_dir / "crosswalk.yaml", notifications=[
            {"id": "ops", "webhook": {"conn_id": "crosswalk_notify"}, "on": ["late_file"]},
            {"id": "council-contact", "webhook": {"conn_id": "crosswalk_notify", "style": "teams"},
             "on": ["late_file"], "partners": [COUNCIL]},
            {"id": "board-contact", "webhook": {"conn_id": "crosswalk_notify"}, "on": ["late_file"],
             "partners": ["nhs-northshire"]},
        ])  # fmt: skip
        due = (datetime.now(ZoneInfo("Europe/London")) - timedelta(minutes=61)).strftime("%H:%M")
        every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        edit_yaml(project.config_dir / "feeds" / "council-clients.yaml",
                  expected={"by": due, "grace_minutes": 0, "days": every_day})  # fmt: skip
        project.reload()
        with EnvPatch({"AIRFLOW_CONN_CROSSWALK_NOTIFY": json.dumps({"conn_type": "http", "host": hook.url})}):
            state, tis = run_dag("arrival_watch_council_clients")
            assert state == "success", tis
            ops, contact = hook.received
            assert ops["kind"] == "late_file" and ops["partner"] == COUNCIL and ops["feed_id"] == "council-clients"
            assert ops["summary"].startswith(f"{COUNCIL}: no clients_*.csv drop by {due} Europe/London on ")
            assert contact["text"].startswith("*Crosswalk: an expected file has not arrived (northshire-council)*")
            engine = engine_for("crosswalk_db")
            assert len(read_events(engine, event="drop.late")) == 1

            assert run_dag("arrival_watch_council_clients")[0] == "success"  # checked again: told once
            assert len(hook.received) == 2 and len(read_events(engine, event="drop.late")) == 1

            project.drop(COUNCIL, clients_csv(project.work, n=3), feed="council-clients",
                         schema_id="social_care_client")  # fmt: skip
            assert run_dag("arrival_watch_council_clients")[0] == "success"
            assert len(hook.received) == 2  # it has come: no notice
    finally:
        hook.close()
