"""Bad and tampered input: every rejected drop is quarantined with a reason; nothing is staged or lost.

For each kind of bad drop the inbound run fails, the drop as received (still encrypted) is copied
to the partner's quarantine folder with REASON.txt, a feedback file goes to the partner's inbox,
the audit trail and task log carry one line saying why, the staging table stays empty, and the
partner's originals in the outbox are byte-for-byte unchanged. A rerun (a replay of the same drop)
recognises it and does not process it again.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import text

from crosswalk.audit import read_events
from crosswalk.logsafety import shown_name
from crosswalk.orchestration.connections import engine_for
from tests.support.airflow import run_dag
from tests.support.inbox import inbox_entries
from tests.support.project import clients_csv, edit_yaml

pytestmark = [pytest.mark.sshd, pytest.mark.airflow]
COUNCIL = "northshire-council"


@pytest.fixture
def db_url(tmp_path):
    # Quarantine logic does not depend on the database; SQLite keeps these cases quick.
    return f"sqlite:///{tmp_path / 'crosswalk.db'}"


def _rewrite(path, edit):
    rows = list(csv.reader(path.read_text().splitlines()))
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(edit(rows))
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


def _flip(offset_from):
    """Flip one byte of the file; offset_from(size) says where."""

    def edit(path):
        raw = bytearray(path.read_bytes())
        raw[offset_from(len(raw))] ^= 0x01
        path.write_bytes(bytes(raw))

    return edit


def _truncate(path):
    path.write_bytes(path.read_bytes()[:-40])


def _age_header_end(size):
    return 60  # inside the X25519 stanza of the age header


CASES = {
    # name: (drop() keyword arguments, or a plaintext edit; expected code; expected reason text)
    "checksum": ({"edit_after_manifest": _flip(lambda n: n - 5)}, "checksum_mismatch", "sha256 is"),
    "truncated": ({"edit_after_manifest": _truncate}, "size_mismatch", "manifest says"),
    "missing_column": (_drop_column("postcode"), "schema_violation", "1 of 20 column(s) missing: postcode"),
    "unknown_column": (
        lambda rows: [[*rows[0], "x"]] + [[*r, "1"] for r in rows[1:]],
        "schema_violation",
        "1 unknown column(s), at position(s) 21",  # by position: a header cell not ours is never repeated
    ),
    "wrong_type": (_bad_dates, "schema_violation", "date_of_birth: 3 row(s) not a date"),
    "no_rows": (lambda rows: rows[:1], "empty_extract", "header but no rows"),
    "missing_file": ({"omit_data": True}, "missing_data_file", "not found"),
    # Tampering that keeps the hashes consistent: only decryption can catch it.
    "flipped_header_byte": ({"edit_ciphertext": _flip(_age_header_end)}, "decrypt_failed", ""),
    "flipped_body_byte": ({"edit_ciphertext": _flip(lambda n: n // 2)}, "decrypt_failed", "failed authentication"),
    "flipped_last_chunk_byte": ({"edit_ciphertext": _flip(lambda n: n - 3)}, "decrypt_failed", "last chunk"),
    "truncated_consistently": ({"edit_ciphertext": _truncate}, "decrypt_failed", "failed authentication"),
    # Who sent it.
    "manifest_edited_after_signing": ({"edit_manifest_after_signing": True}, "signature_invalid", "does not match"),
    "signed_by_unpinned_key": ({"unpinned_signer": True}, "unknown_signer", "not pinned"),
    # Careless and hostile partners (issue 19): no header row, a huge manifest, names too long to keep whole.
    "no_header_row": (lambda rows: rows[1:], "schema_violation", "no header row: none of the 20 expected"),
    "short_row": (lambda rows: [*rows[:2], rows[2][:5], *rows[3:]], "schema_violation", "fewer than the header"),
    "blank_line": (lambda rows: [*rows[:2], [], *rows[2:]], "schema_violation", "blank"),
    "manifest_over_64_kib": (
        {"edit_manifest": lambda m: {**m, "note": " " * 70_000}},
        "manifest_too_large",
        "larger than 65536 bytes",
    ),
    "names_too_long_to_keep_whole": (
        {"file_name": "clients_" + "x" * 183 + ".csv", "edit_after_manifest": _truncate},
        "size_mismatch",
        "manifest",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_drop_is_quarantined(project, case, caplog, tmp_path):
    spec, code, expected = CASES[case]
    kwargs: dict = {} if callable(spec) else dict(spec)
    data = clients_csv(project.work, n=12, name=kwargs.pop("file_name", "clients_20261121.csv"))
    if callable(spec):
        _rewrite(data, spec)
    omit_data = kwargs.pop("omit_data", False)
    if kwargs.pop("unpinned_signer", False):
        from tests.support.project import _ssh_key

        kwargs["signer"] = _ssh_key(tmp_path / "intruder")
    edit_after_signing = kwargs.pop("edit_manifest_after_signing", False)
    enc = project.drop(
        COUNCIL,
        data,
        feed="council-clients",
        schema_id="social_care_client",
        omit=(data.name + ".age",) if omit_data else (),
        **kwargs,
    )
    manifest_file = enc.name + ".manifest.json"
    if edit_after_signing:
        path = project.outbox(COUNCIL) / manifest_file
        path.write_bytes(path.read_bytes().replace(b'"rows": 12', b'"rows": 13'))
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
    # The whole drop as sent, byte for byte, each file under its role: nothing can collide.
    assert (folder / f"manifest--{shown_name(manifest_file)}").read_bytes() == originals[manifest_file]
    assert (folder / f"signature--{shown_name(manifest_file + '.sig')}").read_bytes() == originals[
        manifest_file + ".sig"
    ]
    assert (folder / f"data--{shown_name(enc.name)}").exists() == (not omit_data)
    if not omit_data:  # the quarantined copy is the drop as the partner sent it: still encrypted
        assert (folder / f"data--{shown_name(enc.name)}").read_bytes() == originals[enc.name]
    # Nothing of the records reaches the partner's reason or the audit trail (the first record's values
    # included, when the header row is missing).
    first_record = [*list(csv.reader(data.read_text().splitlines())), [], []][1]
    assert not [v for v in first_record if len(v) > 3 and v in reason_file]
    # The partner hears about it in its inbox, in the same words.
    assert (project.inbox(COUNCIL) / f"crosswalk-feedback_{batch.batch_id}.txt").read_text() == reason_file

    [event] = read_events(engine, event="drop.quarantined")
    assert expected in event["reason"] and "\n" not in event["reason"]
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("QUARANTINED")]
    assert line.startswith(f"QUARANTINED {shown_name(enc.name)} ({code}): ") and expected in line and "\n" not in line

    # Nothing lost: the partner's files are exactly as they were.
    assert {p.name: p.read_bytes() for p in project.outbox(COUNCIL).iterdir()} == originals

    # A replay of the same drop (its files unchanged) is left out at discovery, from the ledger: not read again.
    state, tis = run_dag("inbound_council_clients")
    assert state == "success" and tis["ingest_drop"] == "skipped", tis  # mapped over no drops
    assert len(read_events(engine, event="drop.quarantined")) == 1
    detail = json.loads(read_events(engine, event="drops.discovered")[-1]["detail"])
    assert detail["already_taken_in"] == 1 and detail["taken_this_run"] == 0
    # ...and never reaches matching: a rejected drop left in the outbox costs a later run nothing.
    assert not [e for e in read_events(engine) if e["event"].startswith("batch.match")]


def test_drop_without_its_signature_waits(project):
    data = clients_csv(project.work, n=5)
    enc = project.drop(
        COUNCIL,
        data,
        feed="council-clients",
        schema_id="social_care_client",
        omit=(data.name + ".age.manifest.json.sig",),
    )
    state, _ = run_dag("inbound_council_clients")
    assert state == "success"
    [event] = read_events(engine_for("crosswalk_db"), event="drops.discovered")
    detail = json.loads(event["detail"])
    assert detail["complete"] == 0 and detail["waiting_for_manifest"] == 1
    assert (project.outbox(COUNCIL) / enc.name).exists()


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
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICfVmTOl1apIbf4eB7l235NaxCJ0pGYRuWaydQzeXWyo"
    edit_yaml(project.config_dir / "partners" / f"{COUNCIL}.yaml", lambda d: d["sftp"].update(host_keys=[other]))
    data = clients_csv(project.work, n=5)
    project.drop(COUNCIL, data, feed="council-clients", schema_id="social_care_client")

    state, tis = run_dag("inbound_council_clients")
    assert state == "failed" and tis["discover_drops"] == "failed", tis
    [failed] = read_events(engine_for("crosswalk_db"), event="task.failed")
    assert "not pinned" in failed["reason"] and failed["detail"].count("HostKeyRejected") == 1
    assert any("presented a host key that is not pinned" in r.getMessage() for r in caplog.records)
    with engine_for("crosswalk_db").connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM batch")).scalar_one() == 0


def test_a_drop_the_database_refuses_for_a_cause_of_ours_is_held_not_blamed_on_the_partner(project):
    """The rows were valid but our database refused them (here a trigger stands in for a fault of ours):
    the drop is held, not quarantined; the partner gets no feedback; later runs skip it at no cost; once
    fixed, an operator releases it and the next run stages it."""
    import subprocess

    from tests.conftest import REPO

    assert run_dag("inbound_council_clients")[0] == "success"  # migrates the database
    engine = engine_for("crosswalk_db")
    with engine.begin() as conn:
        conn.execute(text(
            "CREATE TRIGGER refuse_rows BEFORE INSERT ON stg_social_care_client"
            " BEGIN SELECT RAISE(ABORT, 'a fault of ours'); END"
        ))  # fmt: skip
    project.drop(COUNCIL, clients_csv(project.work, n=6), feed="council-clients", schema_id="social_care_client")

    state, tis = run_dag("inbound_council_clients")
    assert state == "failed" and tis["ingest_drop[0]"] == "failed", tis
    with engine.connect() as conn:
        batch = conn.execute(text("SELECT batch_id, status, reason FROM batch")).one()
    assert batch.status == "held" and batch.reason.startswith("internal_error: IntegrityError")
    assert not list(project.quarantine(COUNCIL).iterdir()) and not list(inbox_entries(project.inbox(COUNCIL)))
    [held] = read_events(engine, event="drop.held")
    assert json.loads(held["detail"])["code"] == "internal_error" and "a fault of ours" not in held["reason"]

    assert run_dag("inbound_council_clients")[0] == "success"  # a later run skips it, and succeeds
    assert read_events(engine, event="drop.skipped")[-1]["reason"] == f"already held as {batch.batch_id}"

    with engine.begin() as conn:
        conn.execute(text("DROP TRIGGER refuse_rows"))
    released = subprocess.run(
        [str(REPO / ".venv" / "bin" / "crosswalk"), "drops", "release", batch.batch_id, "--by", "Ops On Call",
         "--url", project.db_url],
        capture_output=True, text=True,
    )  # fmt: skip
    assert released.returncode == 0, released.stderr
    assert run_dag("inbound_council_clients")[0] == "success"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT status, rows_staged FROM batch")).one() == ("staged", 6)
    assert read_events(engine, event="drop.released")[0]["triggered_by"] == "Ops On Call"
