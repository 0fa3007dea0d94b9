"""A real Airflow stack for one test module: ``airflow standalone`` (api-server, scheduler, DAG processor,
triggerer, LocalExecutor) against the repository's bundle, a fresh PostgreSQL metadata database and
the test's Crosswalk deployment (connections and config through the environment, as in production).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import REPO
from tests.support.env import postgres_database

USER = "ops"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    url: str
    password: str
    home: Path
    log: Path
    _token: str = ""

    def token(self) -> str:
        if not self._token:
            status, body = self._call("POST", "/auth/token", {"username": USER, "password": self.password}, auth=False)
            assert status in (200, 201), body
            self._token = body["access_token"]
        return self._token

    def api(self, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        """The public REST API (``/api/v2``), as the UI and scripts use it."""
        return self._call(method, "/api/v2" + path, body)

    def _call(self, method: str, path: str, body: dict | None, auth: bool = True) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, raw.decode(errors="replace")

    def runs(self, dag_id: str) -> list[dict]:
        status, body = self.api("GET", f"/dags/{dag_id}/dagRuns?order_by=run_after&limit=100")
        assert status == 200, body
        return body["dag_runs"]

    def dag(self, dag_id: str) -> dict | None:
        status, body = self.api("GET", f"/dags/{dag_id}/details")
        return body if status == 200 else None

    def wait(self, what: str, check: Callable[[], Any], timeout: float = 180, every: float = 2) -> Any:
        """Poll ``check`` until it returns something truthy; fail naming ``what`` and the log's tail."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            time.sleep(every)
        tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-60:])
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n--- standalone log ---\n{tail}")

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 240) -> dict:
        def done():
            status, run = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")
            return run if status == 200 and run["state"] in ("success", "failed") else None

        return self.wait(f"run {run_id} of {dag_id} to finish", done, timeout)


@contextlib.contextmanager
def airflow_stack(home: Path, env: dict[str, str]) -> Iterator[Stack]:
    """Start ``airflow standalone`` with ``env`` on top of a clean environment; stop its whole group after."""
    home.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    password = secrets.token_urlsafe(12)
    (home / "passwords.json").write_text(json.dumps({USER: password}))
    log = home / "standalone.log"
    with postgres_database() as meta_url:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW"))}
        full = {
            **base,
            "PATH": f"{REPO / '.venv' / 'bin'}:/usr/sbin:/usr/bin:/bin",
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta_url,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": meta_url,  # psycopg 3 is async too (no asyncpg)
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            # Re-parse quickly, so a graduation shows up within seconds of the run that earns it.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
            **env,
        }
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [str(REPO / ".venv" / "bin" / "airflow"), "standalone"],
                env=full,
                cwd=home,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        stack = Stack(f"http://127.0.0.1:{port}", password, home, log)
        try:

            def healthy():
                if proc.poll() is not None:
                    raise AssertionError(
                        f"airflow standalone exited with {proc.returncode}:\n{log.read_text()[-4000:]}"
                    )
                try:
                    with urllib.request.urlopen(stack.url + "/api/v2/monitor/health", timeout=5) as resp:
                        h = json.loads(resp.read())
                except (OSError, ValueError):
                    return False
                parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
                return all((h.get(p) or {}).get("status") == "healthy" for p in parts)

            stack.wait("the api-server, scheduler, DAG processor and triggerer to be healthy", healthy, timeout=300)
            # The deployment step the README gives: the SFTP pools the DAGs use (without them, tasks never run).
            pools = home / "pools.json"
            for cmd in (["crosswalk", "pools", "--out", str(pools)], ["airflow", "pools", "import", str(pools)]):
                subprocess.run([str(REPO / ".venv" / "bin" / cmd[0]), *cmd[1:]], env=full, cwd=home, check=True,
                               capture_output=True, timeout=120)  # fmt: skip
            yield stack
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
