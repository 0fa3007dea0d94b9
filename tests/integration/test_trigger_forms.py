"""What the trigger form's choices do, on real runs (dag.test with the form's conf) against real sshd:
a dry run sends and records nothing; a lower level sends less; a date range picks batches; a resend
delivers a delivered batch again; bad choices are refused before any task runs."""

from __future__ import annotations

import csv
import json
from datetime import date, timedelta

import pytest

from crosswalk.audit import read_events
from crosswalk.orchestration.connections import engine_for
from tests.support.airflow import load_dags, run_dag
from tests.support.inbox import inbox_entries
from tests.support.project import clients_csv

pytestmark = [pytest.mark.sshd, pytest.mark.airflow]

COUNCIL, NHS = "northshire-council", "nhs-northshire"
OUT = "outbound_clients_to_health"


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'crosswalk.db'}"


def _staged(project) -> None:
    project.drop(COUNCIL, clients_csv(project.work, n=30), feed="council-clients", schema_id="social_care_client")
    assert run_dag("inbound_council_clients")[0] == "success"


def test_the_form_is_typed_described_and_refuses_bad_input_before_any_task_runs():
    from airflow.sdk.definitions.param import ParamsDict
    from airflow.sdk.exceptions import ParamValidationError

    params = load_dags()[OUT].params
    assert set(params) == {"dry_run", "agreement", "level", "staged_from", "staged_to", "resend_batch"}
    assert params.get_param("agreement").schema["enum"] == ["in force on the day", "northshire-isp v2"]
    # NHS Northshire is at level 2 under northshire-isp v2: level 3 or 4 cannot be chosen.
    assert params.get_param("level").schema["enum"] == [1, 2] and params["level"] == 2
    assert all(params.get_param(k).description for k in params)
    for bad, named in [
        ({"level": 3}, "level"),
        ({"staged_from": "21/11/2026"}, "staged_from"),
        ({"resend_batch": "x; rm -rf /"}, "resend_batch"),
        ({"agreement": "northshire-isp v1"}, "agreement"),
    ]:
        trial = ParamsDict({k: params.get_param(k) for k in params})
        with pytest.raises(ParamValidationError, match=named):
            trial.update(bad)
            trial.validate()


def test_a_dry_run_says_what_would_go_where_and_sends_and_records_nothing(project):
    _staged(project)
    state, tis = run_dag(OUT, {"dry_run": True})
    assert state == "success", tis
    assert list(inbox_entries(project.inbox(NHS))) == []
    engine = engine_for("crosswalk_db")
    (dry,) = read_events(engine, event="file.dry_run")
    assert dry["rows_out"] == 30 and dry["reason"].startswith(
        "dry run: would deliver 30 rows to nhs-northshire:/inbox/"
    )
    assert not read_events(engine, event="file.delivered")
    (done,) = read_events(engine, event="run.succeeded", feed_id="clients-to-health")
    assert done["outcome"] == "dry_run" and json.loads(done["detail"])["dry_run"] is True
    # The real run afterwards still has everything to do.
    assert run_dag(OUT)[0] == "success"
    assert len(read_events(engine, event="file.delivered")) == 1


def test_a_lower_level_sends_less_and_never_more_than_the_agreement(project):
    _staged(project)
    assert run_dag(OUT, {"level": 1})[0] == "success"
    (delivered,) = read_events(engine_for("crosswalk_db"), event="file.delivered")
    detail = json.loads(delivered["detail"])
    assert detail["level"] == 1 and "care_package_type" not in detail["fields_sent"]
    name = next(p for p in inbox_entries(project.inbox(NHS)) if p.suffix == ".age")
    header = next(csv.reader(project.decrypt_delivery(NHS, name).decode().splitlines()))
    assert header == detail["fields_sent"] and "care_package_type" not in header


def test_a_date_range_picks_batches_and_an_empty_range_is_refused_with_a_reason(project):
    _staged(project)
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    state, tis = run_dag(OUT, {"staged_to": yesterday})
    assert state == "success" and "deliver_batch" not in " ".join(k for k, v in tis.items() if v == "success")
    assert list(inbox_entries(project.inbox(NHS))) == []
    state, tis = run_dag(OUT, {"staged_from": date.today().isoformat(), "staged_to": yesterday})
    assert state == "failed" and tis["plan_deliveries"] == "failed"
    (failed,) = [
        e for e in read_events(engine_for("crosswalk_db"), task_id="plan_deliveries") if e["outcome"] == "failed"
    ]
    assert f"the date range is empty: staged_from {date.today()} is after staged_to {yesterday}" in failed["reason"]


def test_resend_delivers_a_delivered_batch_again(project):
    _staged(project)
    assert run_dag(OUT)[0] == "success"
    engine = engine_for("crosswalk_db")
    (first,) = read_events(engine, event="file.delivered")
    for p in inbox_entries(project.inbox(NHS)):  # the partner took the files, then lost them
        p.unlink()
    assert run_dag(OUT)[0] == "success" and list(inbox_entries(project.inbox(NHS))) == []  # pending: nothing
    assert run_dag(OUT, {"resend_batch": first["batch_id"]})[0] == "success"
    assert sorted(p.name for p in inbox_entries(project.inbox(NHS))) == [
        first["file_name"],
        first["file_name"] + ".manifest.json",
        first["file_name"] + ".manifest.json.sig",
    ]
    second = read_events(engine, event="file.delivered")[-1]
    assert json.loads(second["detail"])["resend"] is True
