"""``crosswalk match``: the matching pipeline on CSV or Parquet files, for ops and benchmarks."""

from __future__ import annotations

import argparse
import sys


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
    md = match_sub.add_parser("dedupe", help="cluster one file's records; the CHI veto holds; golden records")
    md.add_argument("input", help="CSV or .parquet with the person columns")
    md.add_argument("--out", required=True, help="record_id, cluster_id, chi per record (.csv or .parquet)")
    md.add_argument("--golden", help="also write one golden record per cluster here")
    md.add_argument("--threshold", type=float, default=0.90, help="match probability for a probabilistic edge")
    match.set_defaults(func=run)


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
    return _dedupe(args) if args.match_command == "dedupe" else _link(args)


def _dedupe(args: argparse.Namespace) -> int:
    from crosswalk.matching.dedupe import dedupe, golden_records

    try:
        people = _read_people(args.input)
    except (OSError, ValueError) as exc:
        print(f"crosswalk match: {exc}", file=sys.stderr)
        return 1
    clusters = dedupe(people, threshold=args.threshold)
    golden = golden_records(people, clusters)
    for frame, path in ((clusters, args.out), (golden, args.golden)):
        if path:
            _write(frame, path)
    print(
        f"crosswalk match dedupe: {len(clusters)} record(s) in {clusters['cluster_id'].nunique()} cluster(s); "
        f"optional columns compared: {_compared(people)}"
    )
    return 0


def _link(args: argparse.Namespace) -> int:
    from crosswalk.matching.decisions import Thresholds, band_counts
    from crosswalk.matching.link import link

    try:
        left, right = _read_people(args.left), _read_people(args.right)
    except (OSError, ValueError) as exc:
        print(f"crosswalk match: {exc}", file=sys.stderr)
        return 1
    result = link(left, right, Thresholds(upper=args.upper, lower=args.lower, min_lead=args.min_lead))
    _write(result, args.out)
    print(
        f"crosswalk match link: {len(result)} record(s) -> {args.out}: {band_counts(result)}; "
        f"optional columns compared: {_compared(left, right)}"
    )
    return 0
