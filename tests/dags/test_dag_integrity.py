"""Every DAG in the bundle imports cleanly, quickly, and carries what operators rely on."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO
from tests.support.airflow import load_dags
from tests.support.project import EnvPatch, edit_yaml

DAGS = load_dags()
EXPECTED = {
    "inbound_council_clients",
    "inbound_health_index",
    "inbound_council_objections",
    "inbound_health_restricted",
    "outbound_clients_to_health",
    "outbound_chi_numbers_to_council",
    "publish_social_care_summary",
    "open_data_care_packages_open_data",
    "crosswalk_audit",
    "crosswalk_retention",
}
REVIEW = "review_council_clients"  # council-clients is matched, so its uncertain pairs need review


def test_one_dag_per_configured_feed_a_review_dag_per_matched_feed_and_the_audit_dag():
    assert set(DAGS) == EXPECTED | {REVIEW}


def test_the_review_dag_follows_matching_and_asks_people_under_required_actions():
    from airflow.providers.standard.operators.hitl import HITLOperator

    dag = DAGS[REVIEW]
    # Scheduled by the asset the inbound flow's matching step updates, so a review run follows a match.
    (outlet,) = DAGS["inbound_council_clients"].task_dict["match_batch"].outlets
    assert outlet.uri == "crosswalk://review/council-clients"
    assert [a.uri for a in dag.timetable.asset_condition.objects] == [outlet.uri]
    review = dag.task_dict["review_pair"]
    assert review.operator_class is HITLOperator or issubclass(review.operator_class, HITLOperator)
    assert review.partial_kwargs["options"] == ["Same person", "Different people", "Not sure: leave in the queue"]
    assert "Required Actions" in dag.doc_md and "crosswalk review" in dag.doc_md
    assert all(t.retries == 0 for t in dag.tasks)  # a person's answer is never asked for twice by a retry


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_dag_has_owner_tags_retries_and_docs(dag_id):
    dag = DAGS[dag_id]
    from airflow.providers.standard.operators.hitl import HITLOperator

    from crosswalk.config.loader import load_config
    from crosswalk.orchestration.ids import dag_id_for

    feed_of = {dag_id_for(f): f.id for f in load_config().feeds.values()}
    assert "crosswalk" in dag.tags and dag.tags & {"inbound", "outbound", "publish", "open_data", "audit", "retention"}
    assert dag.catchup is False
    if dag_id == "crosswalk_audit":
        assert dag.doc_md and "audit hash chain" in dag.doc_md
        assert dag.schedule == "@weekly"  # the IG report, weekly by default
    elif dag_id == "crosswalk_retention":
        assert dag.doc_md and "staging.purged" in dag.doc_md and dag.schedule == "@daily"
    else:
        assert dag.doc_md and feed_of[dag_id] in dag.doc_md
        assert dag.schedule is None  # every shipped feed starts manual
    for t in dag.tasks:
        assert t.owner == "crosswalk", t.task_id
        # A person's answer is never asked for twice by a retry; every other task retries.
        assert t.retries == 0 if isinstance(t, HITLOperator) else t.retries >= 2, t.task_id


def test_open_data_waits_for_the_named_approver_until_automated(tmp_path):
    import shutil

    from airflow.providers.standard.operators.hitl import ApprovalOperator

    from crosswalk.config.loader import load_config
    from crosswalk.orchestration.factory import dags_from_config

    dag = DAGS["open_data_care_packages_open_data"]
    approval = dag.task_dict["approve_go_live"]
    assert isinstance(approval, ApprovalOperator)
    assert approval.assigned_users == [{"id": "ruth.anderson", "name": "Ruth Anderson"}]
    assert dag.task_dict["go_live"].upstream_task_ids == {"stage_package", "approve_go_live"}
    assert "Required Actions" in dag.doc_md

    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    edit_yaml(config / "feeds" / "care-packages-open-data.yaml", automated=True)
    automated = dags_from_config(load_config(config))["open_data_care_packages_open_data"]
    assert "approve_go_live" not in automated.task_dict
    assert automated.task_dict["go_live"].upstream_task_ids == {"stage_package"}


def test_dag_file_parses_with_no_import_errors_and_no_heavy_imports():
    # A fresh interpreter, as the DAG processor would be: Airflow loaded, our package cold. Parse speed
    # is kept by what parsing may import (config only), not by a timed assertion.
    heavy = ["pandas", "numpy", "splink", "duckdb", "pyarrow", "paramiko", "asyncssh", "frictionless", "psycopg"]
    code = (
        "import airflow.sdk, pathlib, sys;"
        "from airflow.dag_processing.dagbag import DagBag;"
        "before = set(sys.modules);"
        f"b = DagBag(dag_folder={str(REPO / 'dags')!r}, bundle_path=pathlib.Path({str(REPO)!r}), bundle_name='b');"
        "assert not b.import_errors, b.import_errors;"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules and m not in before));"
        "print(len(b.dags))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imported, n_dags = out.stdout.strip().splitlines()[-2:]
    assert imported == "[]", f"parsing the DAG file imported {imported}"
    assert int(n_dags) >= 6  # four feeds, a review DAG, the audit DAG


def test_broken_config_is_an_import_error_naming_file_field_and_reason(tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    shutil.copytree(REPO / "config", tmp_path / "config")
    feed = tmp_path / "config" / "feeds" / "council-clients.yaml"
    feed.write_text(feed.read_text().replace("schedule: manual", "schedule: every tuesday"))
    with EnvPatch({"AIRFLOW__CROSSWALK__CONFIG_DIR": str(tmp_path / "config")}):
        bag = DagBag(dag_folder=str(REPO / "dags"), bundle_path=REPO, bundle_name="b")
    [message] = bag.import_errors.values()
    assert f"{feed}: schedule: 'every tuesday' is not 'manual'" in message
    # One broken feed hides no other: it is left out, with the feeds built on it (each named in the message,
    # and why); every other feed's DAG, the audit DAG and the retention DAG load.
    built_on_it = ["clients-to-health", "chi-numbers-to-council", "social-care-summary", "care-packages-open-data"]
    for feed_id in built_on_it:
        assert f"feeds/{feed_id}.yaml: source" in message
    assert set(bag.dags) == {
        "inbound_health_index",
        "inbound_council_objections",
        "inbound_health_restricted",
        "crosswalk_audit",
        "crosswalk_retention",
    }


def test_a_problem_outside_the_feed_files_still_stops_every_dag(tmp_path):
    """Settings, partners, agreements and schemas are shared: a problem there is no feed's alone."""
    from airflow.dag_processing.dagbag import DagBag

    shutil.copytree(REPO / "config", tmp_path / "config")
    edit_yaml(tmp_path / "config" / "crosswalk.yaml", retries=0)
    with EnvPatch({"AIRFLOW__CROSSWALK__CONFIG_DIR": str(tmp_path / "config")}):
        bag = DagBag(dag_folder=str(REPO / "dags"), bundle_path=REPO, bundle_name="b")
    [message] = bag.import_errors.values()
    assert "crosswalk.yaml: retries" in message and bag.dags == {}


