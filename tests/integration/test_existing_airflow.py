"""docs/deploy.md (steps 1, 2, 4 and 6), step by step, against a fresh AIRFLOW_HOME: a DAG bundle pointed at the
repository, connections from the environment (as a secrets backend hands them over), the pools imported,
`crosswalk check` passing, and every DAG listed, paused. Nothing of the compose stack is used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.support.project import make_project

BIN = Path(sys.executable).parent


def test_the_guide_for_an_existing_airflow_works_from_a_fresh_home(tmp_path, sshd):
    project = make_project(tmp_path, sshd, f"sqlite:///{tmp_path / 'crosswalk.db'}")
    home = tmp_path / "airflow-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(project.env())
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST=json.dumps(
            [
                {
                    "name": "crosswalk",
                    "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                    "kwargs": {"path": str(REPO)},
                }
            ]
        ),
        PATH=f"{BIN}:{env['PATH']}",
    )

    def step(*cmd: str) -> str:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=300)
        assert done.returncode == 0, f"{' '.join(cmd)}: {done.stderr[-2000:]}"
        return done.stdout

    step("airflow", "db", "migrate")
    step("crosswalk", "db", "upgrade", "--url", project.db_url)
    before = subprocess.run(["crosswalk", "check"], env=env, capture_output=True, text=True, check=False)
    assert before.returncode == 1 and "pool crosswalk_sftp_northshire_council" in before.stderr.replace("'", "")
    step("crosswalk", "pools", "--out", str(tmp_path / "pools.json"))
    step("airflow", "pools", "import", str(tmp_path / "pools.json"))
    checked = step("crosswalk", "check")
    assert "crosswalk check: OK" in checked and "every connection resolves" in checked

    dags = _json(step("airflow", "dags", "list", "--local", "-B", "crosswalk", "-o", "json"))
    assert {d["dag_id"] for d in dags} == {
        "inbound_council_clients", "inbound_health_index", "outbound_clients_to_health",
        "outbound_chi_numbers_to_council", "inbound_council_objections", "inbound_health_restricted",
        "publish_social_care_summary", "open_data_care_packages_open_data",
        "review_council_clients", "crosswalk_audit", "crosswalk_retention",
    }  # fmt: skip
    errors = step("airflow", "dags", "list-import-errors", "--local", "-B", "crosswalk", "-o", "json")
    assert "No data found" in errors or _json(errors) == []


def _json(out: str):
    """The JSON document Airflow's CLI prints after its own log lines (which go to standard output too)."""
    lines = [ln for ln in out.splitlines() if ln.startswith(("[", "{"))]
    assert lines, f"no JSON in: {out[-500:]}"
    return json.loads(lines[-1])
