"""Publishing end to end on PostgreSQL: inbound -> staged -> matched -> portal table published (keyed by
CHI, only what the agreement allows) -> open-data package built -> approved in the UI by the named
approver -> published to the CKAN stand-in, the file target and a partner's SFTP area (real sshd) -> usage
read back; and a rollback."""

from __future__ import annotations

import json
import subprocess

import pandas as pd
import pytest
from sqlalchemy import text

from crosswalk.audit import read_events
from crosswalk.orchestration.connections import engine_for
from tests.conftest import REPO
from tests.support.airflow import run_dag, run_dag_answering
from tests.support.ckan import CKAN_TOKEN as TOKEN
from tests.support.project import EnvPatch, clients_csv, edit_yaml, index_csv
from tests.support.webhook import Webhook

pytestmark = [pytest.mark.sshd, pytest.mark.airflow]

COUNCIL, NHS = "northshire-council", "nhs-northshire"
CLI = str(REPO / ".venv" / "bin" / "crosswalk")


@pytest.fixture
def db_url(postgres_url):
    return postgres_url


def _configure(project, tmp_path, url, hook) -> dict:
    edit_yaml(
        project.config_dir / "crosswalk.yaml",
        open_data_dir=str(tmp_path / "open-data"),
        notifications=[{"id": "ig-team", "webhook": {"conn_id": "crosswalk_notify"}, "on": ["approval_needed"]}],
    )

    def targets(doc: dict) -> None:
        doc["targets"]["file"]["path"] = str(tmp_path / "published")
        doc["targets"]["sftp"] = {"partner": COUNCIL, "path": "/inbox/open-data"}  # e.g. the council's web team

    edit_yaml(project.config_dir / "feeds" / "care-packages-open-data.yaml", targets)
    project.reload()
    return {
        "AIRFLOW_CONN_CROSSWALK_CKAN": json.dumps({"conn_type": "http", "host": url, "password": TOKEN}),
        "AIRFLOW_CONN_CROSSWALK_NOTIFY": json.dumps({"conn_type": "http", "host": hook.url}),
    }


