"""Every kind of bad drop ends in one terminal state with its reason code, nothing of it is staged, the
partner's original is untouched, the quarantine copy is whole, and no value a partner sent (marked in
every free-text field, in manifest fields and in file names) reaches a log, a reason, a feedback file,
the audit store, our tables or a delivered extract. On SQLite and PostgreSQL, with real sshd and Airflow."""

from __future__ import annotations

import re

import pytest

from crosswalk.logsafety import shown_name
from crosswalk.manifest import manifest_name, signature_name
from tests.hostile.conftest import Day, kind, kind_ids
from tests.hostile.kinds import KINDS, MARKER_PATTERN

pytestmark = [pytest.mark.sshd, pytest.mark.airflow]
DATABASE = "sqlite"  # test_hostile_partner_postgres.py runs the same tests on PostgreSQL
TERMINAL = {"staged", "quarantined", "skipped"}


def test_the_catalogue_covers_at_least_forty_kinds_of_bad_drop():
    bad = [k for k in KINDS if k.state != "staged"]
    assert len(bad) >= 40 and len({k.name for k in KINDS}) == len(KINDS)


def _drop_files(day: Day, name: str) -> dict[str, str]:
    data = day.names[name]
    return {"data": data, "manifest": manifest_name(data), "signature": signature_name(manifest_name(data))}


def _quarantine_folder(day: Day, batch_id: str):
    folders = sorted(p for p in day.quarantine.iterdir() if p.name == batch_id or p.name.startswith(batch_id + "."))
    assert folders, f"no quarantine folder for {batch_id}"
    return folders[0]  # the first examination's (a re-examined drop gets a folder of its own beside it)


@pytest.mark.parametrize("name", kind_ids())
def test_each_kind_ends_in_its_terminal_state_with_its_reason(day: Day, name: str):
    k = kind(name)
    files = _drop_files(day, name)
    batch = day.batches.get(shown_name(files["data"]))

    if k.state in ("waiting", "ignored", "unrouted"):  # never a drop: nothing opened, nothing read
        assert batch is None
        return
    assert batch is not None, f"{name}: no batch"
    if name == "signed_by_a_key_not_pinned":  # quarantined, then the partner fixed only the signature
        assert batch["status"] == "staged" and day.staged_rows[batch["batch_id"]] == 6
        reason = (_quarantine_folder(day, batch["batch_id"]) / "REASON.txt").read_text()
        assert "reason: unknown_signer: " in reason
        return
    assert batch["status"] == k.state, (name, batch["status"], batch["reason"])
    if k.state == "staged":
        assert day.staged_rows[batch["batch_id"]] == 3
        return
    assert batch["reason"].startswith(k.code + ": "), (name, batch["reason"])
    assert day.staged_rows.get(batch["batch_id"], 0) == 0

    feedback = (day.inbox / f"crosswalk-feedback_{batch['batch_id']}.txt").read_text()
    if k.state == "skipped":
        baseline = day.batches["clients_20261120.csv.age"]["batch_id"]
        assert f"staged batch {baseline}" in feedback and "Load duplicate" in feedback
        assert not [p for p in day.quarantine.iterdir() if p.name.startswith(batch["batch_id"])]
        return

    folder = _quarantine_folder(day, batch["batch_id"])
    reason = (folder / "REASON.txt").read_text()
    assert f"reason: {k.code}: " in reason and reason == feedback
    lines = reason.splitlines()
    # A data file that is no encryption to us is not copied where the partner cannot delete it: kept by its hash.
    by_hash = "data file not copied here: it is not an encrypted file" in reason
    assert len(lines) == 8 + by_hash and max(map(len, lines)) <= 340, lines
    # The whole drop as sent, byte for byte, every regular file under a name that cannot collide.
    for role, sent in files.items():
        original = day.originals.get(sent)
        copy = folder / f"{role}--{shown_name(sent)}"
        if role == "data" and by_hash:
            assert not copy.exists() and f"size {len(original)} bytes" in reason, name
        elif isinstance(original, bytes):
            assert copy.read_bytes() == original, (name, role)
        else:
            assert not copy.exists(), (name, role)  # absent, or not a file: nothing is read through it


def test_the_partners_originals_are_untouched(day: Day):
    fixed = signature_name(manifest_name(day.names["signed_by_a_key_not_pinned"]))
    before = {n: v for n, v in day.originals.items() if n != fixed}
    after = {n: v for n, v in day.outbox_after.items() if n != fixed}
    assert after == before


def test_every_drop_that_was_opened_ends_terminal(day: Day):
    assert {b["status"] for b in day.batches.values()} <= TERMINAL
    assert day.intake_states == ["failed", "success"]  # bad drops fail the run; the next costs nothing
    first, second = day.discovered[-2:]
    opened = first["taken_this_run"]
    assert second["already_taken_in"] == opened and second["taken_this_run"] == 1  # the re-signed drop only
    assert second["matched_again"] == 1  # the latest staged batch: a rerun applies clerical decisions made since
    assert second["waiting_for_manifest"] >= 1 and second["unrouted"] == 1 and second["backlog"] == 0


def _scan(text: str) -> list[str]:
    return re.findall(MARKER_PATTERN, text)


def test_no_marker_reaches_logs(day: Day):
    assert day.log_text.count("QUARANTINED") >= 40  # the logs were captured
    leaks = [line[:160] for line in day.log_text.splitlines() if _scan(line)]
    assert leaks == []


def test_no_marker_reaches_reasons_or_feedback(day: Day):
    texts = [p.read_text(errors="replace") for p in day.quarantine.rglob("REASON.txt")]
    texts += [p.read_text(errors="replace") for p in day.inbox.rglob("*") if p.is_file()]  # feedback, receipts
    assert len(texts) >= 80
    assert _scan("\n".join(texts)) == []
    assert not [t for t in texts if "\x1b" in t or "reason: accepted" in t]  # no forged line, no escape


def test_no_marker_reaches_the_audit_store_or_any_table_of_ours(day: Day):
    assert len(day.tables["audit_event"]) > 100
    assert {t: _scan(repr(rows)) for t, rows in day.tables.items() if _scan(repr(rows))} == {}


def test_no_marker_reaches_a_delivered_extract_and_formulas_are_delivered_as_held(day: Day):
    text = "\n".join(d.decode() for d in day.delivered)
    assert day.delivered and _scan(text) == []
    assert '"=HYPERLINK(""http://x"")"' in text or "=HYPERLINK" in text  # a partner system reads it, not a spreadsheet


def test_no_marker_reaches_published_open_data_or_the_portal(day: Day):
    assert any(name.endswith("care_packages_by_area.csv") for name in day.published)
    assert _scan("\n".join(b.decode(errors="replace") for b in day.published.values())) == []
    # The portal view, published (from the latest staged drop, whose people the ISP admits only if matched to the
    # board's records: a hostile drop's marker names match no one), scanned with every table of ours.
    assert "pub_social_care_summary" in day.tables
    assert any("social-care-summary" in map(str, row) for row in day.tables["publication"])
    # Open data's cells never start like a formula.
    for name, body in day.published.items():
        if name.endswith(".csv"):
            cells = [c for line in body.decode().splitlines()[1:] for c in line.split(",")]
            assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], name
