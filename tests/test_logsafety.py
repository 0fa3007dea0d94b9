"""The log safety net redacts identifier-shaped values, and leaves hashes, ids, counts and run dates readable."""

from __future__ import annotations

import logging

import pytest

from crosswalk import logsafety

REDACT = [
    ("CHI 0101011237 failed", "CHI [redacted] failed"),
    ("NHS number 943 476 5919 given", "NHS number [redacted] given"),
    ("nhs=943-476-5919", "nhs=943-476-5919"),  # key=value: left (counts and sizes look like this)
    ("postcode AB12 3CD and EH11YZ", "postcode [redacted] and [redacted]"),
    ("born 04/03/1950.", "born [redacted]."),
    ("dob 1950-03-04 in row 7", "dob [redacted] in row 7"),
]
KEEP = [
    "sha256 4420afcd2e5128917869549369145aaa0cf057247ac8f6e40108f74e0375875d",
    "batch council-clients-b4c6f73f78dd4f1a from clients_20261121.csv",
    'AUDIT {"event_time":"2026-11-21T14:33:43.773Z","file_size":1073741824,"rows_in":500}',
    "agreement northshire-isp v2 expired on 2026-11-20; no version is in force on 2026-11-21",
    "Staged 1234 rows; 3 field(s) removed at level 2",
]


@pytest.mark.parametrize(("text", "expected"), REDACT)
def test_identifier_shaped_values_are_redacted(text, expected):
    assert logsafety.redact(text) == expected


@pytest.mark.parametrize("text", KEEP)
def test_hashes_ids_counts_and_run_dates_are_kept(text):
    assert logsafety.redact(text) == text


def test_installed_it_redacts_every_record_before_handlers_see_it(caplog):
    logsafety.install()
    logsafety.install()  # idempotent
    with caplog.at_level(logging.INFO):
        logging.getLogger("crosswalk.pipeline").info("matched %s to %s", "0101011237", "AB12 3CD")
        logging.getLogger("some.library").warning("bad value '1950-03-04'")
    assert caplog.messages == ["matched [redacted] to [redacted]", "bad value '[redacted]'"]


def test_a_value_put_into_a_log_line_cannot_forge_a_new_line(caplog):
    logsafety.install()
    name = "clients.csv\n2026-11-26 INFO Staged 999 rows\r"
    with caplog.at_level(logging.INFO):
        logging.getLogger("crosswalk.test").info("Took in %s", name)
    (record,) = caplog.records
    assert "\n" not in record.getMessage() and "\r" not in record.getMessage()
    assert record.getMessage() == "Took in clients.csv\\n2026-11-26 INFO Staged 999 rows\\r"


def test_reasons_are_one_escaped_line_of_at_most_300_characters():
    from crosswalk.errors import SchemaViolation

    exc = SchemaViolation("line one\nline two\x00\x1b[31m" + "x" * 1000)
    assert "\n" not in exc.reason and "\x00" not in exc.reason and "\x1b" not in exc.reason
    assert exc.reason.startswith("line one\\nline two\\x00\\x1b[31m") and len(exc.reason) == 300
    assert str(exc) == exc.reason


def test_a_file_name_is_shown_only_when_ordinary_else_by_hash():
    assert logsafety.shown_name("clients_20261121.csv.age") == "clients_20261121.csv.age"
    for hostile in ("a" * 500 + ".csv", "clients_1.csv\nreason: ok", "Jane Doe 01-02-1950.csv", "\x1b[2J.csv", "-rf"):
        shown = logsafety.shown_name(hostile)
        assert shown.startswith("unusual-name-") and len(shown) == 25, shown
    assert logsafety.shown_name("x y") != logsafety.shown_name("x z")  # the hash still tells names apart
