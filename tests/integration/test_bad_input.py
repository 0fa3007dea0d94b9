"""Bad input: every rejected drop is quarantined with a reason, nothing is staged or lost.

For each kind of bad drop the inbound run fails, the drop is copied to the partner's quarantine
folder with REASON.txt, the audit trail and task log carry one line saying why, the staging
table stays empty, and the partner's original in the outbox is byte-for-byte unchanged. A rerun
recognises the quarantined drop and does not process it again.
"""

from __future__ import annotations

import csv
import io

import pytest
import yaml
from sqlalchemy import text

from crosswalk.audit import read_events
from crosswalk.manifest import manifest_for_file
from crosswalk.orchestration.resources import engine_for
from tests.support.airflow import run_dag
from tests.support.project import clients_csv

pytestmark = [pytest.mark.sshd, pytest.mark.airflow]
COUNCIL = "northshire-council"


@pytest.fixture
def db_url(tmp_path):
    # Quarantine logic does not depend on the database; SQLite keeps these cases quick.
    return f"sqlite:///{tmp_path / 'crosswalk.db'}"


def _rewrite(path, edit):
    rows = list(csv.reader(path.read_text().splitlines()))
    rows = edit(rows)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_text(buf.getvalue())


def _drop_column(name):
    def edit(rows):
        i = rows[0].index(name)
        return [r[:i] + r[i + 1 :] for r in rows]

    return edit


def _bad_dates(rows):
    i = rows[0].index("date_of_birth")
    for r in rows[1:4]:
        r[i] = "31/12/1950"  # day-first, not ISO 8601
    return rows


CASES = {
    # case: (edit of the CSV before the manifest is made, edit after, expected code, expected reason text)
    "checksum": (None, "flip", "checksum_mismatch", "sha256 is"),
    "missing_column": (_drop_column("postcode"), None, "schema_violation", "missing column(s) ['postcode']"),
    "unknown_column": (
        lambda rows: [[*rows[0], "x"]] + [[*r, "1"] for r in rows[1:]],
        None,
        "schema_violation",
        "unknown column(s) ['x']",
    ),
    "wrong_type": (_bad_dates, None, "schema_violation", "date_of_birth: 3 row(s) not a date"),
    "no_rows": (lambda rows: rows[:1], None, "empty_extract", "header but no rows"),
    "missing_file": (None, "delete", "missing_data_file", "not found"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_drop_is_quarantined(project, case, caplog):
    before, after, code, expected = CASES[case]
    data = clients_csv(project.work, n=12)
    if before:
        _rewrite(data, before)
    manifest = manifest_for_file(data, feed="council-clients", schema_id="social_care_client", sender=COUNCIL)
    if after == "flip":
        raw = bytearray(data.read_bytes())
        raw[-5] ^= 0x01  # same size, different content
        data.write_bytes(bytes(raw))
    project.drop(COUNCIL, data, feed="council-clients", schema_id="social_care_client", manifest=manifest.to_json())
    if after == "delete":
        (project.outbox(COUNCIL) / data.name).unlink()  # the manifest points at a file that is not there
    originals = {p.name: p.read_bytes() for p in project.outbox(COUNCIL).iterdir()}

    state, tis = run_dag("inbound_council_clients")
    assert state == "failed" and tis["ingest_drop[0]"] == "failed", tis

    engine = engine_for("crosswalk_db")
    with engine.connect() as conn:
        batch = conn.execute(text("SELECT batch_id, status, reason FROM batch")).one()
        assert conn.execute(text("SELECT COUNT(*) FROM stg_social_care_client")).scalar_one() == 0
    assert batch.status == "quarantined" and batch.reason.startswith(code)

    folder = project.quarantine(COUNCIL) / batch.batch_id
    reason_file = (folder / "REASON.txt").read_text()
    assert f"reason: {code}: " in reason_file and expected in reason_file
    assert (folder / f"{data.name}.manifest.json").exists()
    assert (folder / data.name).exists() == (case != "missing_file")

    [event] = read_events(engine, event="drop.quarantined")
    assert expected in event["reason"] and "\n" not in event["reason"]
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("QUARANTINED")]
    assert line.startswith(f"QUARANTINED {data.name} ({code}): ") and expected in line and "\n" not in line

    # Nothing lost: the partner's files are exactly as they were.
    assert {p.name: p.read_bytes() for p in project.outbox(COUNCIL).iterdir()} == originals

    # A rerun sees the same manifest, recognises it as quarantined and leaves it alone.
    state, _ = run_dag("inbound_council_clients")
    assert state == "success"
    assert len(read_events(engine, event="drop.quarantined")) == 1
    assert read_events(engine, event="drop.skipped")[0]["reason"] == f"already quarantined as {batch.batch_id}"


def test_file_matching_no_feed_is_left_in_place_and_reported(project):
    stray = project.work / "notes for crosswalk.txt"
    stray.write_text("please call me\n")
    project.sshd.sftp_cli(COUNCIL, f'put "{stray}" /outbox/stray_notes.txt\n')

    state, _ = run_dag("inbound_council_clients")
    assert state == "success"
    [event] = read_events(engine_for("crosswalk_db"), event="file.unrouted")
    assert event["file_name"] == "stray_notes.txt" and event["outcome"] == "skipped"
    assert (project.outbox(COUNCIL) / "stray_notes.txt").read_text() == "please call me\n"


def test_unknown_host_key_fails_the_run_before_any_transfer(project, caplog):
    # Pin a different key than the server presents: a man-in-the-middle looks exactly like this.
    partner_file = project.config_dir / "partners" / f"{COUNCIL}.yaml"
    doc = yaml.safe_load(partner_file.read_text())
    doc["sftp"]["host_keys"] = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICfVmTOl1apIbf4eB7l235NaxCJ0pGYRuWaydQzeXWyo"]
    partner_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    data = clients_csv(project.work, n=5)
    project.drop(COUNCIL, data, feed="council-clients", schema_id="social_care_client")

    state, tis = run_dag("inbound_council_clients")
    assert state == "failed" and tis["discover_drops"] == "failed", tis
    [failed] = read_events(engine_for("crosswalk_db"), event="task.failed")
    assert "not pinned" in failed["reason"] and failed["detail"].count("HostKeyRejected") == 1
    assert any("presented a host key that is not pinned" in r.getMessage() for r in caplog.records)
    with engine_for("crosswalk_db").connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM batch")).scalar_one() == 0
