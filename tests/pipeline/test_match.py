"""Matching as the inbound flow runs it, day after day: the model trained once and saved, each day's delta
linked alone against the index, person ids that stay put, and every merge and split audited and offered
to the partner. On local-directory areas and SQLite (the same step on PostgreSQL and Airflow is in
tests/integration/test_matching.py)."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import text

from crosswalk.audit import read_events
from crosswalk.demo.synthetic import CLIENT_COLUMNS, INDEX_COLUMNS, client_rows, index_rows, people, write_csv
from crosswalk.pipeline.inbound import discover, ingest_drop
from crosswalk.pipeline.match import match_batch, send_person_id_feedback
from tests.support.offline import COUNCIL, NHS

CROWD = people(70, seed=7)  # the index holds the first 60; the council's clients are drawn from them
CLIENTS = "council-clients"


def _take_in(offline, partner: str, feed: str, schema: str, plain) -> str:
    offline.drop(partner, plain, feed=feed, schema_id=schema)
    drop = discover(offline.areas[partner], offline.cfg, offline.cfg.inbound(feed), offline.engine).new[0]
    result = ingest_drop(offline.inbound_job(feed, offline.audit("ingest")), drop)
    assert result.outcome == "staged", result
    return result.batch_id


def _index(offline, persons, name: str) -> str:
    plain = write_csv(index_rows(persons), INDEX_COLUMNS, offline.work / name)
    return _take_in(offline, NHS, "health-index", "health_board_index", plain)


def _clients(offline, rows, name: str) -> str:
    return _take_in(
        offline, COUNCIL, CLIENTS, "social_care_client", write_csv(rows, CLIENT_COLUMNS, offline.work / name)
    )


def _as(row: dict, person, source_id: str) -> dict:
    """``row`` recorded for ``person`` exactly as the index has them, with no CHI (so the model decides)."""
    return {**row, "source_id": source_id, "chi_number": "", "forename": person.forename, "surname": person.surname,
            "date_of_birth": person.dob.isoformat(), "sex": person.sex, "postcode": person.postcode}  # fmt: skip


def _match(offline, batch: str, run: str):
    return match_batch(
        offline.engine, offline.audit("match", run_id=run), offline.cfg, offline.cfg.inbound(CLIENTS), batch
    )


def _rows(offline) -> dict[str, tuple]:
    with offline.engine.connect() as conn:
        found = conn.execute(
            text(
                "SELECT source_record_id, cluster_id, matched_record_id, band FROM crosswalk WHERE source_system = :s"
            ),
            {"s": CLIENTS},
        ).all()
    return {r[0]: tuple(r[1:]) for r in found}


def _detail(offline, run: str) -> dict:
    (event,) = [e for e in read_events(offline.engine, event="batch.matched") if e["run_id"] == run]
    return json.loads(event["detail"])


@pytest.fixture
def days(offline):
    """Day 1: 40 clients, plus X (client 2's person, mistyped beyond recognition: a person of its own) and W (a
    second record of client 1's person: the same person as client 1). Day 2: X corrected (now client 2's
    person: a merge), W re-recorded as another index person (it leaves client 1: a split), one new client,
    one client not in the index, and one client's care package changed (not a person field: carried)."""
    _index(offline, CROWD[:60], "chi_index_1.csv")
    base = client_rows(CROWD[:40])
    x_wrong = {**_as(base[1], CROWD[1], "MOS0000098"), "forename": "Zebedee", "surname": "Quayle",
               "date_of_birth": "1901-01-01", "postcode": "ZZ9 9ZZ"}  # fmt: skip
    day1 = [*base, x_wrong, _as(base[0], CROWD[0], "MOS0000099")]
    changed_package = {
        **base[4],
        "care_package_type": "reablement" if base[4]["care_package_type"] != "reablement" else "day care",
    }
    day2 = [
        *base[:4], changed_package, *base[5:],
        _as(base[1], CROWD[1], "MOS0000098"),  # X, corrected
        _as(base[0], CROWD[50], "MOS0000099"),  # W, now another person
        _as(base[2], CROWD[45], "MOS0000100"),  # new
        _as(base[3], CROWD[65], "MOS0000101"),  # not in the index (yet)
    ]  # fmt: skip
    return offline, _clients(offline, day1, "clients_1.csv"), _clients(offline, day2, "clients_2.csv")


