"""CHI numbers back to the council for its own clients (an identifiers_back feed), and the population rules as the
flows apply them: only the council's records come back, a restricted NHS record is withheld, an objection is
honoured, a clerical decision flows into the next return, and the disclosure log says why each person went."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
from sqlalchemy import text

from crosswalk import disclosures, workroot
from crosswalk.config.loader import load_config
from crosswalk.crypto import age
from crosswalk.errors import EgressRefused
from crosswalk.matching.crosswalk_table import record_decision
from crosswalk.pipeline.match import match_batch
from crosswalk.pipeline.outbound import deliver_batch, pending_batches
from tests.pipeline.test_flows_offline import match_clients
from tests.support.offline import COUNCIL, NHS, offline_project
from tests.support.project import clients_csv, edit_yaml, index_csv, list_csv

FEED = "chi-numbers-to-council"


@pytest.fixture
def bare(engine, tmp_path, monkeypatch):
    """The offline project on the ``engine`` fixture's store: each rule kind on SQLite and on PostgreSQL."""
    monkeypatch.setenv(workroot.ENV, str(tmp_path / "work-root"))
    return offline_project(tmp_path, engine)


@pytest.fixture
def staged(bare):
    """The board's index and the council's clients taken in, and the two governed lists (empty)."""
    bare.take_in("health-index", index_csv(bare.work, n=60))
    bare.take_in("council-clients", clients_csv(bare.work, n=40))
    bare.take_in_lists()
    return bare


def _return(offline, batch: str | None = None, run_id: str = "run-1"):
    feed = offline.cfg.outbound(FEED)
    batch = batch or pending_batches(offline.engine, feed)[-1]
    result = deliver_batch(offline.outbound_job(FEED, offline.audit("deliver", run_id=run_id)), batch)
    plain = io.BytesIO()
    with (offline.inbox(COUNCIL) / result.file_name).open("rb") as f:
        age.decrypt(f, plain, [offline.keys.partner_ids[COUNCIL]])
    return result, list(csv.DictReader(io.StringIO(plain.getvalue().decode())))


def _crosswalk(offline) -> dict[str, tuple]:
    with offline.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT source_record_id, band, matched_identifier FROM crosswalk"
                " WHERE source_system = 'council-clients'"
            )
        ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def _delivered_event(offline, feed: str = FEED) -> dict:
    with offline.engine.connect() as conn:
        detail = conn.execute(
            text("SELECT detail FROM audit_event WHERE event = 'file.delivered' AND feed_id = :f ORDER BY seq DESC"),
            {"f": feed},
        ).first()[0]
    return json.loads(detail)


def test_the_council_gets_back_its_own_clients_with_the_chi_matching_found_and_never_the_index(staged):
    match_clients(staged)
    result, rows = _return(staged)
    links = _crosswalk(staged)
    assert result.outcome == "delivered" and len(rows) == 40 == len(links)  # the council's 40, not the index's 60
    assert list(rows[0]) == ["source_id", "chi_number", "match_band", "method", "reason", "person_id", "change"]
    for row in rows:
        band, chi = links[row["source_id"]]
        assert row["match_band"] == band and row["chi_number"] == (chi if band == "auto" else "")
        assert row["change"] == "new" and row["person_id"]
    manifest = json.loads((staged.inbox(COUNCIL) / (result.file_name + ".manifest.json")).read_text())
    assert manifest["schema_id"] == "identifier_return" and manifest["rows"] == 40
    detail = _delivered_event(staged)
    assert detail["population"] == ["include:matched_to_recipient", "exclude:restricted:health-restricted:record"]
    assert detail["people_in"] == 40 and detail["people_out"] == 40 and detail["withheld"] == {}
    assert detail["changes"] == {"new": 40}
    # Nothing of the board's register went to the council: every CHI that left is one of its clients' links.
    assert {r["chi_number"] for r in rows if r["chi_number"]} <= {c for b, c in links.values() if b == "auto"}


def test_a_restricted_nhs_record_is_withheld_and_counted_never_named(staged):
    match_clients(staged)
    links = _crosswalk(staged)
    secret_client, (_, secret_chi) = next((k, v) for k, v in sorted(links.items()) if v[0] == "auto")
    staged.take_in("health-restricted", list_csv(staged.work, "restricted_20261122.csv", chis=[secret_chi]))
    _, rows = _return(staged)
    assert len(rows) == 39 and secret_client not in {r["source_id"] for r in rows}
    detail = _delivered_event(staged)
    assert detail["withheld"] == {"restricted": 1} and detail["restricted_list"]["identifiers"] == 1
    # The disclosure log holds the 39 sent and the count withheld, never the withheld person.
    assert disclosures.lookup(staged.engine, staged.disclosure_key, disclosures.CHI, secret_chi) == []
    with staged.engine.connect() as conn:
        records, withheld = conn.execute(text("SELECT records, withheld FROM disclosure")).one()
    assert records == 39 and json.loads(withheld) == {"restricted": 1}
    with staged.engine.connect() as conn:
        events = " ".join(str(v) for r in conn.execute(text("SELECT * FROM audit_event")).all() for v in r)
    assert secret_chi not in events and secret_client not in events


