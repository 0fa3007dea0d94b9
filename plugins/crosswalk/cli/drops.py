"""``crosswalk drops``: drops taken in; release one that was held."""

from __future__ import annotations

import argparse
import sys

from crosswalk.cli._common import audit_engine, database_parent


def register(sub) -> None:
    drops = sub.add_parser("drops", help="drops taken in: release one that was held")
    drops_sub = drops.add_subparsers(dest="drops_command", required=True)
    dr = drops_sub.add_parser(
        "release", parents=[database_parent()], help="release a held drop (the cause was ours, now fixed); audited"
    )
    dr.add_argument("batch", help="the held batch id, as the task log and the audit event name it")
    dr.add_argument("--by", required=True, help="who releases it (recorded in the audit trail)")
    drops.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Release a held drop (the cause was ours, now fixed), so the feed's next run takes it in again."""
    from crosswalk.audit import AuditLog, RunContext
    from crosswalk.staging import ledger

    engine = audit_engine(args)
    try:
        batch = ledger.release_batch(engine, args.batch)
    except LookupError as exc:
        print(f"crosswalk drops: {exc}", file=sys.stderr)
        return 1
    AuditLog(engine, RunContext(task_id="crosswalk drops release", run_type="cli", triggered_by=args.by)).emit(
        "drop.released", "succeeded", feed_id=batch.feed_id, partner=batch.partner, batch_id=batch.batch_id,
        file_name=batch.file_name, reason=f"released by {args.by}",
    )  # fmt: skip
    print(f"crosswalk drops: {batch.batch_id} released; the next run of its feed takes the drop in again")
    return 0
