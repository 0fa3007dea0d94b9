"""Every attempt accounted for: an attempt whose start has no outcome in our audit trail (killed, or our
database down when it ended) is recorded at the next run's start as ``task.abandoned``, with what Airflow
recorded; once, and never for an attempt still running."""

from __future__ import annotations

import json

import pytest

from crosswalk.audit import AuditLog, RunContext, read_events
from crosswalk.orchestration.connections import engine_for
from tests.support.airflow import run_dag

pytestmark = [pytest.mark.airflow]
DAG = "inbound_council_clients"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_attempt_without_an_outcome_is_accounted_for_at_the_next_run(project):
    assert run_dag(DAG)[0] == "success"
    engine = engine_for("crosswalk_db")
    [first] = read_events(engine, event="run.started")
    # What a killed attempt leaves: its start, and nothing after (the task instance then ended in Airflow).
    AuditLog(engine, RunContext(DAG, first["run_id"], "discover_drops", "manual", "ops")).emit(
        "task.started", "started", feed_id="council-clients"
    )

    assert run_dag(DAG)[0] == "success"
    [abandoned] = read_events(engine, event="task.abandoned")
    assert (abandoned["run_id"], abandoned["task_id"]) == (first["run_id"], "discover_drops")
    detail = json.loads(abandoned["detail"])
    assert detail["airflow_state"] == "success" and detail["noticed_by_run"] != first["run_id"]
    assert "recorded no outcome" in abandoned["reason"]

    assert run_dag(DAG)[0] == "success"  # accounted for once
    assert len(read_events(engine, event="task.abandoned")) == 1
