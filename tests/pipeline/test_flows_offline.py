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
    offline.take_in_lists()  # nobody has objected, no record is restricted
    return offline


def match_clients(offline) -> None:
    """Link the council's staged clients to the index, as the inbound DAG does after staging them."""
    feed = offline.cfg.inbound("council-clients")
    with offline.engine.connect() as conn:
        batches = conn.execute(text("SELECT batch_id FROM batch WHERE feed_id = :f AND status = 'staged'"),
                               {"f": feed.id}).scalars().all()  # fmt: skip
    for batch in batches:
        match_batch(offline.engine, offline.audit("match"), offline.cfg, feed, batch)


@pytest.fixture
def matched(staged):
    """Staged, and the council's clients linked to the index: whom the agreements let leave."""
    match_clients(staged)
    return staged


def linked_clients(offline) -> int:
    with offline.engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM crosswalk WHERE source_system = 'council-clients' AND band = 'auto'")
        ).scalar_one()


def _level_fields(cfg, agreement_id: str, dataset: str, partner: str) -> set[str]:
    agreement = cfg.agreements[agreement_id].in_force(TODAY)
    level = agreement.level_for(partner)
    fields = agreement.datasets[dataset].fields
    return {name for name, f in fields.items() if f.transform_at(level) != "drop"}


def test_a_delivery_carries_exactly_the_agreement_level_and_a_rerun_sends_nothing_twice(matched):
    feed = matched.cfg.outbound("clients-to-health")
    (batch,) = pending_batches(matched.engine, feed)
    result = deliver_batch(matched.outbound_job(feed.id, matched.audit("deliver")), batch)
    linked = linked_clients(matched)
    assert result.outcome == "delivered" and 30 <= result.rows == linked <= 40  # only people matched to the board

    inbox = matched.inbox(NHS)
    names = sorted(p.name for p in inbox_entries(inbox))
    assert names == sorted(
        [result.file_name, result.file_name + ".manifest.json", result.file_name + ".manifest.json.sig"]
    )
    manifest_raw = (inbox / (result.file_name + ".manifest.json")).read_bytes()
    signer = sshsig.verify(
        io.BytesIO(manifest_raw), (inbox / (result.file_name + ".manifest.json.sig")).read_text(),
        [sshsig.public_key_line(sshsig.load_private_key(matched.keys.our_signing).public_key())],
    )  # fmt: skip
    assert signer
    plain = io.BytesIO()
    with (inbox / result.file_name).open("rb") as f:
        age.decrypt(f, plain, [matched.keys.partner_ids[NHS]])
    rows = list(csv.reader(io.StringIO(plain.getvalue().decode())))
    assert set(rows[0]) == set(result.fields) == _level_fields(matched.cfg, "northshire-isp", "social_care_client", NHS)
    assert len(rows) - 1 == linked == json.loads(manifest_raw)["rows"]

    assert pending_batches(matched.engine, feed) == []
    again = deliver_batch(matched.outbound_job(feed.id, matched.audit("deliver", run_id="run-2")), batch)
    assert again.outcome == "skipped" and sorted(p.name for p in inbox_entries(inbox)) == names
    with matched.engine.connect() as conn:
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
