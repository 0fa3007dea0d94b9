"""The audit DAG, run for real: verifies the chain, writes the IG report where configured, applies
retention; a tampered chain fails the run at verification, naming the position, before any report."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from crosswalk.audit import read_events
from crosswalk.orchestration.connections import engine_for
from tests.support.airflow import run_dag
from tests.support.project import clients_csv, edit_yaml

pytestmark = [pytest.mark.sshd, pytest.mark.airflow]


def _set_report_dir(project, path) -> None:
    edit_yaml(project.config_dir / "crosswalk.yaml", audit={"report_dir": str(path), "retention_days": 731})
    project.reload()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_audit_dag_verifies_reports_and_keeps_the_chain(project, tmp_path):
    _set_report_dir(project, tmp_path / "ig")
    project.drop(
        "northshire-council", clients_csv(project.work, n=6), feed="council-clients", schema_id="social_care_client"
    )
    assert run_dag("inbound_council_clients")[0] == "success"

    state, tis = run_dag("crosswalk_audit")

    assert state == "success", tis
    (html,) = (tmp_path / "ig").glob("ig-report_*.html")
    assert "chain intact" in html.read_text() and "clients_20261121.csv.age" in html.read_text()
    assert list((tmp_path / "ig").glob(".*.part")) == []
    events = {e["event"] for e in read_events(engine_for("crosswalk_db"))}
    assert {"audit.verified", "audit.report_written"} <= events
    assert "audit.purged" not in events  # nothing is two years old


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_tampered_chain_fails_the_audit_run_at_verification(project, tmp_path, caplog):
    _set_report_dir(project, tmp_path / "ig")
    project.drop(
        "northshire-council", clients_csv(project.work, n=4), feed="council-clients", schema_id="social_care_client"
    )
    assert run_dag("inbound_council_clients")[0] == "success"
    with engine_for("crosswalk_db").begin() as conn:
        conn.execute(text("DROP TRIGGER audit_event_no_update"))
        conn.execute(text("UPDATE audit_event SET reason = 'nothing to see' WHERE seq = 2"))

    state, tis = run_dag("crosswalk_audit")

    assert state == "failed" and tis["verify_chain"] == "failed", tis
    assert tis["write_report"] != "success"
    assert "chain BROKEN at position 2" in caplog.text
    assert not (tmp_path / "ig").exists() or list((tmp_path / "ig").iterdir()) == []
