"""Schedule modes as Airflow sees them: manual, cron and on_arrival, behind the graduation gate.

The run history the gate counts is read from a real (SQLite) Crosswalk database through the
``crosswalk_db`` connection, as the DAG processor would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

from crosswalk.audit import AuditLog, RunContext
from crosswalk.config.loader import load_config
from crosswalk.orchestration.connections import dispose_engines
from crosswalk.orchestration.factory import dags_from_config
from crosswalk.staging.db import make_engine
from crosswalk.staging.migrations import upgrade
from tests.conftest import REPO
from tests.support.project import EnvPatch, edit_yaml

CLI = str(REPO / ".venv" / "bin" / "crosswalk")


def _project(tmp_path, schedules: dict[str, str], *, approved: bool, manual_runs: int):
    """A config copy with the given feed schedules, northshire-isp v2's automation approval set or not,
    and a database holding ``manual_runs`` successful manual runs of each of those feeds."""
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config)
    for feed, schedule in schedules.items():
        edit_yaml(config / "feeds" / f"{feed}.yaml", schedule=schedule)
    automation = {"approved": True, "by": "Morag Campbell", "on": "2026-11-02"} if approved else {}
    edit_yaml(config / "agreements" / "northshire-isp.v2.yaml", automation=automation)
    db = tmp_path / "crosswalk.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    for feed in schedules:
        for i in range(manual_runs):
            run = RunContext(dag_id="x", run_id=f"manual__{feed}_{i}", task_id="finish", run_type="manual")
            AuditLog(engine, run).emit("run.succeeded", "succeeded", feed_id=feed)
        # Dry runs and scheduled runs do not count towards graduation.
        AuditLog(engine, RunContext(run_id=f"dry_{feed}", run_type="manual")).emit(
            "run.succeeded", "dry_run", feed_id=feed
        )
        AuditLog(engine, RunContext(run_id=f"sched_{feed}", run_type="scheduled")).emit(
            "run.succeeded", "succeeded", feed_id=feed
        )
    engine.dispose()
    env = {
        "AIRFLOW_CONN_CROSSWALK_DB": json.dumps({"conn_type": "sqlite", "host": str(db)}),
        "AIRFLOW__CROSSWALK__CONFIG_DIR": str(config),
    }
    return load_config(config), env


def _other_connections(cfg) -> dict[str, str]:
    """Every other connection the config names, so that ``crosswalk check`` (not offline) resolves them."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    from crosswalk.crypto import age
    from tests.support.project import conn_env_name

    keys = cfg.settings.keys
    pem = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()).decode()
    env = {
        conn_env_name(keys.age_identities_conn_id): json.dumps(
            {"conn_type": "crosswalk_age", "password": age.Identity.generate().secret()}
        ),
        conn_env_name(keys.signing_key_conn_id): json.dumps(
            {"conn_type": "crosswalk_signing_key", "extra": {"private_key": pem}}
        ),
        conn_env_name(keys.disclosure_key_conn_id): json.dumps({"conn_type": "generic", "password": "cd" * 32}),
    }
    env |= {conn_env_name(p.sftp.conn_id): json.dumps({"conn_type": "sftp"}) for p in cfg.partners.values()}
    for history in cfg.agreements.values():
        for a in history.versions:
            if a.pseudonymisation_key_conn_id:
                env[conn_env_name(a.pseudonymisation_key_conn_id)] = json.dumps(
                    {"conn_type": "generic", "password": "ab" * 32}
                )
    return env


def _dags(cfg, env):
    with EnvPatch(env):
        try:
            return dags_from_config(cfg)
        finally:
            dispose_engines()


def _next_run(dag) -> datetime:
    import pendulum
    from airflow.serialization.decoders import decode_timetable
    from airflow.serialization.encoders import encode_timetable
    from airflow.timetables.base import TimeRestriction

    timetable = decode_timetable(encode_timetable(dag.timetable))  # the scheduler's view of it
    now = pendulum.now("UTC")
    info = timetable.next_dagrun_info(
        last_automated_data_interval=None, restriction=TimeRestriction(earliest=now, latest=None, catchup=False)
    )
    return info.run_after


def test_a_manual_feed_has_no_schedule(tmp_path):
    cfg, env = _project(tmp_path, {"clients-to-health": "manual"}, approved=True, manual_runs=5)
    dag = _dags(cfg, env)["outbound_clients_to_health"]
    assert dag.schedule is None
    assert "**Schedule:** manual: runs only when triggered" in dag.doc_md


