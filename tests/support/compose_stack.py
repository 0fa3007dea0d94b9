"""The compose stack, driven as ops and partners drive it: the engine, `docker-compose`, health, the REST API, and
partners with standard tools (age, ssh-keygen, sftp) on the SFTP containers' published ports. Used by
`make compose-test` (docker/compose_test.py) and the stack benchmark (bench/stack.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from crosswalk import partner as partner_side

ROOT = Path(__file__).resolve().parents[2]
PROJECT = os.environ.get("COMPOSE_PROJECT_NAME", "crosswalk-test")
API = "http://127.0.0.1:8080"
COUNCIL, NHS = "northshire-council", "nhs-northshire"
PORTS = {COUNCIL: 2221, NHS: 2222}
LOCAL = ROOT / ".compose"


class StackFailed(Exception):
    def __init__(self, message: str, service: str | None = None) -> None:
        super().__init__(message)
        self.service = service


def say(message: str) -> None:
    print(f"compose-test: {message}", flush=True)


def run(*cmd: str, check: bool = True, env: dict | None = None, input: str | None = None):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, env=env, input=input)


def docker_engine() -> None:
    if run("docker", "info", check=False).returncode == 0:
        return
    say("no Docker engine answers; starting dockerd --storage-driver=vfs")
    LOCAL.mkdir(exist_ok=True)
    log = open(LOCAL / "dockerd.log", "ab")  # noqa: SIM115 (the engine outlives this process)
    subprocess.Popen(["dockerd", "--storage-driver=vfs"], stdout=log, stderr=log, start_new_session=True)
    for _ in range(60):
        if run("docker", "info", check=False).returncode == 0:
            return
        time.sleep(1)
    raise StackFailed("dockerd did not start (see .compose/dockerd.log)")


def compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return ["docker", "compose"]


class Stack:
    def __init__(self, concurrency: int = 2, config_dir: str | None = None) -> None:
        self.env = dict(os.environ, COMPOSE_PROJECT_NAME=PROJECT)
        if config_dir is not None:  # a variant of the pinned config, for a test; the shell's value beats .env
            self.env["CROSSWALK_CONFIG_DIR"] = config_dir
        images = LOCAL / "images.env"
        for line in images.read_text().splitlines() if images.exists() else []:
            key, _, value = line.partition("=")
            self.env[key] = value
        # Fewer slots per worker than the mapped tasks: Celery must use both workers. A dead worker's task is
        # failed after 30 s without a heartbeat and retried on a live one.
        self.env.update(CROSSWALK_WORKER_CONCURRENCY=str(concurrency), CROSSWALK_HEARTBEAT_TIMEOUT="30")
        self.token = ""

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(*compose_command(), "-f", str(ROOT / "docker-compose.yaml"), *args, check=check, env=self.env)

    def container(self, service: str) -> str:
        return self.compose("ps", "-q", service).stdout.strip()

    def wait_healthy(self, timeout: float = 900) -> None:
        services = self.compose("config", "--services").stdout.split()
        deadline = time.monotonic() + timeout
        while True:
            states = {}
            for service in services:
                cid = self.container(service)
                if not cid:
                    states[service] = "absent"
                    continue
                info = json.loads(run("docker", "inspect", cid).stdout)[0]["State"]
                health = (info.get("Health") or {}).get("Status")
                states[service] = health or info["Status"]
                if service == "airflow-init" and info["Status"] == "exited":
                    states[service] = "done" if info["ExitCode"] == 0 else "failed"
            waiting = {s: st for s, st in states.items() if st not in ("healthy", "running", "done")}
            failed = [s for s, st in states.items() if st in ("failed", "exited", "dead")]
            if failed:
                raise StackFailed(f"{failed[0]} {states[failed[0]]}", failed[0])
            if not waiting:
                return
            if time.monotonic() > deadline:
                first = next(iter(waiting))
                raise StackFailed(f"not healthy after {timeout:.0f} s: {waiting}", first)
            time.sleep(5)

    def log_tail(self, service: str, lines: int = 60) -> str:
        return self.compose("logs", "--no-color", "--tail", str(lines), service, check=False).stdout

    # The REST API, as an operator would use it.
    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body else None
        req = urllib.request.Request(f"{API}{path}", method=method, data=data)
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=60) as resp:
            text = resp.read().decode()
        return json.loads(text) if text else {}

    def login(self) -> None:
        password = json.loads((LOCAL / "passwords.json").read_text())["ops"]
        self.token = self.api("POST", "/auth/token", {"username": "ops", "password": password})["access_token"]

    def wait_for_dag(self, dag_id: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
                return
            except urllib.error.HTTPError as exc:
                if exc.code != 404 or time.monotonic() > deadline:
                    raise
            time.sleep(3)

    def trigger(self, dag_id: str) -> str:
        run_ = self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": {}})
        return run_["dag_run_id"]

    def state(self, dag_id: str, run_id: str) -> str:
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=500")["task_instances"]

    def sql(self, query: str) -> list[str]:
        """A query against Crosswalk's database in the postgres container; its values, whitespace-split."""
        out = self.compose("exec", "-T", "postgres", "psql", "-U", "crosswalk", "-d", "crosswalk", "-tAc", query)
        return out.stdout.split()

    def wait_for(self, what: str, check, timeout: float = 180):
        deadline = time.monotonic() + timeout
        while not (result := check()):
            if time.monotonic() > deadline:
                raise StackFailed(f"no {what} after {timeout:.0f} s", "airflow-triggerer")
            time.sleep(2)
        return result

    def task_log_tail(self, dag_id: str, run_id: str, ti: dict, lines: int = 40) -> str:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/logs/{ti['try_number']}"
        path += f"?map_index={ti.get('map_index', -1)}&full_content=true"
        try:
            content = self.api("GET", path).get("content") or []
        except urllib.error.HTTPError as exc:
            return f"(log not available: HTTP {exc.code})"
        events = [c.get("event", "") if isinstance(c, dict) else str(c) for c in content]
        return "\n".join(events[-lines:])

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 900, during=None) -> str:
        deadline = time.monotonic() + timeout
        while (state := self.state(dag_id, run_id)) in ("queued", "running"):
            if during is not None:
                during()
            if time.monotonic() > deadline:
                raise StackFailed(f"{dag_id} {run_id} still {state} after {timeout:.0f} s", "airflow-scheduler")
            time.sleep(0.5 if during is not None else 2)  # watching for a moment to act: look often
        if state != "success":
            bad = [t for t in self.task_instances(dag_id, run_id) if t["state"] not in ("success", "skipped")]
            failed = [f"{t['task_id']}[{t.get('map_index')}]: {t['state']}" for t in bad]
            for t in [t for t in bad if t["state"] == "failed"][:1]:  # the first failure's own words
                say(f"--- {t['task_id']}[{t.get('map_index')}] try {t['try_number']}: its log's last lines ---")
                print(self.task_log_tail(dag_id, run_id, t), flush=True)
            raise StackFailed(f"{dag_id} {run_id} ended {state}: {failed}", "airflow-worker-1")
        return state


