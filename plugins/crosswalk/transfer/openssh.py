"""Bulk transfers through the OpenSSH ``sftp`` client: the same tool a partner uses, at its speed.

Measured on these machines with aes128-gcm, the OpenSSH client moves ~300-390 MB/s where
pure-Python SSH (asyncssh) reaches ~230-250 MB/s, so data files go through OpenSSH when it is
installed and through :mod:`crosswalk.transfer.asyncssh_bulk` otherwise. Same guarantees either way
(:mod:`crosswalk.transfer.bulk`):

- only the pinned host keys are trusted: a private known_hosts holding just them, strict checking,
  no global known_hosts, no agent, no ~/.ssh/config;
- AEAD ciphers and curve25519 key exchange only;
- downloads go to ``<local>.part`` and resume with ``reget``; uploads go to a fresh part name of ours
  (:mod:`crosswalk.transfer.placement`), are renamed into place (OpenSSH's POSIX rename), and their size is checked;
- network failures are retried with backoff; an unpinned host key is never retried.

The login key never rests on disk: it goes over a pipe to an ssh-agent of our own that holds only it,
lives for one transfer and dies with the task (OpenSSH reads the key's public half from a file and asks
the agent to sign). The agent's socket lives in a private directory of the swept work root.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from crosswalk import workroot
from crosswalk.atomic import check_uploaded, part_path
from crosswalk.children import die_with_parent
from crosswalk.errors import AreaObstructed, HostKeyRejected, MissingDataFile, TransferError
from crosswalk.transfer.bulk import Endpoint, EndpointBulk, Tuning, retrying
from crosswalk.transfer.hostkeys import known_hosts_text
from crosswalk.transfer.placement import part_for

log = logging.getLogger(__name__)
SFTP = shutil.which("sftp")
SSH_AGENT, SSH_ADD = shutil.which("ssh-agent"), shutil.which("ssh-add")
AGENT_SOCKET = "agent"
KEY_SECONDS = 60  # how long the agent holds the key: the login (ConnectTimeout 30 s) is over well before


def available() -> bool:
    return SFTP is not None and SSH_AGENT is not None and SSH_ADD is not None


def _unlocked(ep: Endpoint) -> tuple[bytes, str]:
    """The login key without its passphrase (OpenSSH PEM, in memory only) and its public line."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_ssh_private_key(
            ep.client_key.encode(), ep.passphrase.encode() if ep.passphrase else None
        )
    except ValueError:  # a PEM (PKCS#1/PKCS#8) key, as older deployments hold them
        key = serialization.load_pem_private_key(
            ep.client_key.encode(), ep.passphrase.encode() if ep.passphrase else None
        )
    private = key.private_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return private, public.decode()


