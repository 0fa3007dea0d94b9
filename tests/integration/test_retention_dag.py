"""The retention DAG, run for real: old staged personal data goes, and the purge is audited."""

from __future__ import annotations

import io
import json
from datetime import datetime

import pytest
from sqlalchemy import text

from crosswalk.audit import read_events
from crosswalk.orchestration.connections import engine_for
from crosswalk.orchestration.resources import prepare_database
from crosswalk.staging import ledger
from crosswalk.staging.tables import count_rows, stage_file
from tests.support.airflow import run_dag

pytestmark = [pytest.mark.sshd, pytest.mark.airflow]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_retention_dag_purges_old_batches_and_audits_it(project):
    prepare_database(project.cfg)
    engine = engine_for("crosswalk_db")
    schema = project.cfg.schemas["health_board_index"]
    for batch_id, created in (("old-batch", datetime(2025, 1, 1)), ("new-batch", datetime.now())):
        b = ledger.Batch(batch_id, "health-index", "nhs-northshire", batch_id.ljust(64, "0"), "x.csv", None, None,
                         schema.id, ledger.RECEIVED)  # fmt: skip
        ledger.open_batch(engine, b, "dag", "run")
        csv = (
            b"chi_number,forename,surname,date_of_birth,sex,postcode,gp_practice_code\n0101011237,A,B,1950-01-01,F,,\n"
        )
        stage_file(engine, "stg_health_board_index", batch_id, schema, io.BytesIO(csv), 1)
        with engine.begin() as conn:
            conn.execute(text("UPDATE batch SET created_at = :t WHERE batch_id = :b"), {"t": created, "b": batch_id})

    state, tis = run_dag("crosswalk_retention")
    assert state == "success", tis
    assert count_rows(engine, "stg_health_board_index", "old-batch") == 0
    assert count_rows(engine, "stg_health_board_index", "new-batch") == 1
    (event,) = read_events(engine, event="staging.purged")
    assert json.loads(event["detail"])["batches"] == ["old-batch"] and event["rows_out"] == 1
