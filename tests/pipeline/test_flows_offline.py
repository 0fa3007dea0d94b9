"""Outbound, matching and the portal on local-directory areas and SQLite: the flows' steps as the DAGs run
them, with no server (the same steps on real sshd, PostgreSQL and Airflow are in tests/integration)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
from sqlalchemy import text

from crosswalk.crypto import age, sshsig
from crosswalk.pipeline.inbound import discover, ingest_drop
from crosswalk.pipeline.match import match_batch
from crosswalk.pipeline.outbound import deliver_batch, pending_batches
from crosswalk.pipeline.portal import publish_portal
from tests.support.inbox import inbox_entries
from tests.support.offline import COUNCIL, NHS
from tests.support.project import clients_csv, index_csv

TODAY = date.today()


@pytest.fixture
def staged(offline):
    """The board's CHI index and the council's clients, each taken in as the inbound flow does."""
    for partner, feed, schema, plain in (
        (NHS, "health-index", "health_board_index", index_csv(offline.work, n=60)),
        (COUNCIL, "council-clients", "social_care_client", clients_csv(offline.work, n=40)),
    ):
        offline.drop(partner, plain, feed=feed, schema_id=schema)
        drop = discover(offline.areas[partner], offline.cfg, offline.cfg.inbound(feed), offline.engine).new[0]
        assert ingest_drop(offline.inbound_job(feed, offline.audit("ingest")), drop).outcome == "staged"
    return offline


def _level_fields(cfg, agreement_id: str, dataset: str, partner: str) -> set[str]:
    agreement = cfg.agreements[agreement_id].in_force(TODAY)
    level = agreement.level_for(partner)
    fields = agreement.datasets[dataset].fields
    return {name for name, f in fields.items() if f.transform_at(level) != "drop"}


def test_a_delivery_carries_exactly_the_agreement_level_and_a_rerun_sends_nothing_twice(staged):
    feed = staged.cfg.outbound("clients-to-health")
    (batch,) = pending_batches(staged.engine, feed)
    result = deliver_batch(staged.outbound_job(feed.id, staged.audit("deliver")), batch)
    assert result.outcome == "delivered" and result.rows == 40

    inbox = staged.inbox(NHS)
    names = sorted(p.name for p in inbox_entries(inbox))
    assert names == sorted(
        [result.file_name, result.file_name + ".manifest.json", result.file_name + ".manifest.json.sig"]
    )
    manifest_raw = (inbox / (result.file_name + ".manifest.json")).read_bytes()
    signer = sshsig.verify(
        io.BytesIO(manifest_raw), (inbox / (result.file_name + ".manifest.json.sig")).read_text(),
        [sshsig.public_key_line(sshsig.load_private_key(staged.keys.our_signing).public_key())],
    )  # fmt: skip
    assert signer
    plain = io.BytesIO()
    with (inbox / result.file_name).open("rb") as f:
        age.decrypt(f, plain, [staged.keys.partner_ids[NHS]])
    rows = list(csv.reader(io.StringIO(plain.getvalue().decode())))
    assert set(rows[0]) == set(result.fields) == _level_fields(staged.cfg, "northshire-isp", "social_care_client", NHS)
    assert len(rows) - 1 == 40 == json.loads(manifest_raw)["rows"]

    assert pending_batches(staged.engine, feed) == []
    again = deliver_batch(staged.outbound_job(feed.id, staged.audit("deliver", run_id="run-2")), batch)
    assert again.outcome == "skipped" and sorted(p.name for p in inbox_entries(inbox)) == names
    with staged.engine.connect() as conn:
        delivered = conn.execute(text("SELECT count(*) FROM audit_event WHERE event = 'file.delivered'")).scalar_one()
    assert delivered == 1


def test_matching_decides_every_client_once_and_the_portal_publishes_only_linked_people(staged):
    feed = staged.cfg.inbound("council-clients")
    with staged.engine.connect() as conn:
        (batch,) = conn.execute(text("SELECT batch_id FROM batch WHERE feed_id = 'council-clients'")).scalars()
    result = match_batch(staged.engine, staged.audit("match"), staged.cfg, feed, batch)
    assert result.outcome == "matched" and result.auto + result.review + result.none == 40
    assert result.auto >= 30  # the synthetic clients are drawn from the index's people

    portal = staged.cfg.portal("social-care-summary")
    published = publish_portal(
        staged.cfg,
        staged.engine,
        staged.audit("publish"),
        portal,
        on=TODAY,
        key_for=lambda ref: staged.pseudonym_key,
        disclosure_key=staged.disclosure_key,
    )
    assert published.outcome == "published" and 0 < published.rows <= result.auto
    allowed = _level_fields(staged.cfg, "northshire-isp", "social_care_client", portal.partner)
    assert set(published.fields) - {"chi_number"} <= allowed
    unchanged = publish_portal(
        staged.cfg, staged.engine, staged.audit("publish", run_id="run-2"), portal, on=TODAY,
        key_for=lambda ref: staged.pseudonym_key, disclosure_key=staged.disclosure_key,
    )  # fmt: skip
    assert unchanged.outcome == "unchanged" and unchanged.rows == published.rows