def test_a_clerical_decision_flows_into_the_next_return_as_changed_or_withdrawn(staged):
    match_clients(staged)
    first, rows = _return(staged)
    links = _crosswalk(staged)
    undone = next(k for k, (band, _) in sorted(links.items()) if band == "auto")
    with staged.engine.begin() as conn:  # as if a review had held the pair: then a reviewer says no match
        conn.execute(text("UPDATE crosswalk SET band = 'review' WHERE source_record_id = :r"), {"r": undone})
    record_decision(staged.engine, "council-clients", undone, "no_match", "reviewer@council")
    # The council's next daily extract (the same people, one allocated team changed): matched, and returned.
    nextday = clients_csv(staged.work, n=40, name="clients_20261122.csv")
    lines = nextday.read_text().splitlines()
    i = next(i for i, line in enumerate(lines) if ",Reablement," in line)
    lines[i] = lines[i].replace(",Reablement,", ",Adult Care North,")
    nextday.write_text("\n".join(lines) + "\n")
    batch = staged.take_in("council-clients", nextday)
    match_batch(staged.engine, staged.audit("match"), staged.cfg, staged.cfg.inbound("council-clients"), batch)
    second, rows = _return(staged, batch, run_id="run-2")
    change = {r["source_id"]: r["change"] for r in rows}
    assert change[undone] == "withdrawn" and {r["chi_number"] for r in rows if r["source_id"] == undone} == {""}
    assert sum(c == "unchanged" for c in change.values()) == 39
    assert _delivered_event(staged)["changes"] == {"withdrawn": 1, "unchanged": 39}
    # A rerun of the same return sends nothing twice and keeps the comparison with the first return.
    again = deliver_batch(staged.outbound_job(FEED, staged.audit("deliver", run_id="run-3")), batch)
    assert again.outcome == "skipped" and second.file_name != first.file_name


def test_an_objection_is_honoured_and_the_log_says_why_each_person_went(staged):
    match_clients(staged)
    objector = sorted(_crosswalk(staged))[0]
    staged.take_in("council-objections", list_csv(staged.work, "objections_20261122.csv", source_ids=[objector]))
    feed = staged.cfg.outbound("clients-to-health")
    (batch,) = pending_batches(staged.engine, feed)
    result = deliver_batch(staged.outbound_job(feed.id, staged.audit("deliver")), batch)
    plain = io.BytesIO()
    with (staged.inbox(NHS) / result.file_name).open("rb") as f:
        age.decrypt(f, plain, [staged.keys.partner_ids[NHS]])
    assert result.rows == sum(1 for b, _ in _crosswalk(staged).values() if b == "auto") - 1
    assert b"\n" in plain.getvalue() and len(plain.getvalue().decode().splitlines()) == result.rows + 1
    assert disclosures.lookup(staged.engine, staged.disclosure_key, disclosures.SOURCE, objector) == []
    someone = sorted(_crosswalk(staged))[1]
    (found,) = disclosures.lookup(staged.engine, staged.disclosure_key, disclosures.SOURCE, someone)
    assert found.admitted == "matched" and found.population["include"] == "matched_to_recipient"


def test_no_return_leaves_while_a_list_the_agreement_names_was_never_received(bare):
    offline = bare
    offline.take_in("health-index", index_csv(offline.work))
    offline.take_in("council-clients", clients_csv(offline.work))
    match_clients(offline)
    feed = offline.cfg.outbound(FEED)
    (batch,) = pending_batches(offline.engine, feed)
    with pytest.raises(EgressRefused, match="the restricted list health-restricted has no staged drop"):
        deliver_batch(offline.outbound_job(FEED, offline.audit("deliver")), batch)
    assert [p for p in offline.inbox(COUNCIL).iterdir() if p.name.startswith("chi_numbers")] == []


def test_conditions_on_declared_columns_and_restricted_fields_blanked(staged):
    """A `where` condition (an open care package) and a restricted column that blanks named fields, not the row."""
    path = staged.cfg.config_dir / "agreements" / "northshire-isp.v2.yaml"
    edit_yaml(path, lambda d: d["recipients"][0]["population"].update(
        where=[{"column": "care_package_type", "present": True},
               {"column": "care_package_end", "on_or_after": "today", "or_missing": True}],
        exclude={"restricted": {"column": "adult_protection_flag", "values": ["Y"],
                                "withhold": ["address_line1", "postcode"]}},
    ))  # fmt: skip
    staged.cfg = load_config(staged.cfg.config_dir)
    match_clients(staged)
    with staged.engine.connect() as conn:
        clients = {r[0]: r[1:] for r in conn.execute(text(
            "SELECT source_id, care_package_type, care_package_end, adult_protection_flag, postcode"
            " FROM stg_social_care_client"
        )).all()}  # fmt: skip
    feed = staged.cfg.outbound("clients-to-health")
    (batch,) = pending_batches(staged.engine, feed)
    result = deliver_batch(staged.outbound_job(feed.id, staged.audit("deliver")), batch)
    plain = io.BytesIO()
    with (staged.inbox(NHS) / result.file_name).open("rb") as f:
        age.decrypt(f, plain, [staged.keys.partner_ids[NHS]])
    rows = list(csv.DictReader(io.StringIO(plain.getvalue().decode())))
    today = date.today()
    open_now = {k for k, (pkg, end, _, _) in clients.items() if pkg and (end is None or str(end) >= str(today))}
    assert 0 < len(rows) == result.rows <= len(open_now) < 40
    assert all(r["care_package_type"] for r in rows)
    detail = _delivered_event(staged, feed.id)
    assert detail["withheld"]["filtered"] == 40 - len(open_now) and detail["people_out"] == len(rows)
    # The board's level does not carry the flag (level 4) nor the council's id (pseudonymised): count instead.
    blank_address = sum(1 for r in rows if r["postcode"] == "" and r["address_line1"] == "")
    restricted_sent = sum(1 for k in open_now if clients[k][2] == "Y")
    assert 0 < detail["restricted_fields_blanked"] == restricted_sent <= blank_address