class Partner:
    """A partner organisation with standard tools only: age, ssh-keygen, sftp."""

    def __init__(self, code: str, work: Path) -> None:
        self.code, self.work = code, work
        keys = LOCAL / "partners" / code
        self.login, self.signing = keys / "login_ed25519", keys / "signing_ed25519"
        self.identity = keys / "partner.agekey"
        self.known_hosts = work / f"known_hosts_{code}"
        host_pub = (LOCAL / "sftp" / code / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        self.known_hosts.write_text(f"[127.0.0.1]:{PORTS[code]} {' '.join(host_pub)}\n")

    def sftp(self, batch: str) -> str:
        cmd = ["sftp", "-q", "-b", "-", "-P", str(PORTS[self.code]), "-i", str(self.login),
               "-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=yes",
               "-o", "GlobalKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes", "partner@127.0.0.1"]  # fmt: skip
        return run(*cmd, input=batch).stdout

    def drop(self, plain: Path, feed: str, schema_id: str, recipient: str) -> None:
        files = partner_side.make_drop(plain, feed=feed, schema_id=schema_id, sender=self.code, recipient=recipient,
                                       signing_key=self.signing, tools=True)  # fmt: skip
        self.sftp("".join(f"put {f} /outbox/{f.name}\n" for f in files.in_upload_order()))

    def inbox(self, folder: str = "/inbox") -> list[str]:
        listing = self.sftp(f"ls -1 {folder}\n").splitlines()
        return sorted(ln.split()[-1].rsplit("/", 1)[-1] for ln in listing if ln.strip() and not ln.startswith("sftp>"))
