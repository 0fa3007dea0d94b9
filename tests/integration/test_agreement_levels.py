"""The agreement decides what leaves, end to end over real SFTP.

The same ISP at level 1 and at level 2 delivers exactly the permitted columns (read back from the
delivered file, decrypted with the partner's own `age`), with the council's client id pseudonymised
under the agreement's key; an expired agreement stops the run before anything reaches the partner.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from datetime import date, timedelta

import pytest

from crosswalk.audit import read_events
from crosswalk.orchestration.connections import engine_for
from tests.support.airflow import run_dag
from tests.support.inbox import inbox_entries
from tests.support.project import clients_csv, edit_yaml

pytestmark = [pytest.mark.sshd, pytest.mark.airflow]

COUNCIL, NHS = "northshire-council", "nhs-northshire"
ISP = "agreements/northshire-isp.v2.yaml"
LEVEL_1 = [
    "source_id", "chi_number", "nhs_number", "forename", "surname", "date_of_birth", "sex", "postcode",
    "address_line1", "allocated_worker", "allocated_team",
]  # fmt: skip
LEVEL_2 = [*LEVEL_1, "care_package_type", "care_package_start", "care_package_end", "weekly_hours", "care_review_due"]


def _edit_isp(project, fn) -> None:
    edit_yaml(project.config_dir / ISP, fn)
    project.reload()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("level", "expected"), [(1, LEVEL_1), (2, LEVEL_2)])
def test_outbound_delivers_exactly_the_columns_of_the_level(project, level, expected):
    _edit_isp(project, lambda d: d["recipients"][0].update(level=level))
    data = clients_csv(project.work, n=12)
    project.drop(COUNCIL, data, feed="council-clients", schema_id="social_care_client")
    assert run_dag("inbound_council_clients")[0] == "success"
    state, tis = run_dag("outbound_clients_to_health")
    assert state == "success", tis

    (delivered,) = project.inbox(NHS).glob("*.csv.age")
    rows = list(csv.DictReader(io.StringIO(project.decrypt_delivery(NHS, delivered).decode())))
    assert list(rows[0]) == expected
    manifest = json.loads((project.inbox(NHS) / (delivered.name + ".manifest.json")).read_text())
    assert (manifest["fields"], manifest["level"], manifest["agreement_version"]) == (expected, level, 2)
    assert manifest["transforms"] == {"source_id": "pseudonymise"}

    # Row for row: identifiers the level passes are as sent; the council's id is its keyed pseudonym.
    key = bytes.fromhex(project.pseudonym_keys["crosswalk_pseudonym_northshire_isp"])
    originals = list(csv.DictReader(data.open()))
    for sent, original in zip(rows, originals, strict=True):
        assert sent["chi_number"] == original["chi_number"]
        pseudonym = hmac.new(key, b"northshire-isp\x1f" + original["source_id"].encode(), hashlib.sha256)
        assert sent["source_id"] == pseudonym.hexdigest()

    (event,) = read_events(engine_for("crosswalk_db"), event="file.delivered")
    detail = json.loads(event["detail"]) if isinstance(event["detail"], str) else event["detail"]
    assert detail["fields_sent"] == expected
    assert detail["fields_transformed"] == {"source_id": "pseudonymise"}
    assert set(detail["fields_removed"]) == set(LEVEL_2 + _LEVEL_3_AND_4) - set(expected)


_LEVEL_3_AND_4 = ["last_assessment_date", "assessment_type", "primary_support_reason", "adult_protection_flag"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_expired_agreement_stops_the_run_before_anything_is_written(project, caplog):
    yesterday = date.today() - timedelta(days=1)
    data = clients_csv(project.work, n=5)
    project.drop(COUNCIL, data, feed="council-clients", schema_id="social_care_client")
    assert run_dag("inbound_council_clients")[0] == "success"
    _edit_isp(project, lambda d: d.update(valid_until=yesterday.isoformat()))

    state, tis = run_dag("outbound_clients_to_health")

    assert state == "failed" and tis["deliver_batch[0]"] == "failed", tis
    assert list(inbox_entries(project.inbox(NHS))) == []  # nothing reached the partner, not even a .part
    reason = f"agreement northshire-isp v2 expired on {yesterday}; no version is in force on {date.today()}"
    (failed,) = read_events(engine_for("crosswalk_db"), event="task.failed")
    assert failed["reason"] == reason
    assert reason in caplog.text
    assert read_events(engine_for("crosswalk_db"), event="file.delivered") == []