def _view(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(text("SELECT * FROM pub_social_care_summary"))
        return pd.DataFrame(result.all(), columns=list(result.keys()))


def test_inbound_to_portal_to_open_data_with_approval_ckan_file_and_sftp_targets(project, ckan_portal, tmp_path):
    stand_in, url = ckan_portal
    hook = Webhook()
    with EnvPatch(_configure(project, tmp_path, url, hook)):
        project.drop(NHS, index_csv(project.work, n=300), feed="health-index", schema_id="health_board_index")
        project.drop(COUNCIL, clients_csv(project.work, n=240), feed="council-clients", schema_id="social_care_client")
        assert run_dag("inbound_health_index")[0] == "success"
        assert run_dag("inbound_council_clients")[0] == "success"
        engine = engine_for("crosswalk_db")

        # A dry run of the portal publish reports and publishes nothing.
        state, tis = run_dag("publish_social_care_summary", {"dry_run": True})
        assert state == "success", tis
        (dry,) = read_events(engine, event="portal.dry_run")
        assert dry["reason"] == f"dry run: would publish {dry['rows_out']} rows to the view pub_social_care_summary"
        assert not read_events(engine, event="portal.published")

        # Portal: keyed by CHI, only the fields the ISP allows the board at level 2.
        state, tis = run_dag("publish_social_care_summary")
        assert state == "success", tis
        view = _view(engine)
        (published,) = read_events(engine, event="portal.published")
        detail = json.loads(published["detail"])
        assert detail["chi_from_matching"] > 0 and detail["rows_in"] == 240
        assert len(view) == 240 - detail["left_out_no_chi"] and view["chi_number"].str.fullmatch(r"\d{10}").all()
        assert "assessment_type" not in view.columns and "adult_protection_flag" not in view.columns
        assert "care_package_type" in view.columns and not view["source_id"].str.startswith("MOS").any()
        # A rerun with the same batch and agreement publishes nothing new.
        assert run_dag("publish_social_care_summary")[0] == "success"
        assert read_events(engine, event="portal.unchanged")

        # A dry run of open data builds the package but asks nobody and publishes nothing.
        state, tis = run_dag("open_data_care_packages_open_data", {"dry_run": True})
        assert state == "success", tis
        assert tis["approve_go_live"] == tis["go_live"] == tis["usage"] == "skipped" and tis["finish"] == "success"
        assert not (tmp_path / "published").exists() and not stand_in.packages

        # Open data: staged, approved in Required Actions by the named approver, then live.
        bodies = []

        def approve(subject: str, body: str):
            bodies.append(body)
            return "Approve", "Ruth Anderson"

        state, tis, answered = run_dag_answering("open_data_care_packages_open_data", approve)
        assert state == "success", tis
        assert len(answered) == 1 and tis["go_live"] == "success" and tis["usage"] == "success"
        # The approver saw the table as the public will: the latest month across package types, suppressed cells
        # marked, every figure one the package holds.
        (body,) = bodies
        assert "care-packages-open-data:v1" in body and "As the public will see it: month " in body
        assert "| council_area / age_band |" in body and "✱" in body
        # The IG team's webhook heard that the approver was waiting (and nothing on the dry run before).
        (waiting,) = hook.received
        assert waiting["kind"] == "approval_needed" and waiting["task_id"] == "approve_go_live"
        assert waiting["summary"].endswith("waiting for Ruth Anderson under Required Actions")
        package = tmp_path / "open-data" / "care-packages-open-data" / "v1"
        assert {p.name for p in package.iterdir()} == {"care_packages_by_area.csv", "datapackage.json", "README.md"}
        descriptor = json.loads((package / "datapackage.json").read_text())
        assert descriptor["licenses"][0]["name"] == "OGL-UK-3.0" and descriptor["update_frequency"] == "monthly"
        table = pd.read_csv(package / "care_packages_by_area.csv", dtype=str, keep_default_na=False)
        counts = table.loc[table["people"] != "*", "people"].astype(int)
        assert not counts.between(1, 7).any() and (counts % 5 == 0).all() and (table["people"] == "*").any()
        assert (tmp_path / "published" / "care-packages-open-data" / "care_packages_by_area.csv").read_bytes() == (
            package / "care_packages_by_area.csv"
        ).read_bytes()
        dropped = project.inbox(COUNCIL) / "open-data" / "care-packages-open-data"
        assert {p.name for p in dropped.iterdir()} == {p.name for p in package.iterdir()}  # whole, no .part left
        assert (dropped / "datapackage.json").read_bytes() == (package / "datapackage.json").read_bytes()
        (ckan_package,) = stand_in.packages.values()
        csv_resource = next(r for r in ckan_package["resources"] if r["name"] == "care_packages_by_area.csv")
        assert len(stand_in.datastore[csv_resource["id"]]["records"]) == len(table)
        (approved,) = read_events(engine, event="opendata.approved")
        assert approved["reason"] == "approved by Ruth Anderson (Airflow Required Actions)"
        assert read_events(engine, event="opendata.published") and read_events(engine, event="opendata.usage")
        with engine.connect() as conn:
            status = conn.execute(
                text("SELECT status FROM publication WHERE publication_id = 'care-packages-open-data:v1'")
            ).scalar_one()
        assert status == "live"
        # Nothing personal in the open-data events.
        for event in read_events(engine):
            if event["event"].startswith(("opendata.", "portal.")):
                assert not any(chi in json.dumps(event, default=str) for chi in view["chi_number"].head(50))

        # A new extract publishes v2; the command line rolls the portal back to v1 (audited).
        project.drop(COUNCIL, clients_csv(project.work, n=200, name="clients_20261122.csv", seed=8),
                     feed="council-clients", schema_id="social_care_client")  # fmt: skip
        assert run_dag("inbound_council_clients")[0] == "success"
        assert run_dag("publish_social_care_summary")[0] == "success"
        assert len(_view(engine)) != len(view)
        env = {**project.env(), "PATH": "/usr/bin:/bin"}
        rollback = [CLI, "publish", "rollback", "social-care-summary", "--url", project.db_url, "--by", "Ops Lead"]
        done = subprocess.run(rollback, capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stderr
        assert "social-care-summary:v1" in done.stdout
        assert (
            _view(engine)
            .sort_values("chi_number")
            .reset_index(drop=True)
            .equals(view.sort_values("chi_number").reset_index(drop=True))
        )
        (rolled,) = read_events(engine, event="portal.rolled_back")
        assert rolled["reason"] == "rolled back by Ops Lead"
