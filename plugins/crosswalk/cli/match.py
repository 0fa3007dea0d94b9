"""``crosswalk match``: the matching pipeline on CSV or Parquet files, for ops and benchmarks."""

from __future__ import annotations

import argparse
import sys

from crosswalk.cli._common import database_parent


def register(sub) -> None:
    match = sub.add_parser("match", help="run the matching pipeline on CSV or Parquet files")
    match_sub = match.add_subparsers(dest="match_command", required=True)
    ml = match_sub.add_parser(
        "link", help="link LEFT (e.g. a social-care extract) to RIGHT (e.g. a CHI index); one row per LEFT record"
    )
    ml.add_argument(
        "left",
        help="CSV or .parquet with record_id, chi_number, forename, surname, date_of_birth, sex, postcode; "
        "optionally address and local_id (another identifier), compared when both files carry them",
    )
    ml.add_argument("right", help="the same columns")
    ml.add_argument("--out", required=True, help="result file (.csv or .parquet)")
    ml.add_argument("--upper", type=float, default=0.90, help="match probability for an automatic link")
    ml.add_argument("--lower", type=float, default=0.50, help="below this, no match; between, review")
    ml.add_argument("--min-lead", type=float, default=4.0, help="match weight the best must lead the runner-up by")
    ml.add_argument(
        "--model", help="a saved model (crosswalk match train): LEFT, a day's delta, is scored without training"
    )
    _engine_options(ml)
    mt = match_sub.add_parser(
        "train", help="train the link model on LEFT and RIGHT and save it, for later links of a delta (--model)"
    )
    mt.add_argument("left", help="as for link")
    mt.add_argument("right", help="as for link")
    mt.add_argument("--out", required=True, help="the saved model (.json)")
    mt.add_argument("--compare", help="the model in use (.json): both are scored on --labels before you switch")
    mt.add_argument(
        "--labels", help="reviewers' decisions (.csv: record_id, candidate_record_id, outcome match|no_match)"
    )
    mr = match_sub.add_parser(
        "retrain",
        parents=[database_parent()],
        help="retrain a feed's saved model on its latest batches; audited; scored against the model in use",
        description="Train a new model for FEED on its latest staged batch and its index's, score it and the model"
        " in use on the reviewers' decisions, and save it. It replaces the model in use only with --activate;"
        " the next match then links every record with it.",
    )
    mr.add_argument("feed", help="the matching feed, e.g. council-clients")
    mr.add_argument("--by", required=True, help="who retrains (recorded in the audit trail)")
    mr.add_argument(
        "--activate",
        action="store_true",
        help="make it the one in use, if it does no worse on the reviewers' decisions",
    )
    mr.add_argument("--force", action="store_true", help="with --activate: switch even if it does worse on them")
    md = match_sub.add_parser("dedupe", help="cluster one file's records; the CHI veto holds; golden records")
    md.add_argument("input", help="CSV or .parquet with the person columns")
    md.add_argument("--out", required=True, help="record_id, person_id, cluster_id, chi per record (.csv or .parquet)")
    md.add_argument(
        "--previous",
        help="the last run's --out file: each person keeps its id unless new evidence merges or splits it",
    )
    md.add_argument("--changes", help="write each merge and split here (kind, old_id, new_id, records)")
    md.add_argument("--golden", help="also write one golden record per cluster here")
    md.add_argument("--threshold", type=float, default=0.90, help="match probability for a probabilistic edge")
    _engine_options(md)
    match.set_defaults(func=run)


def _engine_options(parser) -> None:
    parser.add_argument(
        "--backend", choices=["duckdb", "spark"], default="duckdb", help="where the pairs are scored (training: DuckDB)"
    )
    parser.add_argument("--spark-master", default="local[2]", help="with --backend spark: local[N] or a cluster's URL")
    parser.add_argument("--checkpoint-dir", help="with --backend spark on a cluster: storage every executor reaches")
    parser.add_argument(
        "--spark-conf", action="append", default=[], metavar="KEY=VALUE", help="a Spark setting (repeatable)"
    )


def _backend(args: argparse.Namespace):
    from crosswalk.matching.engines import Backend

    conf = dict(item.split("=", 1) for item in args.spark_conf if "=" in item)
    return Backend(args.backend, args.spark_master, args.checkpoint_dir, conf)


def _read_people(path: str):
    import pandas as pd

    from crosswalk.matching.normalise import PERSON_COLUMNS, person_columns

    frame = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in PERSON_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing person column(s) {missing} (need {', '.join(PERSON_COLUMNS)})")
    return frame[person_columns(frame)]


def _write(frame, path: str) -> None:
    frame.to_parquet(path, index=False) if path.endswith(".parquet") else frame.to_csv(path, index=False)


def _compared(*frames) -> str:
    from crosswalk.matching.normalise import optional_columns

    return ", ".join(sorted(optional_columns(*frames))) or "none"


def run(args: argparse.Namespace) -> int:
    return {"dedupe": _dedupe, "train": _train, "link": _link, "retrain": _retrain}[args.match_command](args)


def _retrain(args: argparse.Namespace) -> int:
    from crosswalk.audit import AuditLog, RunContext
    from crosswalk.cli._common import audit_engine
    from crosswalk.config.loader import load_config
    from crosswalk.errors import ConfigError
    from crosswalk.pipeline.match import retrain

    try:
        cfg = load_config(args.config, check_descriptors=False)
        feed = cfg.inbound(args.feed)
        engine = audit_engine(args)
        audit = AuditLog(engine, RunContext(task_id="crosswalk match retrain", run_type="cli", triggered_by=args.by))
        done = retrain(engine, audit, cfg, feed, by=args.by, activate=args.activate, force=args.force)
    except (LookupError, ConfigError) as exc:
        print(f"crosswalk match retrain: {exc}", file=sys.stderr)
        return 1
    _print_comparison(
        [(f"in use {done.old_version}", done.on_labels["old"]), (f"new {done.new_version}", done.on_labels["new"])]
    )
    state = "now in use" if done.activated else done.refused or "saved, not in use (--activate to switch)"
    print(f"crosswalk match retrain: {args.feed}: model {done.new_version} {state}")
    return 1 if done.refused else 0


