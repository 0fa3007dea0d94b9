"""The crosswalk command on bad input: one line that says what is wrong, exit 2 for usage and 1 for failure, and
never a traceback (a traceback can show a record's values, and tells an operator nothing they can act on)."""

from __future__ import annotations

import json

import pytest

from crosswalk.cli import main, one_line

RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"


@pytest.fixture
def files(tmp_path):
    (tmp_path / "plain.txt").write_text("hello\n")
    (tmp_path / "not-a-model.json").write_text(json.dumps({"x": 1}))
    (tmp_path / "people.csv").write_text("record_id,chi_number,forename,surname,date_of_birth,sex,postcode\n")
    (tmp_path / "existing.key").write_text("keep me\n")
    return tmp_path


BAD = {
    "an age recipient that is not one": (["encrypt", "-r", "age1xyz", "{d}/plain.txt"], 1, "not an age recipient"),
    "a file that is not there": (["encrypt", "-r", RECIPIENT, "{d}/missing.csv"], 1, "No such file or directory"),
    "an identity file that is not there": (["decrypt", "-i", "{d}/missing.key", "{d}/plain.txt"], 1, "missing.key"),
    "a signing key that is not there": (["sign", "-k", "{d}/missing.key", "{d}/plain.txt"], 1, "missing.key"),
    "a signature that is not there": (["verify", "{d}/plain.txt", "--allowed-key", "x"], 1, "plain.txt.sig"),
    "a date not in ISO form": (["audit", "report", "--from", "26/11/2026", "--to", "2026-11-27"], 2, "YYYY-MM-DD"),
    "a period that ends before it starts": (
        ["audit", "report", "--from", "2026-11-27", "--to", "2026-11-01", "--url", "sqlite:///{d}/a.db"], 2,
        "before --from",
    ),
    "a database that cannot be opened": (
        ["audit", "verify", "--url", "sqlite:///{d}/no/such/dir/a.db"], 1, "the database refused",
    ),
    "a database that is not listening": (
        ["db", "upgrade", "--url", "postgresql://nobody@127.0.0.1:1/x"], 1, "the database refused",
    ),
    "an agreement nobody made": (["agreements", "show", "no-such-agreement"], 1, "no agreement 'no-such-agreement'"),
    "a people file without the person columns": (
        ["match", "link", "{d}/plain.txt", "{d}/plain.txt", "--out", "{d}/o.csv"], 1, "missing person column",
    ),
    "a model file that is not a model": (
        ["match", "link", "{d}/people.csv", "{d}/people.csv", "--out", "{d}/o.csv", "--model", "{d}/not-a-model.json"],
        1, "not a saved Crosswalk model",
    ),
    "a config directory that is not there": (["check", "--offline", "--config", "{d}/nowhere"], 1, "cannot read YAML"),
    "an outcome that is not one": (
        ["review", "decide", "--feed", "f", "r1", "perhaps", "--by", "x"], 2, "invalid choice",
    ),
    "a command that does not exist": (["matchh"], 2, "invalid choice"),
    "a key file that would be overwritten": (["keygen", "-o", "{d}/existing.key"], 1, "existing.key"),
    "an unknown option": (["check", "--no-such-option"], 2, "unrecognized arguments"),
}  # fmt: skip


@pytest.mark.parametrize("kind", BAD)
def test_bad_input_gets_one_line_and_never_a_traceback(kind, files, capsys):
    argv, code, says = BAD[kind]
    try:
        got = main([a.format(d=files) for a in argv])
    except SystemExit as exc:  # argparse's usage errors
        got = exc.code
    err = capsys.readouterr().err
    assert got == code, err
    assert "Traceback" not in err and says in err, err
    ours = [line for line in err.splitlines() if line.startswith("crosswalk")]
    assert len(ours) == 1, err  # one line of ours (check lists its problems under it; argparse adds its usage)
    assert (files / "existing.key").read_text() == "keep me\n"


def test_a_librarys_own_message_is_not_shown_as_it_may_quote_data():
    import pandas as pd

    try:
        pd.to_datetime(pd.Series(["Morag Sinclair"]), format="%Y-%m-%d")
    except ValueError as exc:
        shown = one_line(exc)
    assert "Morag" not in shown and shown.startswith("failed (ValueError in ") and "--debug" in shown


def test_version_and_debug(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("crosswalk 0.1.0")
    with pytest.raises(ValueError, match="not an age recipient"):
        main(["--debug", "encrypt", "-r", "age1xyz", "/dev/null"])


def test_every_example_in_the_help_parses():
    import re
    import shlex

    from crosswalk.cli import EXAMPLES, build_parser

    commands = [
        re.split(r" {3,}", line.strip())[0] for line in EXAMPLES.splitlines() if line.startswith("  crosswalk ")
    ]
    assert len(commands) >= 6
    for command in commands:
        args = build_parser().parse_args(shlex.split(command)[1:])  # a typo here exits 2 and fails the test
        assert callable(args.func)
