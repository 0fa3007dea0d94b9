"""Run DAGs of the bundle one after another in this one process, as ``dag.test()`` runs them.

``python -m crosswalk.demo.runs LOG_DIR DAG_ID ...``, with ``AIRFLOW_HOME`` and the connections already in
the environment (:mod:`crosswalk.demo.run` sets them). One process pays Airflow's start-up once (imports,
the metadata database, the in-process task API) instead of once per DAG. Each DAG's output goes to
``LOG_DIR/<dag_id>.log``. Standard output says ``ready`` once Airflow is up, then the process waits for
``go {connections as JSON}`` on standard input (so its start-up overlaps the caller's own; the
connections are our secrets and the SFTP logins, made meanwhile), then parses the bundle (the caller has
written the configuration by then) and prints one line per DAG as it finishes:
``<dag_id> <state> <seconds> <peak RSS MB>`` (the peak of this process during that run alone).
With ``--step`` first, it waits for ``next`` on standard input before each DAG, so a benchmark can run
its reference between them.
Stops at the first DAG that does not succeed: the later ones depend on it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def _output_to(path: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors 1 and 2, so Airflow's own handlers too)
    to ``path`` for the duration."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with path.open("ab") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _reset_peak_rss() -> None:
    """Start this process's peak-RSS count afresh (Linux: ``5`` to ``clear_refs`` resets VmHWM), after
    handing memory the last run freed back to the system, so each run's peak is its own."""
    import ctypes
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak_rss_mb() -> int:
    with contextlib.suppress(OSError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return 0


def main(log_dir: Path, dag_ids: list[str], step: bool = False) -> int:
    out = os.fdopen(os.dup(1), "w", buffering=1)  # ours, whatever Airflow does with fd 1
    with _output_to(log_dir / "airflow-db.log"):
        from airflow.dag_processing.dagbag import DagBag
        from airflow.utils import db

        from crosswalk.paths import BUNDLE_ROOT

        db.initdb()
        # Airflow's in-process task API takes seconds to build; build it while the caller gets ready.
        import httpx
        from airflow.sdk.execution_time.supervisor import in_process_api_server

        # The app is built on first access and cached for the process; its routes (Cadwyn's versioned
        # schemas) only on its first request, so send one.
        with httpx.Client(transport=in_process_api_server().transport, base_url="http://in-process.invalid") as c:
            c.get("/")
    print("ready", file=out)
    word, _, connections = sys.stdin.readline().partition(" ")
    if word != "go":  # the caller gave up
        return 1
    # The configuration and the partners' drops are in place; our secrets and the SFTP logins come with
    # the word to go.
    os.environ.update({k: v for k, v in json.loads(connections).items() if k.startswith("AIRFLOW_CONN_")})
    with _output_to(log_dir / "airflow-db.log"):
        bag = DagBag(
            dag_folder=str(BUNDLE_ROOT / "dags"), safe_mode=False, bundle_path=BUNDLE_ROOT, bundle_name="dags-folder"
        )
    if bag.import_errors:
        print(f"import errors in {sorted(bag.import_errors)}; see {log_dir / 'airflow-db.log'}", file=out)
        return 1
    for dag_id in dag_ids:
        if step and sys.stdin.readline().strip() != "next":  # a benchmark runs something else in between
            return 1
        _reset_peak_rss()
        started = time.perf_counter()
        with _output_to(log_dir / f"{dag_id}.log"):
            state = str(bag.dags[dag_id].test().state)
        print(dag_id, state, f"{time.perf_counter() - started:.2f}", _peak_rss_mb(), file=out)
        if state != "success":
            return 1
    return 0


if __name__ == "__main__":
    stepped = sys.argv[1] == "--step"
    args = sys.argv[2:] if stepped else sys.argv[1:]
    code = main(Path(args[0]), args[1:], step=stepped)
    sys.stdout.flush()
    # Every run's work is committed by now; skip the interpreter's teardown, where the in-process task API's
    # threads take seconds to wind down.
    os._exit(code)
