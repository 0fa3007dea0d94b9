"""A real OpenSSH sshd on 127.0.0.1 for integration tests: own config, host key, users, chroots.

Each partner gets a system user whose SFTP session is chrooted (``internal-sftp``) to
``<base>/chroot/<user>`` with ``inbox``, ``outbox`` and ``quarantine`` folders inside. OpenSSH
demands that every component of a chroot path be root-owned and not group/world-writable, so
the base lives under ``/var/lib`` (not ``/tmp``) and the server must run as root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
BASE_ROOT = Path("/var/lib/crosswalk-tests")
USER_PREFIX = "cwt_"


def sshd_unavailable_reason() -> str | None:
    if not Path(SSHD).exists():
        return "OpenSSH sshd is not installed (apt-get install openssh-server)"
    if os.geteuid() != 0:
        return "a chrooted sshd with its own users needs root"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keygen(path: Path, comment: str = "") -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True)
    return path


@dataclass
class SftpUser:
    name: str
    key: Path  # private key that logs in as this user
    root: Path  # chroot on disk

    def path(self, inside: str) -> Path:
        return self.root / inside.lstrip("/")


@dataclass
class Sshd:
    base: Path
    port: int
    host_key_pub: str
    users: dict[str, SftpUser] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    known_hosts: Path | None = None
    client_port: int | None = None  # where our connections go, when not straight to sshd (a throttled link)

    def connection_json(self, user: str) -> str:
        """An Airflow connection (JSON form, for ``AIRFLOW_CONN_*``) that logs in as ``user``."""
        import json

        u = self.users[user]
        return json.dumps(
            {
                "conn_type": "sftp",
                "host": "127.0.0.1",
                "port": self.client_port or self.port,
                "login": u.name,
                "extra": {"key_file": str(u.key)},
            }
        )

    def sftp_cli(self, user: str, batch: str) -> subprocess.CompletedProcess:
        """Run the OpenSSH ``sftp`` client as a partner would, with strict host-key checking."""
        u = self.users[user]
        return subprocess.run(
            [
                "sftp",
                "-b",
                "-",
                "-i",
                str(u.key),
                "-P",
                str(self.port),
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                f"UserKnownHostsFile={self.known_hosts}",
                "-o",
                "IdentitiesOnly=yes",
                f"{u.name}@127.0.0.1",
            ],
            input=batch,
            text=True,
            capture_output=True,
            check=True,
            timeout=60,
        )

    def start(self) -> None:
        """Start (or start again, on the same port and host key) and wait until it greets."""
        config = self.base / "etc" / "sshd_config"
        with open(self.base / "sshd.log", "ab") as log_file:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=log_file
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    if s.recv(4).startswith(b"SSH-"):
                        return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.1)
        log = (self.base / "sshd.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"sshd did not start: {log}")

    def kill(self) -> None:
        """The server dies: SIGKILL to the listener and every session process under it (open transfers drop)."""
        import signal

        assert self.proc is not None
        for pid in [*descendants(self.proc.pid), self.proc.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.base, ignore_errors=True)


def _ensure_user(name: str) -> None:
    import fcntl

    # Test workers run side by side: one at a time edits the user database (useradd and usermod lock it).
    BASE_ROOT.mkdir(mode=0o755, exist_ok=True)
    with open(BASE_ROOT / ".users.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _ensure_user_locked(name)


def _ensure_user_locked(name: str) -> None:
    if subprocess.run(["id", name], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)
    # '!' (locked) makes sshd refuse even key logins when PAM is off; '*' means "no password".
    subprocess.run(["usermod", "-p", "*", name], check=True)


def start_sshd(partners: list[str]) -> Sshd:
    """Start sshd with one chrooted SFTP user per partner code; the caller must ``stop()`` it."""
    reason = sshd_unavailable_reason()
    if reason:
        raise RuntimeError(reason)
    BASE_ROOT.mkdir(mode=0o755, exist_ok=True)
    base = BASE_ROOT / uuid.uuid4().hex[:10]
    for d in ("etc", "keys", "chroot", "client"):
        (base / d).mkdir(parents=True, mode=0o755)
    os.chmod(base, 0o755)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege-separation dir sshd insists on
    keygen(base / "etc" / "host_ed25519")
    host_key_pub = " ".join((base / "etc" / "host_ed25519.pub").read_text().split()[:2])
    port = free_port()
    server = Sshd(base, port, host_key_pub)

    for code in partners:
        name = USER_PREFIX + code.replace("-", "_")[:24]
        _ensure_user(name)
        key = keygen(base / "client" / name, comment=f"crosswalk-test-{code}")
        (base / "keys" / name).write_text((base / "client" / f"{name}.pub").read_text())
        root = base / "chroot" / name
        root.mkdir(mode=0o755)
        for sub in ("inbox", "outbox", "quarantine"):
            (root / sub).mkdir(mode=0o750)
            shutil.chown(root / sub, user=name, group=name)
        server.users[code] = SftpUser(name, key, root)

    config = base / "etc" / "sshd_config"
    config.write_text(
        f"""Port {port}
ListenAddress 127.0.0.1
HostKey {base}/etc/host_ed25519
PidFile {base}/sshd.pid
AuthorizedKeysFile {base}/keys/%u
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers {" ".join(u.name for u in server.users.values())}
Subsystem sftp internal-sftp
ChrootDirectory {base}/chroot/%u
ForceCommand internal-sftp
AllowTcpForwarding no
X11Forwarding no
PermitTTY no
LogLevel VERBOSE
"""
    )
    subprocess.run([SSHD, "-t", "-f", str(config)], check=True, capture_output=True)
    server.known_hosts = base / "client" / "known_hosts"
    server.known_hosts.write_text(f"[127.0.0.1]:{port} {host_key_pub}\n")
    try:
        server.start()
    except RuntimeError:
        server.stop()
        raise
    return server


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc: each process's parent)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
