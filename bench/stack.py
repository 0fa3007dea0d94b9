"""Throughput of the compose stack with one Celery worker and with two: `make bench-stack`.

For each worker count, a fresh stack (`down -v`, `up`; the second worker stopped for the one-worker run); the
board drops its CHI index and the council ``--drops`` extracts of ``--rows`` clients each (standard tools:
age, ssh-keygen, sftp); then, timed, the three runs an operator triggers: the index in, the clients in (mapped
``ingest_drop`` and ``match_batch`` per drop), the clients out to the board (mapped ``deliver_batch`` per
batch). Prints wall seconds per run and in all, client rows per second, and the ratio of two workers to one.
Needs the images (`make compose-images`; offline stand-ins with CROSSWALK_OFFLINE=1) and a Docker engine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]

from crosswalk.demo.synthetic import CLIENT_COLUMNS, INDEX_COLUMNS, client_rows, index_rows, people, write_csv  # noqa: E402
from tests.support.compose_stack import COUNCIL, LOCAL, NHS, Partner, Stack, docker_engine  # noqa: E402

RUNS = ("inbound_health_index", "inbound_council_clients", "outbound_clients_to_health")


def one(workers: int, drops: int, rows: int, work: Path) -> dict:
    stack = Stack(concurrency=4)
    stack.compose("down", "-v", "--remove-orphans", check=False)
    stack.compose("up", "-d", "--no-build")
    stack.wait_healthy()
    if workers == 1:
        stack.compose("stop", "airflow-worker-2")
    ours = next(ln for ln in (LOCAL / "secrets" / "crosswalk.agekey").read_text().splitlines()
                if ln.startswith("# public key:")).split()[-1]  # fmt: skip
    population = people(drops * rows + rows, seed=11)
    nhs, council = Partner(NHS, work), Partner(COUNCIL, work)
    nhs.drop(write_csv(index_rows(population), INDEX_COLUMNS, work / "chi_index_20261127.csv"),
             "health-index", "health_board_index", ours)  # fmt: skip
    for i in range(drops):
        chunk = population[i * rows : (i + 1) * rows]
        plain = write_csv(client_rows(chunk), CLIENT_COLUMNS, work / f"clients_2026{1101 + i:04d}.csv")
        council.drop(plain, "council-clients", "social_care_client", ours)
    stack.login()
    for dag_id in RUNS:
        stack.wait_for_dag(dag_id)
    seconds = {}
    t_all = time.monotonic()
    for dag_id in RUNS:
        t0 = time.monotonic()
        stack.wait_run(dag_id, stack.trigger(dag_id), timeout=3600)
        seconds[dag_id] = time.monotonic() - t0
    total = time.monotonic() - t_all
    stack.compose("down", "-v", "--remove-orphans", check=False)
    return {"workers": workers, "seconds": seconds, "total": total, "rows": drops * rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drops", type=int, default=12, help="council extracts (each one batch)")
    parser.add_argument("--rows", type=int, default=20000, help="clients per extract")
    args = parser.parse_args()
    docker_engine()
    subprocess.run([sys.executable, str(ROOT / "docker" / "compose_keys.py")], check=True, capture_output=True)
    results = []
    for workers in (1, 2):
        with tempfile.TemporaryDirectory(prefix="crosswalk-bench-stack-") as work:
            results.append(one(workers, args.drops, args.rows, Path(work)))
            r = results[-1]
            print(f"{workers} worker(s): {r['total']:.0f} s, {r['rows'] / r['total']:.0f} client rows/s", flush=True)
    print(f"\n{args.drops} council drops of {args.rows:,} clients ({args.drops * args.rows:,} rows) and a CHI index of "
          f"{(args.drops + 1) * args.rows:,}; CeleryExecutor, 4 task slots per worker")  # fmt: skip
    print(f"{'run':<30} {'1 worker s':>11} {'2 workers s':>12} {'ratio':>6}")
    one_w, two_w = results
    for dag_id in RUNS:
        a, b = one_w["seconds"][dag_id], two_w["seconds"][dag_id]
        print(f"{dag_id:<30} {a:>11.0f} {b:>12.0f} {a / b:>6.2f}")
    print(f"{'all three':<30} {one_w['total']:>11.0f} {two_w['total']:>12.0f} {one_w['total'] / two_w['total']:>6.2f}")
    print(f"{'client rows per second':<30} {one_w['rows'] / one_w['total']:>11.0f} "
          f"{two_w['rows'] / two_w['total']:>12.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
