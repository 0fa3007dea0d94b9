"""An outage during a delivery: the session that died after the data went is reopened for the manifest and
signature; a delivery that fails for good takes back what it put in the partner's inbox."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from crosswalk.errors import TransferError
from crosswalk.orchestration import dag_outbound
from crosswalk.orchestration.connections import engine_for
from crosswalk.pipeline import outbound
from crosswalk.staging import ledger
from tests.support.airflow import run_dag
from tests.support.inbox import inbox_entries
from tests.support.project import clients_csv

pytestmark = [pytest.mark.sshd, pytest.mark.airflow]
COUNCIL, NHS = "northshire-council", "nhs-northshire"


def _context(run_id: str) -> dict:
    run = SimpleNamespace(dag_id="outbound_clients_to_health", run_id=run_id, run_type="manual",
                          triggering_user_name="ops")  # fmt: skip
    return {"dag_run": run, "ti": SimpleNamespace(task_id="deliver", map_index=0), "params": {}}


def _staged_batch(project) -> str:
    project.drop(COUNCIL, clients_csv(project.work, n=12), feed="council-clients", schema_id="social_care_client")
    assert run_dag("inbound_council_clients")[0] == "success"
    [batch] = ledger.staged_batches(engine_for("crosswalk_db"), "council-clients")
    return batch.batch_id


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_session_that_dies_after_the_data_went_is_reopened_for_manifest_and_signature(project, monkeypatch, caplog):
    batch_id = _staged_batch(project)
    real = outbound.placement.put
    cut = []

    def outage(sftp, src, path):
        if path.endswith(".manifest.json") and not cut:  # the link drops just after the data file went
            cut.append(path)
            sftp.get_channel().get_transport().close()
        return real(sftp, src, path)

    monkeypatch.setattr(outbound.placement, "put", outage)
    with caplog.at_level(logging.WARNING):
        result = dag_outbound.deliver("clients-to-health", batch_id, _context("r1"))
    assert result["outcome"] == "delivered" and cut
    names = sorted(p.name for p in inbox_entries(project.inbox(NHS)))
    assert len(names) == 3 and not [n for n in names if n.endswith(".part")]
    assert any("the SFTP session failed" in r.getMessage() and "reopening" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_delivery_that_fails_for_good_takes_back_what_it_put_in_the_inbox(project, monkeypatch):
    batch_id = _staged_batch(project)
    real = outbound.placement.put

    def no_signature(sftp, src, path):
        if path.endswith(".sig"):
            raise TransferError("the partner's server refuses the signature (injected)")
        return real(sftp, src, path)

    monkeypatch.setattr(outbound.placement, "put", no_signature)
    monkeypatch.setattr("crosswalk.transfer.bulk.time.sleep", lambda s: None)
    with pytest.raises(TransferError):
        dag_outbound.deliver("clients-to-health", batch_id, _context("r2"))
    assert list(inbox_entries(project.inbox(NHS))) == []  # no data file without its manifest and signature
    assert (
        ledger.get_delivery(engine_for("crosswalk_db"), ledger.delivery_id_for("clients-to-health", batch_id)).status
        == "building"
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_delivery_claimed_by_a_live_run_is_left_to_it(project):
    batch_id = _staged_batch(project)
    engine = engine_for("crosswalk_db")
    delivery_id = ledger.delivery_id_for("clients-to-health", batch_id)
    ledger.open_delivery(
        engine,
        ledger.Delivery(delivery_id, "clients-to-health", NHS, batch_id, "northshire-isp", 2, 2, "x.csv.age",
                        ledger.BUILDING),
        "outbound_clients_to_health",
        "other-run",
    )  # fmt: skip
    assert ledger.claim_delivery(engine, delivery_id, "other-run") is None
    result = dag_outbound.deliver("clients-to-health", batch_id, _context("r3"))
    assert result["outcome"] == "skipped" and list(inbox_entries(project.inbox(NHS))) == []
    ledger.release_delivery_claim(engine, delivery_id)  # the other run ends
    assert dag_outbound.deliver("clients-to-health", batch_id, _context("r4"))["outcome"] == "delivered"
