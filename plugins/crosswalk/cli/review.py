"""``crosswalk review``: clerical review of uncertain matches, from the command line."""

from __future__ import annotations

import argparse
import sys

from crosswalk.cli._common import audit_engine, database_parent


def register(sub) -> None:
    review = sub.add_parser("review", help="clerical review of uncertain matches")
    review_sub = review.add_subparsers(dest="review_command", required=True)
    db = database_parent()
    rl = review_sub.add_parser("list", parents=[db], help="pairs awaiting a decision")
    rl.add_argument("--feed", required=True, help="the source feed, e.g. council-clients")
    rd = review_sub.add_parser("decide", parents=[db], help="decide one pair (audited)")
    rd.add_argument("--feed", required=True)
    rd.add_argument("record", help="the source record id")
    rd.add_argument("outcome", choices=["match", "no_match"])
    rd.add_argument("--by", required=True, help="who decides (recorded in the crosswalk and the audit trail)")
    review.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """List the pairs awaiting a decision, or decide one."""
    from crosswalk.audit import AuditLog, RunContext
    from crosswalk.pipeline.review import decide, pending

    engine = audit_engine(args)
    if args.review_command == "list":
        rows = pending(engine, args.feed)
        print(f"{len(rows)} pair(s) of {args.feed} awaiting review")
        for r in rows:
            lead = "" if r.runner_up_weight is None else f", runner-up weight {r.runner_up_weight:.1f}"
            print(f"  {r.source_record_id} -> {r.candidate_record_id}: p={r.match_probability:.3f}, "
                  f"weight {r.match_weight:.1f}{lead}")  # fmt: skip
        return 0
    audit = AuditLog(engine, RunContext(task_id="crosswalk review", run_type="cli", triggered_by=args.by))
    try:
        decide(engine, audit, args.feed, args.record, args.outcome, args.by)
    except (LookupError, ValueError) as exc:
        print(f"crosswalk review: {exc}", file=sys.stderr)
        return 1
    print(f"crosswalk review: {args.feed}/{args.record}: {args.outcome}, decided by {args.by}")
    return 0
