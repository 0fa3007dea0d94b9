"""The per-person disclosure log, as the flows write it: a delivery and a portal publication record who they
carried, so "where has this person's data gone?" is answered from the stores alone; no raw identifier is ever
stored; a retry records a disclosure once; the audit retention removes it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import text

from crosswalk import disclosures
from crosswalk.pipeline.match import match_batch
from crosswalk.pipeline.outbound import deliver_batch, pending_batches
from crosswalk.pipeline.portal import publish_portal
from crosswalk.staging.tables import iter_staged
from tests.pipeline.test_flows_offline import TODAY, match_clients, staged  # noqa: F401 (a fixture)
from tests.support.offline import NHS


def _clients(offline) -> pd.DataFrame:
    feed = offline.cfg.inbound("council-clients")
    with offline.engine.connect() as conn:
        (batch,) = conn.execute(text("SELECT batch_id FROM batch WHERE feed_id = 'council-clients'")).scalars()
    cols = offline.cfg.schemas[feed.schema_id].field_names
    return pd.DataFrame(
        [r for c in iter_staged(offline.engine, feed.target.table, batch, cols) for r in c], columns=cols
    )


def _deliver(offline, run_id: str = "run-1"):
    feed = offline.cfg.outbound("clients-to-health")
    match_clients(offline)  # the agreement admits only people matched to the board's records
    (batch,) = pending_batches(offline.engine, feed) or [None]
    return deliver_batch(offline.outbound_job(feed.id, offline.audit("deliver", run_id=run_id)), batch)


def test_a_delivery_records_every_person_it_carried_and_a_lookup_finds_them(staged):  # noqa: F811
    table = staged.cfg.inbound("council-clients").target.table
    with staged.engine.begin() as conn:  # one client whose extract gave an NHS number too (the synthetic ones lack it)
        conn.execute(text(f"UPDATE {table} SET nhs_number = '943 476 5919' WHERE source_id = 'MOS0000002'"))
    result = _deliver(staged)
    clients = _clients(staged)
    person = clients[clients["source_id"] == "MOS0000002"].iloc[0]

    for kind, value in ((disclosures.CHI, person["chi_number"]), (disclosures.NHS, person["nhs_number"]),
                        (disclosures.SOURCE, person["source_id"])):  # fmt: skip
        (found,) = disclosures.lookup(staged.engine, staged.disclosure_key, kind, value)
        assert (found.kind, found.recipient, found.file_name) == ("delivery", NHS, result.file_name)
        assert (found.agreement_id, found.agreement_version, found.level) == ("northshire-isp", 2, 2)
        held = [f for f in result.fields if pd.notna(person[f]) and str(person[f]) != ""]
        assert list(found.fields_carried) == held  # the fields this record carried, not merely the file's
    assert disclosures.lookup(staged.engine, staged.disclosure_key, disclosures.CHI, "0101010000") == []
    # Another key (an agreement's pseudonymisation key, say) finds nothing: the hashes are ours alone.
    assert disclosures.lookup(staged.engine, staged.pseudonym_key, disclosures.CHI, person["chi_number"]) == []
    with staged.engine.connect() as conn:
        assert conn.execute(text("SELECT records FROM disclosure")).scalar_one() == len(clients) == 40


def test_no_raw_identifier_is_stored_in_the_log(staged):  # noqa: F811
    _deliver(staged)
    clients = _clients(staged)
    raw = {str(v) for col in ("chi_number", "nhs_number", "source_id") for v in clients[col].dropna() if str(v)}
    with staged.engine.connect() as conn:
        stored = [
            str(v)
            for table in ("disclosure", "disclosure_person")
            for row in conn.execute(text(f"SELECT * FROM {table}")).all()
            for v in row
        ]
    assert stored and not [v for v in stored if any(r in v for r in raw)]


def test_a_disclosure_is_recorded_once_however_often_its_step_runs(staged):  # noqa: F811
    result = _deliver(staged)
    feed = staged.cfg.outbound("clients-to-health")
    with staged.engine.connect() as conn:
        (batch,) = conn.execute(text("SELECT batch_id FROM batch WHERE feed_id = 'council-clients'")).scalars()
    # The retry of a delivery whose file is already with the partner records it again: replaced, not added.
    with staged.engine.begin() as conn:
        conn.execute(text("UPDATE delivery SET status = 'building'"))
    again = deliver_batch(staged.outbound_job(feed.id, staged.audit("deliver", run_id="run-2")), batch)
    assert again.file_name == result.file_name
    with staged.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM disclosure")).scalar_one() == 1
        assert conn.execute(text("SELECT COUNT(*) FROM disclosure_person")).scalar_one() == 40


def test_a_portal_publication_records_the_people_it_published_once(staged):  # noqa: F811
    published = _publish(staged)
    _publish(staged, run_id="run-2")  # unchanged
    with staged.engine.connect() as conn:
        rows = conn.execute(text("SELECT kind, file_name, records FROM disclosure")).all()
    assert [(k, n) for k, _, n in rows] == [("portal", published.rows)]
    # A client linked to the index by matching is found by the CHI matching gave it.
    with staged.engine.connect() as conn:
        linked = (
            conn.execute(
                text("SELECT matched_identifier FROM crosswalk WHERE band = 'auto' AND matched_identifier IS NOT NULL")
            )
            .scalars()
            .first()
        )
    (found,) = disclosures.lookup(staged.engine, staged.disclosure_key, disclosures.CHI, linked)
    assert found.kind == "portal" and found.file_name.startswith("pub_social_care_summary")


def test_the_audit_retention_removes_old_disclosures(staged):  # noqa: F811
    _deliver(staged)
    with staged.engine.begin() as conn:
        assert disclosures.purge(conn, datetime.now() - timedelta(days=1)) == {"disclosures": 0, "person_rows": 0}
        assert disclosures.purge(conn, datetime.now() + timedelta(days=1)) == {"disclosures": 1, "person_rows": 40}
        assert conn.execute(text("SELECT COUNT(*) FROM disclosure_person")).scalar_one() == 0


def _publish(offline, run_id: str = "run-1"):
    """The council's batch matched (once), then the portal published as its DAG does."""
    feed = offline.cfg.inbound("council-clients")
    (batch,) = [b for b in _batches(offline) if b.startswith("council-clients")]
    if run_id == "run-1":
        match_batch(offline.engine, offline.audit("match"), offline.cfg, feed, batch)
    return publish_portal(
        offline.cfg, offline.engine, offline.audit("publish", run_id=run_id), offline.cfg.portal("social-care-summary"),
        on=TODAY, key_for=lambda ref: offline.pseudonym_key, disclosure_key=offline.disclosure_key,
    )  # fmt: skip


def _batches(offline) -> list[str]:
    with offline.engine.connect() as conn:
        return list(conn.execute(text("SELECT batch_id FROM batch ORDER BY batch_id")).scalars())


def test_a_publication_whose_run_died_before_logging_it_is_logged_by_the_next(staged):  # noqa: F811
    published = _publish(staged)
    with staged.engine.begin() as conn:  # as if the run was killed after the swap, before the log was written
        disclosures.forget(conn, [published.publication_id])
    again = _publish(staged, run_id="run-2")
    assert again.outcome == "unchanged"
    with staged.engine.connect() as conn:
        assert conn.execute(text("SELECT records FROM disclosure")).scalars().all() == [published.rows]