@contextlib.contextmanager
def _key_agent(ep: Endpoint, directory: Path) -> Iterator[tuple[Path, Path]]:
    """An ssh-agent of our own holding only the login key, for one transfer: the key goes to it over a
    pipe and is never a file, and is held only for ``KEY_SECONDS`` (OpenSSH needs it to log in, not after).
    The agent is stopped when the transfer ends; if the task is killed first (ssh-agent is setgid, so it
    cannot be asked to die with its parent), the next task's sweep stops it. Yields the agent's socket and
    the key's public half (what tells OpenSSH which agent key to use)."""
    private, public = _unlocked(ep)
    sock, pub = directory / AGENT_SOCKET, directory / "id.pub"
    pub.write_text(public + "\n")
    # The socket is named relative to the directory (each process runs there): a Unix socket's path is
    # limited to 107 bytes, which a deep work root would pass.
    agent = subprocess.Popen(
        [SSH_AGENT or "ssh-agent", "-D", "-a", AGENT_SOCKET],
        cwd=directory,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workroot.note_helper(directory, agent.pid)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            if agent.poll() is not None or time.monotonic() > deadline:
                raise TransferError("ssh-agent did not start")
            time.sleep(0.01)
        while True:
            added = subprocess.run(
                [SSH_ADD or "ssh-add", "-q", "-t", str(KEY_SECONDS), "-"],
                input=private,
                env={"SSH_AUTH_SOCK": AGENT_SOCKET, "PATH": os.environ.get("PATH", "")},
                cwd=directory,
                capture_output=True,
                check=False,
            )
            # Exit 2: the agent's socket is bound but not yet listening (it binds, then listens): ask again.
            if added.returncode != 2 or agent.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        if added.returncode != 0:
            raise TransferError(f"ssh-add refused the login key (exit {added.returncode})")
        yield sock, pub
    finally:
        agent.kill()
        agent.wait()


@contextlib.contextmanager
def _session_files(ep: Endpoint) -> Iterator[tuple[Path, Path, Path]]:
    """The agent socket, the login key's public half and a known_hosts of the pinned keys alone, in a
    private directory of the work root for the transfer's length."""
    with workroot.task_dir("ssh") as tmp:
        known = Path(tmp) / "known_hosts"
        known.write_text(known_hosts_text(ep.host, ep.port, ep.host_keys))
        with _key_agent(ep, Path(tmp)) as (sock, pub):
            yield sock, pub, known


def _quote(path: str | Path) -> str:
    text = str(path)
    if any(c in text for c in '"\n\r'):
        raise TransferError(f"refusing a path with quotes or newlines: {text!r}")
    return f'"{text}"'


def _run(ep: Endpoint, t: Tuning, batch: str) -> str:
    with _session_files(ep) as (agent, pub, known):
        cmd = [
            SFTP or "sftp",
            "-b",
            "-",
            "-o",
            "LogLevel=ERROR",  # not -q: it would hide "Host key verification failed"
            "-P",
            str(ep.port),
            "-i",
            str(pub),  # the public half: OpenSSH signs with the matching key in our agent
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"IdentityAgent={AGENT_SOCKET}",  # relative: the client runs in the agent's directory
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={known}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "UpdateHostKeys=no",
            "-o",
            f"Ciphers={','.join(t.encryption_algs)}",
            "-o",
            f"KexAlgorithms={','.join(t.kex_algs)}",
            "-o",
            "ConnectTimeout=30",
            "-o",
            "ServerAliveInterval=15",
            f"{ep.username}@{ep.host}",
        ]
        # Dies with the task: an orphaned client would finish an upload (and rename it into place) after a kill.
        proc = subprocess.run(cmd, input=batch, capture_output=True, text=True, check=False, cwd=agent.parent,
                              preexec_fn=die_with_parent)  # fmt: skip
    err = proc.stderr.strip().splitlines()
    if proc.returncode == 0:
        return proc.stdout
    text = " ".join(err)
    if "Host key verification failed" in text or "REMOTE HOST IDENTIFICATION HAS CHANGED" in text:
        raise HostKeyRejected(f"{ep.host}:{ep.port} presented a host key that is not pinned; refusing to connect")
    if "No such file" in text or "not found" in text:
        raise MissingDataFile(f"not found on {ep.host}: {err[-1] if err else ''}")
    raise TransferError(f"sftp to {ep.host}:{ep.port} failed (exit {proc.returncode}): {err[-1] if err else ''}")


def download(ep: Endpoint, remote: str, local: Path, tuning: Tuning | None = None) -> int:
    t = tuning or Tuning()
    local = Path(local).absolute()  # the client runs in its agent's directory
    part = part_path(local)

    def once() -> None:
        # `reget` continues a partial local file, as a dropped connection leaves it.
        if part.exists() and part.stat().st_size:
            log.info("Resuming %s at byte %d", Path(remote).name, part.stat().st_size)
            _run(ep, t, f"reget {_quote(remote)} {_quote(part)}\n")
        else:
            _run(ep, t, f"get {_quote(remote)} {_quote(part)}\n")

    retrying(f"download {remote}", once, attempts=t.attempts, backoff=t.backoff)
    part.replace(local)
    return local.stat().st_size


def _listed_size(ep: Endpoint, t: Tuning, path: str) -> int:
    """The size ``ls -ln`` shows for ``path`` if it is a regular file (a link or folder shows no size: -1)."""
    listing = [ln.split() for ln in _run(ep, t, f"ls -ln {_quote(path)}\n").splitlines()]
    sizes = [int(f[4]) for f in listing if len(f) >= 9 and f[0].startswith("-") and f[4].isdigit()]
    return sizes[-1] if sizes else -1


def upload(ep: Endpoint, local: Path, remote: str, tuning: Tuning | None = None) -> int:
    """Each attempt sends the whole file to a fresh part name nobody can predict (the client has no exclusive
    create, so an unguessable name is what keeps a planted link out of its way), checks the part is our
    regular file of the size sent, renames it (OpenSSH's POSIX rename) and checks the result. A failed
    attempt's part is a stale part of ours, removed before the next upload to the name
    (:func:`crosswalk.transfer.placement.clear_way`)."""
    t = tuning or Tuning()
    local = Path(local).absolute()  # the client runs in its agent's directory
    size = local.stat().st_size

    def once() -> None:
        part = part_for(remote)
        _run(ep, t, f"put {_quote(local)} {_quote(part)}\n")
        if _listed_size(ep, t, part) != size:
            raise AreaObstructed(f"{Path(part).name}: our part file was changed before its rename")
        _run(ep, t, f"rename {_quote(part)} {_quote(remote)}\n")
        check_uploaded(remote, size, _listed_size(ep, t, remote))

    retrying(f"upload {remote}", once, attempts=t.attempts, backoff=t.backoff)
    return size


class OpenSshBulk(EndpointBulk):
    """Bulk transfers to one partner through the OpenSSH client (a :class:`~crosswalk.transfer.bulk.Bulk`)."""

    _download = staticmethod(download)
    _upload = staticmethod(upload)
