"""OpenLineage from real runs: with Airflow's OpenLineage provider pointed at a lineage backend's HTTP endpoint (a
local receiver here), each delivery and the portal publication arrive as runs whose events validate against the
OpenLineage model, with column lineage (masking where the agreement transformed a field) and the agreement facet,
parented to the Airflow task that made them."""

from __future__ import annotations

import json

import pytest

from tests.support.airflow import run_dag
from tests.support.openlineage import lineage_listening, validate
from tests.support.project import EnvPatch, clients_csv, index_csv
from tests.support.webhook import Webhook

pytestmark = [pytest.mark.sshd, pytest.mark.airflow]
COUNCIL, NHS = "northshire-council", "nhs-northshire"


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'crosswalk.db'}"


@pytest.fixture
def receiver():
    box = Webhook(status=201)  # a lineage backend's endpoint (as Marquez's /api/v1/lineage), keeping each event
    base = box.url.rsplit("/hooks/", 1)[0]  # (the provider reads its settings afresh under pytest: no cache)
    transport = {"type": "http", "url": base, "endpoint": "api/v1/lineage"}
    env = {"AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport), "AIRFLOW__OPENLINEAGE__NAMESPACE": "northshire"}
    with EnvPatch(env), lineage_listening():  # however this worker's process first loaded Airflow's plugins
        yield box
    box.close()


def test_deliveries_and_publications_arrive_as_openlineage_runs_with_column_lineage(project, receiver):
    project.drop(NHS, index_csv(project.work, n=60), feed="health-index", schema_id="health_board_index")
    project.drop(COUNCIL, clients_csv(project.work, n=40), feed="council-clients", schema_id="social_care_client")
    for dag_id in ("inbound_health_index", "inbound_council_clients", "outbound_clients_to_health",
                   "publish_social_care_summary"):  # fmt: skip
        assert run_dag(dag_id)[0] == "success", dag_id

    for event in receiver.received:
        validate(event)  # every event that arrived, the provider's own included
    ours = [e for e in receiver.received if e["job"]["name"].startswith("crosswalk.")]
    runs = {(e["job"]["name"], e["eventType"]) for e in ours}
    assert runs == {
        ("crosswalk.delivery.clients-to-health", "START"), ("crosswalk.delivery.clients-to-health", "COMPLETE"),
        ("crosswalk.portal.social-care-summary", "START"), ("crosswalk.portal.social-care-summary", "COMPLETE"),
    }  # fmt: skip
    delivery = next(e for e in ours if e["eventType"] == "COMPLETE" and "delivery" in e["job"]["name"])
    assert delivery["job"]["namespace"] == "northshire"
    agreement = delivery["run"]["facets"]["crosswalk_agreement"]
    assert (agreement["agreement"], agreement["version"], agreement["level"], agreement["recipient"]) == (
        "northshire-isp", 2, 2, NHS
    )  # fmt: skip
    assert agreement["lawfulBasis"].startswith("UK GDPR Article 6")
    parent = delivery["run"]["facets"]["parent"]
    assert parent["job"] == {
        "namespace": "northshire",
        "name": "outbound_clients_to_health.deliver_batch",
        "facets": {},
    }
    (source,) = delivery["inputs"]
    assert source["name"].endswith(".stg_social_care_client") and source["namespace"].startswith("sqlite://")
    (target,) = delivery["outputs"]
    assert target["namespace"] == f"sftp://127.0.0.1:{project.sshd.port}" and target["name"].startswith("/inbox/")
    lineage = target["facets"]["columnLineage"]["fields"]
    sent = [f["name"] for f in target["facets"]["schema"]["fields"]]
    assert set(lineage) == set(sent) and "last_assessment_date" not in sent  # above level 2: not sent, no lineage
    pseudonymised = lineage["source_id"]["inputFields"][0]
    assert pseudonymised["field"] == "source_id" and pseudonymised["name"] == source["name"]
    assert pseudonymised["transformations"] == [
        {"type": "DIRECT", "subtype": "TRANSFORMATION", "description": "pseudonymise", "masking": True}
    ]
    assert lineage["forename"]["inputFields"][0]["transformations"][0]["masking"] is False
    # Names only: not one value of a record travels in lineage.
    text = json.dumps(receiver.received)
    row = (project.work / "clients_20261121.csv").read_text().splitlines()[1].split(",")
    assert not [v for v in row[1:6] if len(v) > 3 and v in text]
