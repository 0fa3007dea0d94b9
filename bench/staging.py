"""Staging benchmark: the client extract into PostgreSQL, ours beside plain ``psql \\copy``.

Usage: ``.venv/bin/python bench/staging.py [--rows 1000000 5000000] [--runs 1]`` (or
``make bench-staging``). For each size it writes one CSV of the social-care client extract (the
demo's synthetic clients, repeated with fresh source ids), then, alternating which goes first:

- crosswalk: ``stage_file`` as the inbound flow calls it on a validated file: one transaction that
  replaces the batch, ``COPY ... FROM STDIN`` with the batch id and row number added, the ledger
  updated; into ``stg_social_care_client`` with its primary key;
- psql \\copy (staging table): ``\\copy`` of the same CSV into the same table, its batch id and row
  numbers from the same column defaults (set through ``PGOPTIONS``): the same load with nothing of
  ours around it, the reference for the target (>= 70%);
- psql \\copy (bare table): into a table of the extract's own columns and types with no key: the
  ceiling for getting these bytes into PostgreSQL at all.

Each route runs in its own process against a fresh database; the table prints wall seconds, rows/s,
peak RSS of the loading process (ours: Python; psql: psql itself, its VmHWM) and ours as a share of
the staging-table ``\\copy``.
Validation (a separate pass before staging) is timed on its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ADMIN = os.environ.get("CROSSWALK_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DB = "crosswalk_bench_staging"
PSQL = "psql \\copy"


def _url(db: str) -> str:
    return ADMIN.rsplit("/", 1)[0] + "/" + db


def _fresh_database() -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DB}"'))
    admin.dispose()


def _write_csv(rows: int, path: Path) -> None:
    import pandas as pd

    from crosswalk.demo.synthetic import CLIENT_COLUMNS, client_rows, people

    base = pd.DataFrame(client_rows(people(100_000)), columns=CLIENT_COLUMNS)
    with path.open("w", encoding="utf-8", newline="") as f:
        for start in range(0, rows, len(base)):
            part = base.iloc[: min(len(base), rows - start)].copy()
            part["source_id"] = [f"MOS{i:09d}" for i in range(start + 1, start + len(part) + 1)]
            part.to_csv(f, index=False, header=start == 0, lineterminator="\n")


def _child(route: str, csv_path: str, rows: int) -> None:
    """Run one route in this (fresh) process and print a JSON line."""
    from sqlalchemy import text

    from crosswalk.config.loader import load_config
    from crosswalk.schemas.validate import validate_csv
    from crosswalk.staging import ledger
    from crosswalk.staging.db import make_engine
    from crosswalk.staging.migrations import upgrade
    from crosswalk.staging.tables import stage_file

    schema = load_config().schemas["social_care_client"]
    engine = make_engine(_url(DB))
    upgrade(engine)
    result = {}
    if route == "crosswalk":
        batch = ledger.Batch("b-1", "council-clients", "p", "0" * 64, "c.csv", None, None, schema.id, ledger.RECEIVED)
        ledger.open_batch(engine, batch, "bench", "bench")
        t0 = time.perf_counter()
        with open(csv_path, "rb") as f:
            staged = stage_file(engine, "stg_social_care_client", "b-1", schema, f, rows)
        result["seconds"] = time.perf_counter() - t0
        assert staged == rows, (staged, rows)
        result["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before validating
        t0 = time.perf_counter()
        with open(csv_path, "rb") as f:
            assert validate_csv(f, schema).ok
        result["validate_seconds"] = time.perf_counter() - t0
    else:
        cols = ", ".join(schema.field_names)
        env = dict(os.environ)
        if route == "psql-bare":
            table = "plain_client"
            with engine.begin() as conn:
                conn.execute(text(f"CREATE TABLE {table} AS SELECT {cols} FROM stg_social_care_client WHERE false"))
        else:  # the staging table, its batch id and row numbers from the same defaults stage_file uses
            table = "stg_social_care_client"
            with engine.begin() as conn:
                base = conn.execute(text("SELECT nextval('stg_social_care_client_row_seq')")).scalar_one()
            env["PGOPTIONS"] = f"-c crosswalk.batch_id=b-1 -c crosswalk.row_base={base}"
        host_db = ["-h", "127.0.0.1", "-U", "postgres", "-d", DB, "-v", "ON_ERROR_STOP=1"]
        t0 = time.perf_counter()
        psql = subprocess.Popen(
            ["psql", *host_db, "-q", "-c", f"\\copy {table} ({cols}) FROM '{csv_path}' WITH (FORMAT csv, HEADER)"],
            env=env,
        )
        result["rss_mb"] = _peak_rss_mb(psql)
        result["seconds"] = time.perf_counter() - t0
        assert psql.returncode == 0, psql.returncode
    with engine.connect() as conn:
        table = "plain_client" if route == "psql-bare" else "stg_social_care_client"
        assert conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one() == rows
    engine.dispose()
    print(json.dumps(result))


def _peak_rss_mb(proc: subprocess.Popen) -> float:
    """psql's own high-water mark (VmHWM), polled until it exits. getrusage's figure for a child
    would include this Python process's pages from before the child's exec."""
    peak = 0
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
            peak = max(peak, int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))))
        except (FileNotFoundError, StopIteration, ProcessLookupError):
            pass
        time.sleep(0.05)
    return peak / 1024


def _run(route: str, csv_path: Path, rows: int) -> dict:
    _fresh_database()
    out = subprocess.run(
        [sys.executable, __file__, "--child", route, str(csv_path), str(rows)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 5_000_000])
    ap.add_argument("--runs", type=int, default=1, help="runs per route per size (median reported)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], int(args.child[2]))
        return
    print(f"{'rows':>10}  {'route':<32} {'seconds':>8} {'rows/s':>10} {'peak RSS MB':>12} {'share':>6}", flush=True)
    routes = {
        "crosswalk": "crosswalk stage_file",
        "psql": PSQL + " (staging table)",
        "psql-bare": PSQL + " (bare table)",
    }
    with tempfile.TemporaryDirectory(prefix="crosswalk-bench-") as tmp:
        for rows in args.rows:
            csv_path = Path(tmp) / f"clients_{rows}.csv"
            _write_csv(rows, csv_path)
            runs: dict[str, list[dict]] = {r: [] for r in routes}
            for i in range(args.runs):
                for route in list(routes) if i % 2 == 0 else list(reversed(routes)):
                    runs[route].append(_run(route, csv_path, rows))
            med = {r: {k: _median([x[k] for x in runs[r]]) for k in runs[r][0]} for r in routes}
            reference = med["psql"]["seconds"]
            for i, (route, label) in enumerate(routes.items()):
                m = med[route]
                share = f"{reference / m['seconds']:>6.0%}" if route == "crosswalk" else ""
                size = f"{rows:,}" if i == 0 else ""
                print(
                    f"{size:>10}  {label:<32} {m['seconds']:>8.1f} {rows / m['seconds']:>10,.0f} "
                    f"{m['rss_mb']:>12.0f} {share}",
                    flush=True,
                )
            print(f"{'':>10}  (validation, a pass before staging: {med['crosswalk']['validate_seconds']:.1f} s)")
            csv_path.unlink()
    _drop()


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _drop() -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)'))
    admin.dispose()


if __name__ == "__main__":
    main()
