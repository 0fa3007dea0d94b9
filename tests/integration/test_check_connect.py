"""`crosswalk check --connect` against the real sshd: the host key the server presents beside the pinned ones, by
fingerprint; a server whose key is not pinned fails, with both fingerprints and what to do, and is never trusted
on first use."""

from __future__ import annotations

import json

import pytest

from crosswalk.cli import main
from crosswalk.crypto.sshsig import fingerprint
from tests.support.project import edit_yaml
from tests.support.sshd import keygen

pytestmark = [pytest.mark.sshd]
COUNCIL = "northshire-council"


@pytest.fixture
def db_url(tmp_path):
    return f"sqlite:///{tmp_path / 'crosswalk.db'}"


@pytest.fixture
def pools(project, tmp_path):
    from airflow.cli.commands.pool_command import pool_import_helper

    from crosswalk.orchestration.sftp import pools

    path = tmp_path / "pools.json"
    path.write_text(json.dumps(pools(project.cfg)))
    pool_import_helper(str(path))


def test_check_connect_reports_the_presented_key_beside_the_pinned_one(project, pools, tmp_path, capsys):
    args = ["check", "--connect", "--config", str(project.config_dir)]
    assert main(args) == 0
    out = capsys.readouterr().out
    real = fingerprint(project.sshd.host_key_pub)
    server = f"127.0.0.1:{project.sshd.port}"
    for code in project.cfg.partners:
        assert (
            f"crosswalk check: connect {code} {server}: host key ssh-ed25519 {real} is pinned; logged in; inbox,"
            " outbox and quarantine present" in out.splitlines()
        )

    other = " ".join(keygen(tmp_path / "other_host_key").with_suffix(".pub").read_text().split()[:2])
    edit_yaml(project.config_dir / "partners" / f"{COUNCIL}.yaml", lambda d: d["sftp"].update(host_keys=[other]))
    assert main(args) == 1
    first = capsys.readouterr().err.splitlines()[0]
    assert first == (
        f"crosswalk check: FAILED: partners/{COUNCIL}.yaml: sftp.host_keys: {server} presented ssh-ed25519 {real},"
        f" which is not pinned (pinned: ssh-ed25519 {fingerprint(other)}); never pin a key because a"
        " server shows it: confirm the fingerprint with Northshire Council by phone"
    )


def test_check_connect_needs_the_connections(capsys):
    assert main(["check", "--offline", "--connect"]) == 2
    assert "--connect needs the connections: leave out --offline" in capsys.readouterr().err
