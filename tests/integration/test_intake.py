"""What one inbound run takes in: a busy outbox drains oldest first in bounded chunks, and an extract sent
again under a new name is skipped as a duplicate unless the run is told to resend."""

from __future__ import annotations

import json
import os

import pytest
from sqlalchemy import text

from crosswalk.audit import read_events
from crosswalk.orchestration.connections import engine_for
from tests.support.airflow import run_dag
from tests.support.project import clients_csv, edit_yaml

pytestmark = [pytest.mark.sshd, pytest.mark.airflow]
COUNCIL = "northshire-council"


def _drop(project, name: str, seed: int, age_s: int = 0) -> str:
    enc = project.drop(
        COUNCIL, clients_csv(project.work, n=4, name=name, seed=seed), feed="council-clients",
        schema_id="social_care_client",
    )  # fmt: skip
    if age_s:  # as if dropped age_s seconds ago
        t = os.path.getmtime(project.outbox(COUNCIL) / enc.name) - age_s
        for suffix in ("", ".manifest.json", ".manifest.json.sig"):
            os.utime(project.outbox(COUNCIL) / (enc.name + suffix), (t, t))
    return enc.name


def _staged(engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(text("SELECT file_name FROM batch WHERE status = 'staged' ORDER BY file_name")).scalars()
        )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_busy_outbox_is_taken_in_oldest_first_in_bounded_chunks(project):
    edit_yaml(project.config_dir / "feeds" / "council-clients.yaml", max_drops_per_run=2)
    newest = _drop(project, "clients_20261103.csv", seed=3, age_s=100)
    oldest = _drop(project, "clients_20261101.csv", seed=1, age_s=300)
    middle = _drop(project, "clients_20261102.csv", seed=2, age_s=200)

    assert run_dag("inbound_council_clients")[0] == "success"
    engine = engine_for("crosswalk_db")
    assert _staged(engine) == sorted([oldest, middle])
    first = json.loads(read_events(engine, event="drops.discovered")[-1]["detail"])
    assert (first["complete"], first["taken_this_run"], first["backlog"]) == (3, 2, 1)

    assert run_dag("inbound_council_clients")[0] == "success"
    assert _staged(engine) == sorted([oldest, middle, newest])
    second = json.loads(read_events(engine, event="drops.discovered")[-1]["detail"])
    assert (second["already_taken_in"], second["taken_this_run"], second["backlog"]) == (2, 1, 0)

    # Nothing new: every drop is left out from the ledger, unread; only the latest batch is matched again.
    assert run_dag("inbound_council_clients")[0] == "success"
    third = json.loads(read_events(engine, event="drops.discovered")[-1]["detail"])
    assert (third["already_taken_in"], third["taken_this_run"], third["matched_again"]) == (3, 0, 1)
    assert len(read_events(engine, event="batch.staged")) == 3


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_same_extract_under_a_new_name_is_skipped_unless_resent(project):
    _drop(project, "clients_20261101.csv", seed=5)
    assert run_dag("inbound_council_clients")[0] == "success"
    engine = engine_for("crosswalk_db")
    with engine.connect() as conn:
        first = conn.execute(text("SELECT batch_id FROM batch")).scalar_one()

    # The partner's system sends the same extract again under another name.
    (project.work / "clients_20261101.csv").rename(project.work / "clients_20261102.csv")
    again = _drop(project, "clients_20261102.csv", seed=5)
    assert run_dag("inbound_council_clients")[0] == "success"
    with engine.connect() as conn:
        dup = conn.execute(text("SELECT batch_id, status, reason FROM batch WHERE file_name = :f"), {"f": again}).one()
        rows = conn.execute(text("SELECT COUNT(*) FROM stg_social_care_client")).scalar_one()
    assert dup.status == "skipped" and dup.reason.startswith("duplicate_content: the same extract") and rows == 4
    assert first in dup.reason
    feedback = (project.inbox(COUNCIL) / f"crosswalk-feedback_{dup.batch_id}.txt").read_text()
    assert f"staged batch {first}" in feedback and f"Load duplicate' set to {dup.batch_id}" in feedback
    [skipped] = [e for e in read_events(engine, event="drop.skipped") if e["batch_id"] == dup.batch_id]
    assert json.loads(skipped["detail"]) == {"code": "duplicate_content", "same_as": first}

    # An operator who means it loads it again, from the trigger form's "Load duplicate", naming it.
    assert run_dag("inbound_council_clients", {"load_duplicate": dup.batch_id})[0] == "success"
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT status FROM batch WHERE batch_id = :b"), {"b": dup.batch_id}).scalar() == "staged"
        )
        assert conn.execute(text("SELECT COUNT(*) FROM stg_social_care_client")).scalar_one() == 8
    assert [e["batch_id"] for e in read_events(engine, event="drop.resent")] == [dup.batch_id]
