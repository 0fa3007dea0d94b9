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
from crosswalk.orchestration.connections import engine_for
from tests.conftest import REPO
from tests.support.airflow import run_dag, run_dag_answering
from tests.support.project import EnvPatch, clients_csv, edit_yaml, index_csv
from tests.support.webhook import Webhook

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


def _drop_twins_and_a_lookalike(project, index_rows: int, client_rows: int) -> None:
    """The board drops an index holding twins (two CHIs, everything else alike); the council drops an
    extract with a CHI-less client who looks like both, so matching cannot settle that one alone."""
    twin = {"forename": "Angus", "surname": "Mcphee", "date_of_birth": "1961-05-17", "sex": "M", "postcode": "NS1 1AA"}
    index = index_csv(project.work, n=index_rows)
    for chi in (TWIN_A, TWIN_B):
        _append(index, {"chi_number": chi, **twin, "gp_practice_code": "N00001"})
    clients = clients_csv(project.work, n=client_rows)
    _append(clients, {"source_id": "LOOKALIKE", "chi_number": "", **twin, "adult_protection_flag": "N"})
    project.drop(NHS, index, feed="health-index", schema_id="health_board_index")
    project.drop(COUNCIL, clients, feed="council-clients", schema_id="social_care_client")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_link_review_decide_and_rerun_with_the_decision_reused(project):
    _drop_twins_and_a_lookalike(project, index_rows=80, client_rows=50)
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
    assert json.loads(matched["detail"])["quality"] == {
        "labelled_pairs": 0, "estimate": "none: fewer than 20 clerical decisions"
    }  # fmt: skip

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

    # Rerun: the same drop is skipped, matching runs again: nothing changed, so nothing is linked again and the
    # reviewer's decision stands.
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
    second = json.loads(read_events(engine, event="batch.matched")[-1]["detail"])
    assert second["delta"]["linked"] == 0 and second["clerical_in_force"] == 1
    assert second["quality"]["labelled_pairs"] == 1  # the decision is a label now


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_review_in_the_airflow_ui_records_the_decision_and_a_rerun_reuses_it(project):
    """The review DAG: one human-in-the-loop task per pair, the two records side by side (only fields the
    reviewer may see), answered through Airflow's own response handler; the answer is audited."""
    _drop_twins_and_a_lookalike(project, index_rows=40, client_rows=20)
    assert run_dag("inbound_health_index")[0] == "success"
    assert run_dag("inbound_council_clients")[0] == "success"
    engine = engine_for("crosswalk_db")
    with engine.connect() as conn:
        in_review = conn.execute(text("SELECT COUNT(*) FROM crosswalk WHERE band = 'review'")).scalar_one()
    assert in_review >= 1

    def answer(subject: str, body: str):
        return ("Same person" if "LOOKALIKE" in subject else "Not sure: leave in the queue"), "Ailsa Reviewer"

    hook = Webhook()
    edit_yaml(
        project.config_dir / "crosswalk.yaml",
        notifications=[{"id": "council-review", "webhook": {"conn_id": "crosswalk_notify"},
                        "on": ["approval_needed"], "partners": ["northshire-council"]}],
    )  # fmt: skip
    with EnvPatch({"AIRFLOW_CONN_CROSSWALK_NOTIFY": json.dumps({"conn_type": "http", "host": hook.url})}):
        state, tis, answered = run_dag_answering("review_council_clients", answer)
    hook.close()
    # The council's reviewers heard that pairs were waiting for them, without any record's values.
    (notice,) = hook.received
    assert notice["summary"] == (
        f"{in_review} pair(s) of council-clients wait for clerical review by Northshire Council under Required Actions"
    )
    assert state == "success", tis
    assert len(answered) == in_review and sum(t.startswith("review_pair[") for t in tis) == in_review
    (card,) = [a for a in answered if "LOOKALIKE" in a["subject"]]
    side_by_side, evidence = card["body"].split("How the model weighs this pair")
    rows = {line.split("|")[1].strip(): line for line in side_by_side.splitlines() if line.startswith("| ")}
    # Side by side, person fields only: the council's own record in full, the board's as the ISP allows
    # the council (schedule B, level 1); nothing else of either record (no care data, no GP practice).
    assert set(rows) == {"field", "source_id", "chi_number", "forename", "surname", "date_of_birth", "sex",
                         "postcode", "address_line1"}  # fmt: skip
    assert "Mcphee" in rows["surname"] and rows["source_id"].count("(not shown)") == 1
    assert "care_package_type" not in card["body"] and "gp_practice_code" not in card["body"]
    # And how the model weighs the pair, comparison by comparison, adding up to the pair's weight.
    assert "| prior (before any comparison) |" in evidence and "| **total** |" in evidence

    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT method, band, decided_by FROM crosswalk WHERE source_record_id = 'LOOKALIKE'")
        ).one()
        still = conn.execute(text("SELECT COUNT(*) FROM crosswalk WHERE band = 'review'")).scalar_one()
    assert (row.method, row.band, row.decided_by) == ("clerical", "auto", "Ailsa Reviewer")
    assert still == in_review - 1  # "not sure" leaves a pair in the queue
    (event,) = read_events(engine, event="review.decided")
    assert json.loads(event["detail"])["approved_by"] == "Ailsa Reviewer"
    assert "LOOKALIKE" not in json.dumps(event, default=str) and "Mcphee" not in json.dumps(event, default=str)

    # A rerun of the inbound flow reuses the decision made in the UI.
    assert run_dag("inbound_council_clients")[0] == "success"
    second = json.loads(read_events(engine, event="batch.matched")[-1]["detail"])
    assert second["delta"]["linked"] == 0 and second["clerical_in_force"] == 1
    assert second["quality"]["labelled_pairs"] == 1  # the decision is a label now
