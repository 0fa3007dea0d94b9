"""National scale: a Scotland-sized index deduplicated, and an extract linked against it, on DuckDB and on Spark.

    .venv/bin/python bench/national.py [--size 5500000] [--extract 500000] [--engines duckdb spark]
                                                                               (or: make bench-national)

Data: the hard synthetic population (bench/people.py: households, twins, typos, moves, missing postcodes, CHI
missing for half). The index is ``--size`` people; the extract is ``--extract`` of them, each with the
extract's defects and 10% recorded twice, linked to the whole index; the dedupe is ``--size`` records of one
source (80% of a population, a quarter recorded twice, each with the defects). Each route runs
:mod:`crosswalk.matching` whole (prepare, train on DuckDB, score on the engine, decide) in its own process;
the table shows wall seconds, peak RSS (the route's Python process, and for Spark also its JVM, which is a
child process) and pairwise precision, recall and F1 against the truth.

Spark runs in local mode (``local[2]``: this machine's two cores, the executors inside the driver's JVM, 16 GB
for it); on a cluster the same code sends the scoring to the executors (docs/matching.md).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT / "bench")]

SPARK_CONF = {"spark.driver.memory": "16g", "spark.sql.shuffle.partitions": "64"}


def _backend(engine: str):
    from crosswalk.matching.engines import Backend

    return Backend(engine, "local[2]", None, SPARK_CONF if engine == "spark" else {})


def _child(engine: str, task: str, d: Path) -> None:
    import pandas as pd
    from matching import _cluster_scores, _pair_scores

    t0 = time.perf_counter()
    if task == "link":
        from crosswalk.matching.decisions import AUTO
        from crosswalk.matching.link import link

        source, index = pd.read_parquet(d / "extract.parquet"), pd.read_parquet(d / "index.parquet")
        result = link(source, index, backend=_backend(engine))
        seconds = time.perf_counter() - t0
        auto = result[result["band"] == AUTO]
        truth = pd.read_parquet(d / "extract_truth.parquet").astype(str)
        predicted = set(zip(auto["record_id"].astype(str), auto["matched_record_id"].astype(str), strict=True))
        p, r, f1 = _pair_scores(predicted, set(zip(truth["record_id"], truth["index_id"], strict=True)))
        rows = len(source)
    else:
        from crosswalk.matching.dedupe import dedupe

        records = pd.read_parquet(d / "records.parquet")
        clusters = dedupe(records, backend=_backend(engine))
        seconds = time.perf_counter() - t0
        truth = pd.read_parquet(d / "records_truth.parquet").astype(str)
        (p, r, f1), _ = _cluster_scores(
            dict(zip(clusters["record_id"].astype(str), clusters["cluster_id"].astype(str), strict=True)),
            dict(zip(truth["record_id"], truth["entity"], strict=True)),
        )
        rows = len(records)
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": me, "jvm_rss_mb": _descendants_peak_mb(), "rows": rows,
                      "precision": p, "recall": r, "f1": f1}))  # fmt: skip


def _descendants_peak_mb() -> float:
    """The peak RSS (VmHWM) of this process's descendants, summed: Spark's JVM and its Python workers, which
    py4j never reaps, so getrusage cannot see them."""
    parents: dict[int, int] = {}
    peaks: dict[int, int] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        pid = int(status.parent.name)
        parents[pid] = int(fields.get("PPid", "0").strip())
        peaks[pid] = int(fields.get("VmHWM", "0 kB").split()[0])
    mine, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - mine
        mine |= frontier
    return sum(peaks[pid] for pid in mine) / 1024


def _prepare(size: int, extract_size: int, d: Path) -> None:
    from people import extract, population

    t0 = time.perf_counter()
    pop = population(size)
    pop["record_id"] = [f"P{i:08d}" for i in range(len(pop))]
    src = extract(pop, fraction=extract_size / size / 1.1, duplicates=0.1)
    cols = ["record_id", "chi_number", "forename", "surname", "date_of_birth", "sex", "postcode", "address"]
    src[cols].to_parquet(d / "extract.parquet")
    pop[cols].to_parquet(d / "index.parquet")
    src[["record_id"]].assign(index_id=pop["record_id"].to_numpy()[src["person"].to_numpy()]).to_parquet(
        d / "extract_truth.parquet"
    )
    del pop, src
    records = extract(population(size, seed=3), fraction=0.8, duplicates=0.25, seed=4)
    records[cols].to_parquet(d / "records.parquet")
    records[["record_id"]].assign(entity=records["person"].astype(str)).to_parquet(d / "records_truth.parquet")
    print(f"data: index {size:,}, extract {extract_size:,}, dedupe {len(records):,} records "
          f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=5_500_000)
    ap.add_argument("--extract", type=int, default=500_000)
    ap.add_argument("--engines", nargs="*", default=["duckdb", "spark"], choices=["duckdb", "spark"])
    ap.add_argument("--tasks", nargs="*", default=["link", "dedupe"], choices=["link", "dedupe"])
    ap.add_argument("--timeout", type=float, default=3 * 3600, help="seconds a route may take before it is stopped")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child[0], args.child[1], Path(args.child[2]))
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="crosswalk-bench-national-") as tmp:
        d = Path(tmp)
        _prepare(args.size, args.extract, d)
        for task in args.tasks:
            for engine in args.engines:
                try:
                    out = subprocess.run(
                        [sys.executable, __file__, "--child", engine, task, str(d)],
                        capture_output=True, text=True, timeout=args.timeout,
                        env={**os.environ, "PYTHONPATH": str(ROOT / "plugins")},
                    )  # fmt: skip
                except subprocess.TimeoutExpired:
                    rows.append((task, engine, None))
                    print(f"{task} on {engine}: stopped after {args.timeout:.0f} s", file=sys.stderr)
                    continue
                if out.returncode != 0:
                    raise SystemExit(f"{task} on {engine} failed:\n{out.stderr[-3000:]}")
                rows.append((task, engine, json.loads(out.stdout.strip().splitlines()[-1])))
                print(f"done: {task} on {engine}", file=sys.stderr)
    print(f"\n{'task':<44} {'engine':<13} {'seconds':>8} {'peak RSS MB':>12} {'JVM MB':>7}"
          f" {'precision':>9} {'recall':>7} {'F1':>7}")  # fmt: skip
    for task, engine, r in rows:
        what = (f"link: {args.extract:,} extract x {args.size:,} index" if task == "link"
                else f"dedupe: {args.size:,}-person population's records")  # fmt: skip
        shown = "spark local[2]" if engine == "spark" else engine
        if r is None:
            print(f"{what:<44} {shown:<13} {'> ' + str(int(args.timeout)):>8}")
            continue
        jvm = f"{r['jvm_rss_mb']:.0f}" if engine == "spark" else ""
        print(f"{what:<44} {shown:<13} {r['seconds']:>8.0f} {r['rss_mb']:>12.0f} {jvm:>7}"
              f" {r['precision']:>9.4f} {r['recall']:>7.4f} {r['f1']:>7.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
