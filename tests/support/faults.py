"""Real faults for the crash-safety tests: a throttled link in front of sshd, a private PostgreSQL cluster
that can be restarted, and task attempts run in processes of their own (so that they can be SIGKILLed)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import REPO
from tests.support.sshd import BASE_ROOT, free_port


class Throttle:
    """A TCP relay on 127.0.0.1 that passes at most ``rate`` bytes a second each way: a slow link, so that a
    fault lands mid-transfer. When the server behind it dies, its connections drop; new ones reach the
    server again once it is back."""

    def __init__(self, upstream_port: int, rate: int) -> None:
        self.upstream_port, self.rate = upstream_port, rate
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                client.close()  # the server is down: the client sees its connection closed
                continue
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        chunk = max(1024, self.rate // 20)
        try:
            src.settimeout(None)
            while data := src.recv(chunk):
                dst.sendall(data)
                time.sleep(len(data) / self.rate)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


PG_BIN = Path("/usr/lib/postgresql")


def pg_bin(name: str) -> str | None:
    found = sorted(PG_BIN.glob(f"*/bin/{name}"))
    return str(found[-1]) if found else None


def private_postgres_unavailable_reason() -> str | None:
    if pg_bin("initdb") is None:
        return "PostgreSQL server binaries are not installed (apt-get install postgresql)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "runuser is needed to run PostgreSQL as the postgres user"
    return None


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (never the shared server): trust auth on 127.0.0.1. Its
    directory is outside pytest's (which only root may enter), as the postgres user must own it."""

    base: Path = field(default_factory=lambda: BASE_ROOT / f"pg-{uuid.uuid4().hex[:10]}")
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *cmd: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *cmd], check=True, capture_output=True, timeout=120)

    def init(self) -> PrivatePostgres:
        data = self.base / "data"
        BASE_ROOT.mkdir(mode=0o755, exist_ok=True)
        self.base.mkdir(mode=0o700)
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        self._as_postgres(pg_bin("initdb") or "initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()
        return self

    def _ctl(self, *args: str) -> None:
        opts = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(pg_bin("pg_ctl") or "pg_ctl", "-D", str(self.base / "data"), "-o", opts, "-w",
                          "-l", str(self.base / "log"), *args)  # fmt: skip

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        """Fast shutdown (every session is cut off mid-statement), then start again."""
        self._ctl("-m", "fast", "restart")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._ctl("-m", "immediate", "stop")
        shutil.rmtree(self.base, ignore_errors=True)


ATTEMPT = """
import json, logging, sys
from types import SimpleNamespace

import airflow.sdk  # configures logging on import: ours is set after it, as a worker's task log would be
from importlib import import_module

logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s", force=True)
task, dag_id, task_id, run_id, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
name, _, index = task_id.rstrip("]").partition("[")  # "ingest_drop[0]": a mapped task's instance
context = {
    "dag_run": SimpleNamespace(dag_id=dag_id, run_id=run_id, run_type="manual", triggering_user_name="ops"),
    "ti": SimpleNamespace(task_id=name, map_index=int(index) if index else -1),
    "params": {},
}
module, _, function = task.partition(":")  # e.g. "dag_inbound:ingest"
body = getattr(import_module(f"crosswalk.orchestration.{module}"), function)
print(json.dumps(body(*args, context), default=str))
"""


@dataclass
class Attempt:
    """One attempt of a generated task's body, in a process of its own, as an Airflow worker runs it."""

    proc: subprocess.Popen
    log: Path

    def wait(self, timeout: float = 300) -> int:
        return self.proc.wait(timeout)

    def until(self, ready: Callable[[], bool], timeout: float = 120) -> None:
        """Wait for ``ready()`` (polled) while the attempt runs; fail if it ends first."""
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"the attempt ended (exit {self.proc.returncode}) before the fault: {self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"the fault never came within {timeout}s: {self.tail()}")
            time.sleep(0.02)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def kill_when(self, ready: Callable[[], bool], timeout: float = 120) -> None:
        """SIGKILL the attempt as soon as ``ready()`` holds."""
        self.until(ready, timeout)
        self.kill()

    def result(self) -> dict:
        assert self.wait() == 0, self.tail()
        return json.loads(self.proc.stdout.read().strip().splitlines()[-1])  # type: ignore[union-attr]

    def tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:]


def attempt(task: str, dag_id: str, task_id: str, run_id: str, *args, log: Path) -> Attempt:
    """Start the task body ``task`` (``module:function`` of :mod:`crosswalk.orchestration`) with
    ``(*args, context)`` for (``dag_id``, ``task_id``, ``run_id``) in a fresh interpreter
    with this process's environment (the project's connections, work root, TMPDIR). A mapped task's instance
    is named as Airflow shows it: ``ingest_drop[0]``."""
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'plugins'}:{REPO}"}
    with open(log, "ab") as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", ATTEMPT, task, dag_id, task_id, run_id, json.dumps(list(args))],
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    return Attempt(proc, log)


def wait_for(ready: Callable[[], bool], timeout: float = 120, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not come within {timeout}s")
        time.sleep(0.02)