def test_a_days_delta_is_linked_alone_with_the_saved_model_and_merges_and_splits_are_audited(days):
    offline, day1, day2 = days
    first = _match(offline, day1, "run-1")
    assert first.outcome == "matched" and first.person_id_changes == ()
    (trained,) = read_events(offline.engine, event="model.trained")
    version = json.loads(trained["detail"])["model_version"]
    assert _detail(offline, "run-1")["delta"] == {"linked": 42, "carried": 0, "index_records_changed": 0}
    before = _rows(offline)
    assert all(pid for pid, *_ in before.values())  # every record has its person id
    one, w, x, two = (before[k] for k in ("MOS0000001", "MOS0000099", "MOS0000098", "MOS0000002"))
    assert w[0] == one[0] and w[1:] == one[1:] and w[2] == "auto"  # W is client 1's person
    assert x[2] != "auto"  # X links nowhere: a person of its own
    assert x[0] != two[0]

    second = _match(offline, day2, "run-2")
    assert len(read_events(offline.engine, event="model.trained")) == 1  # the saved model, not a new one
    detail = _detail(offline, "run-2")
    assert detail["model_version"] == version
    # Only X, W and the two new clients were linked; the 39 others (client 5's package changed, not a person
    # field) kept their decisions untouched.
    assert detail["delta"] == {"linked": 4, "carried": 40, "index_records_changed": 0}
    after = _rows(offline)
    assert after["MOS0000098"][0] == after["MOS0000002"][0]  # X joined client 2's person
    assert after["MOS0000099"][0] != after["MOS0000001"][0] == one[0]  # W left client 1's person, who kept the id
    untouched = set(before) - {"MOS0000098", "MOS0000099", "MOS0000002"}
    assert {k: after[k][0] for k in untouched} == {k: before[k][0] for k in untouched}
    merged = [json.loads(e["detail"]) for e in read_events(offline.engine, event="person.merged")]
    split = [json.loads(e["detail"]) for e in read_events(offline.engine, event="person.split")]
    assert [(m["old_person_id"], m["records"]) for m in merged] in ([(x[0], 1)], [(two[0], 1)])
    assert merged[0]["new_person_id"] == after["MOS0000002"][0]
    assert split == [{"old_person_id": one[0], "new_person_id": after["MOS0000099"][0], "records": 1}]
    assert sorted(c[0] for c in second.person_id_changes) == ["merge", "split"]
    assert detail["person_ids"]["merges"] == 1 and detail["person_ids"]["splits"] == 1

    # The partner is offered the changes: ids and counts only, never a field of a record.
    path = send_person_id_feedback(offline.areas[COUNCIL], offline.cfg.partners[COUNCIL], second)
    feedback = offline.areas[COUNCIL].path(path).read_text()
    assert feedback.splitlines()[2:] == [
        "change,old_person_id,new_person_id,records",
        *(f"{k},{o},{n},{r}" for k, o, n, r in second.person_id_changes),
    ]
    row = re.compile(r"(merge|split),P[0-9a-f]{16},P[0-9a-f]{16},\d+")
    assert all(row.fullmatch(line) for line in feedback.splitlines()[3:])


def test_with_no_new_evidence_every_person_id_stays_and_nothing_is_linked_or_audited_again(days):
    offline, day1, day2 = days
    _match(offline, day1, "run-1")
    _match(offline, day2, "run-2")
    before, events = _rows(offline), len(read_events(offline.engine))
    again = _match(offline, day2, "run-3")
    assert again.person_id_changes == ()
    assert _detail(offline, "run-3")["delta"] == {"linked": 0, "carried": 44, "index_records_changed": 0}
    assert _rows(offline) == before  # 100% of ids (and decisions) unchanged
    assert [e["event"] for e in read_events(offline.engine)[events:]] == ["batch.matched"]


def test_a_new_index_record_relinks_only_the_clients_it_could_change(days):
    offline, day1, day2 = days
    _match(offline, day1, "run-1")
    _match(offline, day2, "run-2")
    assert _rows(offline)["MOS0000101"][2:] != (CROWD[65].chi, "auto")
    _index(offline, [*CROWD[:60], CROWD[65]], "chi_index_2.csv")  # the board registers client 101's person
    _match(offline, day2, "run-3")
    assert _detail(offline, "run-3")["delta"] == {"linked": 1, "carried": 43, "index_records_changed": 1}
    assert _rows(offline)["MOS0000101"][1:] == (CROWD[65].chi, "auto")


