"""``crosswalk demo``: the main job end to end, on this machine, with nothing to install.

1. Two SFTP servers on loopback (asyncssh), one per demo organisation, each with its own host
   key and chrooted area; Crosswalk's login keys and the pinned host keys are generated fresh.
2. Synthetic data for both organisations, dropped into their outboxes as a partner would:
   encrypted to our age recipient, the manifest signed with the partner's SSH key; data file
   first, manifest next, signature last.
3. The real DAGs, run by Airflow itself (``dag.test()``, all in one Airflow process) against SQLite.
   That process starts first: its start-up is most of the demo's time, so everything else happens
   meanwhile (:mod:`crosswalk.demo.runs`).
4. A summary of what moved where, and where to look. Every process started is stopped, on every
   exit path (a failed step, Ctrl-C, SIGTERM).

This module imports only the standard library, so Airflow's process starts at once; the rest of the
demo's world is :mod:`crosswalk.demo.scene`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

from crosswalk.paths import BUNDLE_ROOT

DAG_ORDER = [
    "inbound_health_index",  # first, so the council's clients are matched against the CHI index
    "inbound_health_restricted",  # the governed lists the agreements withhold people by, before anything leaves
    "inbound_council_objections",
    "inbound_council_clients",
    "outbound_clients_to_health",  # only the clients matched to the board's records, bar those who objected
    "outbound_chi_numbers_to_council",  # the CHI numbers matching found, back to the council for its own clients
    "publish_social_care_summary",  # the board's portal table, keyed by CHI
    "open_data_care_packages_open_data",  # aggregates -> disclosure control -> data package -> file drop
]


def _say(msg: str = "") -> None:
    print(msg, flush=True)


def _start_servers(work: Path, spec_file: Path, stack: contextlib.ExitStack) -> dict[str, int]:
    """Start the demo's SFTP servers; their ports. ``stack`` stops them, however the demo ends (registered
    before anything can fail, so a server that started is never left running)."""
    log = stack.enter_context((work / "logs" / "sftp-servers.log").open("wb"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "crosswalk.demo.sftpserver", str(spec_file)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stack.callback(_stop, proc, "the demo SFTP servers")
    ready = spec_file.with_name("ready")  # written whole, by rename: once it exists it is complete
    deadline = time.monotonic() + 30
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise DemoFailed(f"the demo SFTP servers did not start; see {work / 'logs' / 'sftp-servers.log'}")
        time.sleep(0.05)
    return json.loads(ready.read_text())


class DemoFailed(Exception):
    """A step of the demo failed; the message says which and where its log is."""


def _stop(proc: subprocess.Popen, what: str) -> None:
    """Stop a process the demo started, and everything it started (its own process group)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        _say(f"  stopped {what}")


@contextlib.contextmanager
def _sigterm_as_exit():
    """Turn SIGTERM into SystemExit while the demo runs, so a demo stopped by its caller still stops what it
    started; the previous handler comes back afterwards."""

    def handler(signum, _frame):
        raise SystemExit(128 + signum)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _airflow_env(work: Path) -> dict[str, str]:
    """The Airflow process's environment: its home, the bundle, our config copy and our database. Our
    secrets and the SFTP logins follow when it is told to go (:func:`_run_dags`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(work / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(BUNDLE_ROOT),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CROSSWALK__CONFIG_DIR": str(work / "config"),
            "AIRFLOW_CONN_CROSSWALK_DB": json.dumps({"conn_type": "sqlite", "host": str(work / "crosswalk.db")}),
        }
    )
    return env


def _start_airflow(env: dict[str, str], logs: Path, stack: contextlib.ExitStack) -> subprocess.Popen:
    """Start the one Airflow process that will run every demo DAG (:mod:`crosswalk.demo.runs`); it gets
    Airflow up while the partners drop their files, then waits for :func:`_run_dags`."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "crosswalk.demo.runs", str(logs), *DAG_ORDER],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stack.enter_context((logs / "airflow.log").open("ab")),
        text=True,
        start_new_session=True,
    )
    stack.callback(_stop, proc, "the Airflow process")
    return proc