def test_airflow_cli_reports_no_import_errors(airflow_db):
    env = {**os.environ, "AIRFLOW__CORE__DAGS_FOLDER": str(REPO)}
    out = subprocess.run(
        [str(REPO / ".venv" / "bin" / "airflow"), "dags", "list-import-errors", "--local", "-B", "dags-folder"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert "No data found" in out.stdout, out.stdout + out.stderr


# Tasks that open a session to a partner's SFTP server (the open-data go-live only when it publishes there).
SFTP_TASKS = {"discover_drops", "ingest_drop", "plan_deliveries", "deliver_batch"}


def test_every_task_that_opens_an_sftp_session_counts_in_its_partners_pool_and_the_pools_import(airflow_db, tmp_path):
    from airflow.cli.commands.pool_command import pool_import_helper
    from airflow.models.pool import Pool

    from crosswalk.cli import main
    from crosswalk.config.loader import load_config
    from crosswalk.orchestration.ids import dag_id_for

    cfg = load_config()
    for feed in cfg.feeds.values():
        dag = DAGS[dag_id_for(feed)]
        for t in dag.tasks:
            if t.task_id in SFTP_TASKS:
                assert t.pool == cfg.partners[feed.partner].sftp_pool, (dag.dag_id, t.task_id)
            elif t.task_id != "go_live":
                assert t.pool == "default_pool", (dag.dag_id, t.task_id)

    # What `airflow pools import` does with `crosswalk pools`: one pool per partner, its max_sessions slots.
    assert main(["pools", "--out", str(tmp_path / "pools.json")]) == 0
    pool_import_helper(str(tmp_path / "pools.json"))
    slots = {p.pool: p.slots for p in Pool.get_pools() if p.pool.startswith("crosswalk_sftp_")}
    assert slots == {p.sftp_pool: p.sftp.max_sessions for p in cfg.partners.values()} and len(slots) == 2
