"""Canary: marker values seeded into every free-text field of the partners' records must never appear
in task logs, the audit store, exception texts, quarantine reasons or feedback files.

The markers are shaped so the log safety net (crosswalk.logsafety) does not redact them: this tests
the real guarantee, that the code logs counts, hashes and field names only.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from sqlalchemy import text

from crosswalk.orchestration.connections import engine_for
from tests.support.airflow import run_dag
from tests.support.project import clients_csv, index_csv

pytestmark = [pytest.mark.sshd, pytest.mark.airflow]

COUNCIL, NHS = "northshire-council", "nhs-northshire"
MARK = "CWCANARY"
CLIENT_TEXT = ["forename", "surname", "address_line1", "allocated_worker", "assessment_type", "primary_support_reason"]
INDEX_TEXT = ["forename", "surname", "gp_practice_code"]


def _seed(path: Path, fields: list[str], bad: dict[str, str] | None = None) -> Path:
    rows = list(csv.DictReader(path.open()))
    for i, row in enumerate(rows):
        for f in fields:
            row[f] = f"{MARK}{f[:4]}{i}"[: 10 if f == "gp_practice_code" else 60]
        if "source_id" in row:
            row["source_id"] = f"{MARK}SRC{i:04d}"
    if bad:
        rows[-1].update(bad)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_no_marker_value_reaches_any_log_audit_event_or_message(project, caplog, capfd):
    good = _seed(clients_csv(project.work, n=15), CLIENT_TEXT)
    project.drop(COUNCIL, good, feed="council-clients", schema_id="social_care_client")
    # A second council drop that fails validation on marker values: its reasons must name fields, not values.
    bad = _seed(
        clients_csv(project.work, n=5, name="clients_20261122.csv", seed=9),
        CLIENT_TEXT,
        bad={"sex": f"{MARK}X", "date_of_birth": f"{MARK}DOB", "chi_number": f"{MARK}CHI"},
    )
    project.drop(COUNCIL, bad, feed="council-clients", schema_id="social_care_client")
    index = _seed(index_csv(project.work, n=20), INDEX_TEXT)
    project.drop(NHS, index, feed="health-index", schema_id="health_board_index")

    states = {
        dag_id: run_dag(dag_id)
        for dag_id in (
            "inbound_council_clients",
            "inbound_health_index",
            "outbound_clients_to_health",
            "outbound_chi_numbers_to_council",
        )
    }
    # The run really exercised the paths: good drops staged and delivered, the bad one quarantined.
    state, tis = states["inbound_council_clients"]
    assert state == "failed"  # the bad drop's task failed...
    assert sorted(s for t, s in tis.items() if t.startswith("ingest_drop")) == ["failed", "success"]  # ...alone
    for dag_id in ("inbound_health_index", "outbound_clients_to_health", "outbound_chi_numbers_to_council"):
        assert states[dag_id][0] == "success", states[dag_id]
    assert len(list(project.inbox(NHS).glob("*.csv.age"))) == 1
    assert len(list(project.inbox(COUNCIL).glob("*.csv.age"))) == 1
    quarantined = list(project.quarantine(COUNCIL).rglob("REASON.txt"))
    assert len(quarantined) == 1

    # Where evidence and messages live.
    captured = capfd.readouterr()
    texts = {
        "task logs (captured records)": caplog.text,
        "stdout/stderr": captured.out + captured.err,
        "quarantine reasons": "".join(p.read_text() for p in quarantined),
        "feedback files": "".join(p.read_text() for p in project.inbox(COUNCIL).glob("crosswalk-feedback_*")),
    }
    with engine_for("crosswalk_db").connect() as conn:
        rows = conn.execute(text("SELECT * FROM audit_event")).all()
        disclosed = [r for t in ("disclosure", "disclosure_person") for r in conn.execute(text(f"SELECT * FROM {t}"))]
        staged_chis = set(conn.execute(text("SELECT chi_number FROM stg_health_board_index")).scalars())
    texts["audit store"] = "\n".join(" ".join(str(v) for v in row) for row in rows)
    # The per-person disclosure log: keyed hashes only, neither a marker (the source ids are markers) nor a CHI.
    texts["disclosure log"] = "\n".join(" ".join(str(v) for v in row) for row in disclosed)
    assert len(disclosed) > 30 and not [c for c in staged_chis if c and c in texts["disclosure log"]]
    logs_dir = Path(os.environ["AIRFLOW_HOME"]) / "logs"
    texts["Airflow log files"] = "".join(
        p.read_text(errors="replace") for p in logs_dir.rglob("*") if p.is_file()
    ) if logs_dir.exists() else ""  # fmt: skip

    assert len(rows) > 20 and "quarantined" in texts["audit store"]  # the evidence is there...
    hits = {where: body.upper().count(MARK) for where, body in texts.items()}
    assert hits == dict.fromkeys(texts, 0)  # ...and no marker value is