def test_a_graduated_cron_feed_runs_at_the_next_matching_time(tmp_path):
    cfg, env = _project(tmp_path, {"clients-to-health": "0 6 * * 1"}, approved=True, manual_runs=3)
    dag = _dags(cfg, env)["outbound_clients_to_health"]
    assert dag.schedule == "0 6 * * 1"
    now = datetime.now(UTC)
    monday = (now + timedelta(days=(7 - now.weekday()) % 7)).replace(hour=6, minute=0, second=0, microsecond=0)
    expected = monday if monday > now else monday + timedelta(days=7)
    assert _next_run(dag) == expected
    assert "0 6 * * 1 once graduated (3 successful manual run(s))" in dag.doc_md


def test_the_gate_refuses_a_feed_without_approval_in_the_dag_description_and_crosswalk_check(tmp_path):
    cfg, env = _project(tmp_path, {"clients-to-health": "@daily"}, approved=False, manual_runs=1)
    dag = _dags(cfg, env)["outbound_clients_to_health"]
    # Parsing reads config only: the DAG carries the schedule asked for, and says what its runs wait for.
    assert dag.schedule == "@daily"
    assert dag.description.startswith(
        "@daily once graduated (3 successful manual run(s); agreement northshire-isp v2 records no automation"
        " approval): each scheduled run's first task checks"
    )
    message = (
        "held at manual (config asks for @daily): agreement northshire-isp v2 records no automation approval; "
        "1 of 3 successful manual runs"
    )
    out = subprocess.run(
        [CLI, "check", "--config", str(cfg.config_dir)],
        capture_output=True,
        text=True,
        env={**env, **_other_connections(cfg), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert f"crosswalk check: schedule clients-to-health: {message}" in out.stdout, out.stdout + out.stderr


def test_an_on_arrival_inbound_feed_is_scheduled_on_its_watched_outbox(tmp_path):
    from crosswalk.orchestration.arrival import SftpDropTrigger

    cfg, env = _project(
        tmp_path, {"council-clients": "on_arrival", "clients-to-health": "on_arrival"}, approved=True, manual_runs=3
    )
    dags = _dags(cfg, env)
    (asset,) = dags["inbound_council_clients"].timetable.asset_condition.objects
    (watcher,) = asset.watchers
    assert isinstance(watcher.trigger, SftpDropTrigger)
    _, kwargs = watcher.trigger.serialize()
    partner = cfg.partners["northshire-council"]
    assert kwargs["directory"] == partner.sftp.paths.outbox and kwargs["host_keys"] == partner.sftp.host_keys
    assert kwargs["file_pattern"] == "clients_*.csv" and kwargs["conn_id"] == partner.sftp.conn_id
    # The outbound feed built from it runs when a run of the inbound feed has staged new data.
    (staged,) = dags["outbound_clients_to_health"].timetable.asset_condition.objects
    (outlet,) = dags["inbound_council_clients"].task_dict["finish"].outlets
    assert staged.uri == outlet.uri == "crosswalk://staged/council-clients"


def test_parsing_reads_config_only_and_the_gate_holds_a_scheduled_run_at_its_first_task(tmp_path):
    """No database while parsing (the run history would be unreachable and is not asked for); at run time a
    scheduled run of a feed short of its manual runs is held (``run.held``), a manual trigger runs."""
    import pytest
    from airflow.sdk.exceptions import AirflowSkipException

    from crosswalk.audit import read_events
    from crosswalk.orchestration import bookends
    from tests.support.airflow import task_context

    cfg, env = _project(tmp_path, {"clients-to-health": "@daily"}, approved=True, manual_runs=2)
    unreachable = {**env, "AIRFLOW_CONN_CROSSWALK_DB": json.dumps({"conn_type": "sqlite", "host": "/nonexistent/x.db"})}
    assert _dags(cfg, unreachable)["outbound_clients_to_health"].schedule == "@daily"

    with EnvPatch(env):
        try:
            scheduled = task_context("outbound_clients_to_health", "prepare", "scheduled__1", run_type="scheduled")
            with pytest.raises(AirflowSkipException, match="2 of 3 successful manual runs"):
                bookends.prepare("clients-to-health", scheduled)
            with pytest.raises(AirflowSkipException):  # nothing succeeded; no new data announced
                bookends.finish("clients-to-health", {**scheduled, "ti": task_context("x", "finish", "x")["ti"]})
            bookends.prepare("clients-to-health", task_context("outbound_clients_to_health", "prepare", "manual__1"))
            engine = make_engine(f"sqlite:///{json.loads(env['AIRFLOW_CONN_CROSSWALK_DB'])['host']}")
            [held] = read_events(engine, event="run.held")
            assert held["run_id"] == "scheduled__1" and "2 of 3 successful manual runs" in held["reason"]
            assert [e["run_id"] for e in read_events(engine, event="run.started")] == ["manual__1"]
            engine.dispose()
        finally:
            dispose_engines()
