"""Both bulk transports against a real OpenSSH sshd: verified, resumable, pinned.

The asyncssh transport and the OpenSSH-client transport promise the same behaviour, so every test
runs against both.
"""

from __future__ import annotations

import hashlib
import logging
import os

import pytest

from crosswalk.errors import HostKeyRejected, MissingDataFile, TransferError
from crosswalk.transfer import asyncssh_bulk, bulk, openssh

pytestmark = pytest.mark.sshd
FAST = bulk.Tuning(block=32 * 1024, max_requests=8, attempts=2, backoff=0.01)


@pytest.fixture(params=["asyncssh", "openssh"])
def transport(request):
    return asyncssh_bulk if request.param == "asyncssh" else openssh


@pytest.fixture
def ep(sshd):
    u = sshd.users["northshire-council"]
    yield bulk.Endpoint("127.0.0.1", sshd.port, u.name, (sshd.host_key_pub,), u.key.read_text())
    for child in (u.root / "inbox").iterdir():
        child.unlink()


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_round_trip_with_many_requests_in_flight(transport, ep, sshd, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # not a multiple of the block
    assert transport.upload(ep, src, "/inbox/x.bin", FAST) == src.stat().st_size
    inbox = sshd.users["northshire-council"].root / "inbox"
    assert sorted(p.name for p in inbox.iterdir()) == ["x.bin"]  # renamed into place, no .part
    out = tmp_path / "out.bin"
    transport.download(ep, "/inbox/x.bin", out, FAST)
    assert _sha(out) == _sha(src) and not (tmp_path / "out.bin.part").exists()


def test_download_resumes_from_a_partial_file(transport, ep, tmp_path, caplog):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(1024 * 1024))
    transport.upload(ep, src, "/inbox/y.bin", FAST)
    part = tmp_path / "out.bin.part"
    part.write_bytes(src.read_bytes()[:400_000])  # what a dropped connection left behind
    with caplog.at_level(logging.INFO, logger=transport.__name__):
        transport.download(ep, "/inbox/y.bin", tmp_path / "out.bin", FAST)
    assert "Resuming y.bin at byte 400000" in caplog.text
    assert _sha(tmp_path / "out.bin") == _sha(src)


def test_unpinned_host_key_is_refused_without_retrying(transport, ep, tmp_path, caplog):
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICfVmTOl1apIbf4eB7l235NaxCJ0pGYRuWaydQzeXWyo"
    bad = bulk.Endpoint(ep.host, ep.port, ep.username, (other,), ep.client_key)
    with pytest.raises(HostKeyRejected, match="not pinned"):
        transport.download(bad, "/inbox/none", tmp_path / "o", FAST)
    assert "retrying" not in caplog.text


def test_missing_remote_file_is_a_data_error(transport, ep, tmp_path):
    with pytest.raises(MissingDataFile):
        transport.download(ep, "/inbox/absent.bin", tmp_path / "o", FAST)


def test_unreachable_server_is_retried_with_backoff_then_fails(transport, ep, tmp_path, caplog):
    from tests.support.sshd import free_port

    down = bulk.Endpoint("127.0.0.1", free_port(), ep.username, ep.host_keys, ep.client_key)
    with pytest.raises(TransferError):
        transport.download(down, "/inbox/x", tmp_path / "o", FAST)
    assert "attempt 1 of 2 failed" in caplog.text


def test_the_openssh_login_key_is_held_by_an_agent_of_ours_never_written_to_disk(ep, sshd, tmp_path, monkeypatch):
    import subprocess

    monkeypatch.setenv("CROSSWALK_WORK_DIR", str(tmp_path / "work"))
    seen = []
    real_run = subprocess.run

    def watching(cmd, *args, **kwargs):  # while OpenSSH runs: what lies in the transfer's directory
        if cmd and str(cmd[0]).endswith("/sftp"):
            files = [p for p in (tmp_path / "work").rglob("*") if p.is_file()]
            seen.append({p.name: p.read_bytes() for p in files})
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(openssh.subprocess, "run", watching)
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(50_000))
    openssh.upload(ep, src, "/inbox/k.bin", FAST)
    notes = {name for files in seen for name in files if name.endswith(".helper")}  # the agent's pid, for the sweep
    assert seen and all(set(files) - notes == {"known_hosts", "id.pub"} for files in seen)
    assert not any(b"PRIVATE KEY" in body for files in seen for body in files.values())
    assert [p for p in (tmp_path / "work").rglob("*") if p.is_file()] == []


def test_a_login_key_with_a_passphrase_is_unlocked_in_memory(sshd, tmp_path):
    import subprocess

    u = sshd.users["northshire-council"]
    locked = tmp_path / "locked"
    locked.write_bytes(u.key.read_bytes())
    locked.chmod(0o600)
    subprocess.run(["ssh-keygen", "-q", "-p", "-N", "correct horse", "-f", str(locked)], check=True)
    assert b"aes256-ctr" in __import__("base64").b64decode("".join(locked.read_text().splitlines()[1:-1]))
    ep = bulk.Endpoint("127.0.0.1", sshd.port, u.name, (sshd.host_key_pub,), locked.read_text(), "correct horse")
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(10_000))
    assert openssh.upload(ep, src, "/inbox/p.bin", FAST) == 10_000
    (u.root / "inbox" / "p.bin").unlink()