def test_a_retrained_model_replaces_the_saved_one_only_when_asked(days):
    from crosswalk.pipeline.match import retrain

    offline, day1, day2 = days
    _match(offline, day1, "run-1")
    feed = offline.cfg.inbound(CLIENTS)
    report = retrain(
        offline.engine, offline.audit("retrain"), offline.cfg, feed, by="analyst@northshire", activate=True
    )
    (event,) = read_events(offline.engine, event="model.retrained")
    detail = json.loads(event["detail"])
    assert detail["by"] == "analyst@northshire" and detail["activated"] is True
    assert detail["old_model_version"] == report.old_version and detail["new_model_version"] == report.new_version
    assert detail["on_labels_old"] == report.on_labels["old"] and detail["on_labels_new"] == report.on_labels["new"]
    assert detail["on_labels_new"]["labelled_pairs"] == 0  # nobody has reviewed a pair of this feed yet
    _match(offline, day2, "run-2")
    assert _detail(offline, "run-2")["model_version"] == report.new_version


def test_the_ig_report_shows_each_matching_run_its_model_and_its_estimated_quality(days):
    from datetime import datetime, timedelta

    from crosswalk import auditreport

    offline, day1, day2 = days
    _match(offline, day1, "run-1")
    _match(offline, day2, "run-2")
    now = datetime.now()
    report = auditreport.build(offline.engine, now - timedelta(days=1), now + timedelta(days=1))
    first, second = report.matching
    assert second["records"] == "44 in the batch; 4 linked, 40 carried"
    assert second["persons"] == "1 merge(s), 1 split(s)"
    assert first["quality"] == "none: fewer than 20 clerical decisions"
    (model,) = report.models
    assert model["what"].startswith("trained link-v1:") and model["what"].endswith("first match of this feed")
    html = auditreport.to_html(report)
    assert "<h2>Matching</h2>" in html and "4 linked, 40 carried" in html


def test_a_retrained_model_that_does_worse_on_the_reviewers_decisions_is_not_switched_to(days, monkeypatch):
    from crosswalk.matching import model_store
    from crosswalk.pipeline import match as match_module

    offline, day1, _ = days
    _match(offline, day1, "run-1")
    in_use = model_store.active(offline.engine, CLIENTS).version
    calls = iter([1.0, 0.5])  # the model in use is scored first, then the new one

    def scored(result, labels):
        r = next(calls)
        return {"labelled_pairs": 30, "true_links": 0, "wrong_links": 0, "missed": 0, "precision": r, "recall": r}

    monkeypatch.setattr(match_module, "on_labels", scored)
    feed = offline.cfg.inbound(CLIENTS)
    report = match_module.retrain(offline.engine, offline.audit("retrain"), offline.cfg, feed, by="a", activate=True)
    assert not report.activated and "F1 0.5000 against 1.0000" in report.refused
    assert model_store.active(offline.engine, CLIENTS).version == in_use
    (event,) = read_events(offline.engine, event="model.retrained")
    assert json.loads(event["detail"])["activated"] is False and event["reason"] == report.refused


def test_crosswalk_match_retrain_from_the_command_line(days):
    import subprocess

    from tests.conftest import REPO

    offline, day1, _ = days
    _match(offline, day1, "run-1")
    cli = [str(REPO / ".venv/bin/crosswalk"), "match", "retrain", CLIENTS, "--by", "A Analyst",
           "--url", str(offline.engine.url), "--config", str(offline.cfg.config_dir)]  # fmt: skip
    saved = subprocess.run(cli, capture_output=True, text=True)
    assert saved.returncode == 0, saved.stderr
    assert "saved, not in use (--activate to switch)" in saved.stdout and "labelled" in saved.stdout
    unknown = subprocess.run([*cli[:3], "no-such-feed", *cli[4:]], capture_output=True, text=True)
    assert unknown.returncode == 1 and "no-such-feed" in unknown.stderr and "Traceback" not in unknown.stderr
