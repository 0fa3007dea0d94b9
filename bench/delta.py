"""A day's delta linked against a large index with a saved model: no training, only the delta scored.

    .venv/bin/python bench/delta.py [--index 1000000] [--delta 10000]     (or: make bench-delta)

Builds the hard synthetic population (bench/people.py) as the index and its extract; trains the link model
once on the whole extract and the index (`crosswalk match train`'s step; timed apart); then links a delta of
`--delta` extract records with the saved model, as a day's run would, in a fresh process (wall time and peak
RSS are the delta run's own, from reading the files to the result). For comparison it also links the same
delta with training, as a run without a saved model must.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT / "bench")]


def _child(mode: str, d: Path) -> None:
    import pandas as pd

    from crosswalk.matching.link import link
    from crosswalk.matching.model import SavedModel

    t0 = time.perf_counter()
    delta, index = pd.read_parquet(d / "delta.parquet"), pd.read_parquet(d / "index.parquet")
    model = SavedModel.load(d / "model.json") if mode == "model" else None
    result = link(delta, index, model=model)
    seconds = time.perf_counter() - t0
    auto = float((result["band"] == "auto").mean())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss, "records": len(result), "auto": auto}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index", type=int, default=1_000_000)
    ap.add_argument("--delta", type=int, default=10_000)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.mode:
        _child(args.mode, Path(args.data))
        return
    from people import extract, population

    from crosswalk.matching.link import train_link_model

    with tempfile.TemporaryDirectory(prefix="crosswalk-bench-delta-") as tmp:
        d = Path(tmp)
        pop = population(args.index)
        pop["record_id"] = [f"P{i:08d}" for i in range(len(pop))]
        src = extract(pop)
        cols = ["record_id", "chi_number", "forename", "surname", "date_of_birth", "sex", "postcode", "address"]
        pop[cols].to_parquet(d / "index.parquet")
        src[cols].sample(args.delta, random_state=1).to_parquet(d / "delta.parquet")
        t0 = time.perf_counter()
        train_link_model(src[cols], pop[cols]).save(d / "model.json")
        trained = time.perf_counter() - t0
        rows = []
        for mode in ("model", "train"):
            out = subprocess.run(
                [sys.executable, __file__, "--mode", mode, "--data", str(d)], capture_output=True, text=True
            )
            if out.returncode != 0:
                raise SystemExit(f"{mode} failed:\n{out.stderr[-2000:]}")
            rows.append((mode, json.loads(out.stdout.strip().splitlines()[-1])))
    print(f"\nindex {args.index:,} records; extract {len(src):,}; the model trained once in {trained:.1f} s")
    print(f"{'delta of':>9} {'route':<34} {'seconds':>8} {'peak RSS MB':>12} {'auto-linked':>12}")
    names = {"model": "saved model (no training)", "train": "trained in the run (no saved model)"}
    for mode, r in rows:
        print(f"{r['records']:>9,} {names[mode]:<34} {r['seconds']:>8.1f} {r['rss_mb']:>12.0f} {r['auto']:>12.4f}")


if __name__ == "__main__":
    main()
