"""Matching in the inbound flow, end to end: a council extract is linked to the board's CHI index, an
uncertain pair goes to clerical review, a reviewer decides it (audited), and a rerun reuses the decision."""

from __future__ import annotations

import csv
import json
import subprocess

import pytest
from sqlalchemy import text

from crosswalk.audit import read_events
from crosswalk.identifiers import mod11_check_digit
from crosswalk.orchestration.resources import engine_for
from tests.conftest import REPO
from tests.support.airflow import run_dag
from tests.support.project import clients_csv, index_csv

pytestmark = [pytest.mark.sshd, pytest.mark.airflow]

COUNCIL, NHS = "northshire-council", "nhs-northshire"
CLI = str(REPO / ".venv" / "bin" / "crosswalk")


def _chi(ddmmyy: str, serial: str) -> str:
    return ddmmyy + serial + str(mod11_check_digit(ddmmyy + serial))


TWIN_A, TWIN_B = _chi("170561", "113"), _chi("170561", "121")


def _append(path, row: dict) -> None:
    with path.open() as f:
        header = next(csv.reader(f))
    with path.open("a", newline="") as f:
        csv.DictWriter(f, fieldnames=header, lineterminator="\n").writerow({k: row.get(k, "") for k in header})


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_link_review_decide_and_rerun_with_the_decision_reused(project):
    twin = {"forename": "Angus", "surname": "Mcphee", "date_of_birth": "1961-05-17", "sex": "M", "postcode": "NS1 1AA"}
    index = index_csv(project.work, n=80)
    for chi in (TWIN_A, TWIN_B):
        _append(index, {"chi_number": chi, **twin, "gp_practice_code": "N00001"})
    clients = clients_csv(project.work, n=50)
    _append(clients, {"source_id": "LOOKALIKE", "chi_number": "", **twin, "adult_protection_flag": "N"})
    project.drop(NHS, index, feed="health-index", schema_id="health_board_index")
    project.drop(COUNCIL, clients, feed="council-clients", schema_id="social_care_client")
    assert run_dag("inbound_health_index")[0] == "success"
    state, tis = run_dag("inbound_council_clients")
    assert state == "success" and tis["match_batch[0]"] == "success", tis

    engine = engine_for("crosswalk_db")
    with engine.connect() as conn:
        bands = dict(conn.execute(text("SELECT band, COUNT(*) FROM crosswalk GROUP BY band")).all())
        pending = conn.execute(
            text("SELECT matched_record_id FROM crosswalk WHERE source_record_id = 'LOOKALIKE'")
        ).one()
    assert sum(bands.values()) == 51 and bands.get("review", 0) >= 1 and bands["auto"] >= 45
    assert pending.matched_record_id in (TWIN_A, TWIN_B)
    (matched,) = read_events(engine, event="batch.matched")
    assert json.loads(matched["detail"])["clerical_reused"] == 0

    url = project.db_url
    listed = subprocess.run(
        [CLI, "review", "list", "--feed", "council-clients", "--url", url], capture_output=True, text=True
    )
    assert "LOOKALIKE -> " in listed.stdout
    decided = subprocess.run(
        [
            CLI,
            "review",
            "decide",
            "--feed",
            "council-clients",
            "LOOKALIKE",
            "match",
            "--by",
            "Ailsa Reviewer",
            "--url",
            url,
        ],
        capture_output=True,
        text=True,
    )
    assert decided.returncode == 0, decided.stderr
    (event,) = read_events(engine, event="review.decided")
    assert json.loads(event["detail"])["approved_by"] == "Ailsa Reviewer" and event["triggered_by"] == "Ailsa Reviewer"
    assert "LOOKALIKE" not in json.dumps(event, default=str)  # the pair by hash, not by record id

    # Rerun: the same drop is skipped, matching runs again, and the reviewer's decision is reused.
    state, tis = run_dag("inbound_council_clients")
    assert state == "success", tis
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT method, band, matched_identifier, decided_by FROM crosswalk"
                " WHERE source_record_id = 'LOOKALIKE'"
            )
        ).one()
    assert (row.method, row.band, row.decided_by) == ("clerical", "auto", "Ailsa Reviewer")
    assert row.matched_identifier == pending.matched_record_id
    second = read_events(engine, event="batch.matched")[-1]
    assert json.loads(second["detail"])["clerical_reused"] == 1
