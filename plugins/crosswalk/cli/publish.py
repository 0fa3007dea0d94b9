"""``crosswalk publish``: portal publications: list versions, roll back."""

from __future__ import annotations

import argparse
import sys

from crosswalk.cli._common import audit_engine, database_parent


def register(sub) -> None:
    publish = sub.add_parser("publish", help="portal publications: versions and rollback")
    publish_sub = publish.add_subparsers(dest="publish_command", required=True)
    db = database_parent()
    pl = publish_sub.add_parser("list", parents=[db], help="every version of a publication, newest first")
    pl.add_argument("name", help="the publication (feed id), e.g. social-care-summary")
    pr = publish_sub.add_parser(
        "rollback", parents=[db], help="point the portal's view back at the previous version (audited)"
    )
    pr.add_argument("name", help="the publication (feed id), e.g. social-care-summary")
    pr.add_argument("--by", required=True, help="who rolls back (recorded in the audit trail)")
    publish.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """List versions, or roll the view back to the previous version (audited)."""
    from crosswalk.audit import AuditLog, RunContext
    from crosswalk.config.loader import load_config
    from crosswalk.pipeline.portal import rollback_portal
    from crosswalk.publish import versions

    cfg = load_config(args.config) if args.config else load_config()
    try:
        feed = cfg.portal(args.name)
    except KeyError:
        names = ", ".join(f.id for f in cfg.feeds.values() if f.direction == "publish")
        print(f"crosswalk publish: no portal publication {args.name!r} (there are: {names})", file=sys.stderr)
        return 1
    engine = audit_engine(args)
    if args.publish_command == "list":
        for v in versions.versions(engine, feed.id):
            agreement = f"{v.agreement_id} v{v.agreement_version} level {v.level}"
            print(f"  {v.publication_id:<32} {v.status:<12} {v.rows_out:>8} rows  {agreement}  from "
                  f"{', '.join(v.source_batches)}")  # fmt: skip
        return 0
    audit = AuditLog(engine, RunContext(task_id="crosswalk publish rollback", run_type="cli", triggered_by=args.by))
    try:
        came_from, went_to = rollback_portal(engine, audit, feed, args.by)
    except LookupError as exc:
        print(f"crosswalk publish: {exc}", file=sys.stderr)
        return 1
    print(f"crosswalk publish: {feed.table} now shows {went_to} (was {came_from}); rolled back by {args.by}")
    return 0