def _run_dags(proc: subprocess.Popen, logs: Path, connections: dict[str, str]) -> dict[str, str]:
    """Let the Airflow process run the DAGs, in order, with these extra ``connections``; their states."""
    assert proc.stdin is not None and proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise DemoFailed(f"Airflow did not start; see {logs / 'airflow-db.log'} and {logs / 'airflow.log'}")
    proc.stdin.write("go " + json.dumps(connections) + "\n")
    proc.stdin.close()
    states = {}
    for line in proc.stdout:
        dag_id, state, *_ = [*line.split(), "", ""]
        if dag_id in DAG_ORDER:
            states[dag_id] = state
            _say(f"  {dag_id}: {state}")
        else:
            _say(f"  {line.strip()}")
    proc.wait()
    for dag_id in DAG_ORDER:
        states.setdefault(dag_id, "not run")
    return states


def run_demo(work: Path, rows: int = 500) -> int:
    """The demo; 0 if every DAG succeeded. Whatever happens (a failed step, Ctrl-C, SIGTERM), every
    process it started is stopped before it returns."""
    with _sigterm_as_exit(), contextlib.ExitStack() as stack:
        try:
            return _demo(work.resolve(), rows, stack)
        except DemoFailed as exc:
            _say(f"  FAILED: {exc}")
            return 1


def _demo(work: Path, rows: int, stack: contextlib.ExitStack) -> int:
    if work.exists():
        shutil.rmtree(work)
    (work / "logs").mkdir(parents=True)
    (work / "data").mkdir()
    t0 = time.monotonic()
    # Airflow first: its start-up is the longest step, and needs nothing of what follows until the DAGs run.
    airflow = _start_airflow(_airflow_env(work), work / "logs", stack)
    from crosswalk.demo import scene, synthetic  # after Airflow has started: a second or two of imports

    scene.say(
        "Crosswalk demo: Northshire Council <--SFTP--> Crosswalk <--SFTP--> NHS Northshire, under the ISP's agreements"
    )
    scene.say(f"  working directory: {work}")
    spec_file, host_keys, client_keys = scene.server_areas(work)
    keys = scene.make_keys()
    config = scene.write_config(work, host_keys, keys)
    ports = _start_servers(work, spec_file, stack)
    council, nhs = scene.COUNCIL, scene.NHS
    scene.say(
        f"  SFTP servers up: {council} on 127.0.0.1:{ports[council]}, {nhs} on 127.0.0.1:{ports[nhs]}"
        " (own host keys, pinned; key-only logins)"
    )

    stamp = date.today().strftime("%Y%m%d")
    persons = synthetic.people(int(rows * 1.5), seed=2026)
    data = work / "data"
    client_list = synthetic.client_rows(persons[:rows])
    clients = synthetic.write_csv(client_list, synthetic.CLIENT_COLUMNS, data / f"clients_{stamp}.csv")
    index = synthetic.write_csv(synthetic.index_rows(persons), synthetic.INDEX_COLUMNS, data / f"chi_index_{stamp}.csv")
    # One client objected to sharing with the board (the council's register); one client's NHS record is
    # restricted (the board's list): the agreements withhold both, and the IG report counts them.
    objections = synthetic.write_csv(
        synthetic.list_rows(source_ids=[client_list[1]["source_id"]]), synthetic.LIST_COLUMNS,
        data / f"objections_{stamp}.csv",
    )  # fmt: skip
    restricted = synthetic.write_csv(
        synthetic.list_rows(chis=[persons[2].chi]), synthetic.LIST_COLUMNS, data / f"restricted_{stamp}.csv"
    )
    for partner_code, plain, feed, schema_id in (
        (council, clients, "council-clients", "social_care_client"),
        (council, objections, "council-objections", "person_list"),
        (nhs, index, "health-index", "health_board_index"),
        (nhs, restricted, "health-restricted", "person_list"),
    ):
        scene.partner_drop(ports[partner_code], host_keys[partner_code], client_keys[partner_code], plain, feed,
                           schema_id, partner_code, keys)  # fmt: skip
    scene.say(
        f"  partners dropped {clients.name} ({rows} synthetic clients), {index.name} ({len(persons)} people),"
        f" {objections.name} (1 objection) and {restricted.name} (1 restricted record)"
    )

    scene.say("  running the DAGs in one Airflow process (dag.test, SQLite metadata database) ...")
    connections = {**scene.secret_connections(config, keys), **scene.sftp_connections(ports, client_keys)}
    scene.keep_disclosure_key(work, connections)
    states = _run_dags(airflow, work / "logs", connections)
    report = scene.ig_report(work)
    scene.summary(work, states, time.monotonic() - t0, keys, report)
    return 0 if all(s == "success" for s in states.values()) else 1