def _print_comparison(rows) -> None:
    """Models side by side on the reviewers' labelled pairs (``crosswalk.matching.quality.on_labels``)."""
    print(f"{'model':<32} {'labelled':>8} {'true':>5} {'wrong':>5} {'missed':>6} {'precision':>9} {'recall':>7}")
    for name, r in rows:
        if r is None:
            print(f"{name:<32} {'(none)':>8}")
            continue
        print(
            f"{name:<32} {r['labelled_pairs']:>8} {r['true_links']:>5} {r['wrong_links']:>5} {r['missed']:>6} "
            f"{r['precision']:>9.4f} {r['recall']:>7.4f}"
        )


def _train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from crosswalk.matching.link import train_link_model

    try:
        left, right = _read_people(args.left), _read_people(args.right)
    except (OSError, ValueError) as exc:
        print(f"crosswalk match: {exc}", file=sys.stderr)
        return 1
    if bool(args.compare) != bool(args.labels):
        print("crosswalk match: --compare and --labels go together", file=sys.stderr)
        return 2
    model = train_link_model(left, right)
    model.save(Path(args.out))
    print(
        f"crosswalk match train: model {model.version} on {len(left)} + {len(right)} record(s) (training data "
        f"sha256 {model.training_hash[:16]}…) -> {args.out}; optional columns compared: {_compared(left, right)}"
    )
    if args.compare:
        return _compare(args, left, right, model)
    return 0


def _compare(args: argparse.Namespace, left, right, new) -> int:
    """Score the model in use and the new one on the reviewers' labelled pairs, side by side."""
    from pathlib import Path

    import pandas as pd

    from crosswalk.errors import ConfigError
    from crosswalk.matching.link import link
    from crosswalk.matching.model import SavedModel
    from crosswalk.matching.quality import on_labels

    try:
        old = SavedModel.load(Path(args.compare))
        labels = pd.read_csv(args.labels, dtype=str, keep_default_na=False)
        labels = labels.assign(match=labels["outcome"] == "match")[["record_id", "candidate_record_id", "match"]]
    except (OSError, ValueError, KeyError, ConfigError) as exc:
        print(f"crosswalk match: {exc}", file=sys.stderr)
        return 1
    subset = left[left["record_id"].astype(str).isin(labels["record_id"])]
    models = (("in use " + old.version, old), ("new " + new.version, new))
    _print_comparison([(name, on_labels(link(subset, right, model=model), labels)) for name, model in models])
    return 0


def _dedupe(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    import pandas as pd

    from crosswalk.matching.dedupe import dedupe, golden_records
    from crosswalk.matching.person_ids import stable_ids

    try:
        people = _read_people(args.input)
    except (OSError, ValueError) as exc:
        print(f"crosswalk match: {exc}", file=sys.stderr)
        return 1
    try:
        previous = _previous_ids(args.previous) if args.previous else {}
    except (OSError, ValueError, KeyError) as exc:
        print(f"crosswalk match: --previous: {exc}", file=sys.stderr)
        return 1
    clusters = dedupe(people, threshold=args.threshold, backend=_backend(args))
    ids, changes = stable_ids(previous, dict(zip(clusters["record_id"], clusters["cluster_id"], strict=True)))
    clusters.insert(1, "person_id", clusters["record_id"].map(ids))
    golden = golden_records(people, clusters)
    changed = pd.DataFrame([asdict(c) for c in changes], columns=["kind", "old_id", "new_id", "records"])
    for frame, path in ((clusters, args.out), (golden, args.golden), (changed, args.changes)):
        if path:
            _write(frame, path)
    kinds = changed["kind"].value_counts()
    print(
        f"crosswalk match dedupe: {len(clusters)} record(s) in {clusters['cluster_id'].nunique()} cluster(s); "
        f"optional columns compared: {_compared(people)}"
        + (
            f"; against the previous run: {kinds.get('merge', 0)} merge(s), {kinds.get('split', 0)} split(s)"
            if args.previous
            else ""
        )
    )
    return 0


def _previous_ids(path: str) -> dict[str, str]:
    import pandas as pd

    frame = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path, dtype=str, keep_default_na=False)
    return dict(zip(frame["record_id"].astype(str), frame["person_id"].astype(str), strict=True))


def _link(args: argparse.Namespace) -> int:
    from pathlib import Path

    from crosswalk.errors import ConfigError
    from crosswalk.matching.decisions import Thresholds, band_counts
    from crosswalk.matching.link import link
    from crosswalk.matching.model import SavedModel

    try:
        left, right = _read_people(args.left), _read_people(args.right)
        model = SavedModel.load(Path(args.model)) if args.model else None
        thresholds = Thresholds(upper=args.upper, lower=args.lower, min_lead=args.min_lead)
        result = link(left, right, thresholds, model, backend=_backend(args))
    except (OSError, ValueError, ConfigError) as exc:
        print(f"crosswalk match: {exc}", file=sys.stderr)
        return 1
    _write(result, args.out)
    print(
        f"crosswalk match link: {len(result)} record(s) -> {args.out}: {band_counts(result)}; "
        f"optional columns compared: {_compared(left, right)}"
        + (f"; model {model.version}, not retrained" if model else "")
    )
    return 0
