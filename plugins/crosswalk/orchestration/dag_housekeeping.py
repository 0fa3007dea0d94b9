"""Housekeeping: the IG audit trail (verify, report, purge) and retention of staged data."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, dag, get_current_context, task

from crosswalk.config.loader import ProjectConfig
from crosswalk.config.models import MANUAL
from crosswalk.orchestration.common import default_args
from crosswalk.orchestration.context import task_audit
from crosswalk.orchestration.ids import (
    AUDIT_DAG_ID,
    RETENTION_DAG_ID,
    START,
)
from crosswalk.orchestration.resources import audited_task, prepare_database, project_config

# The pipelines are imported inside the task bodies: they load pandas, DuckDB and SSH libraries, which
# parsing the DAG files must not.

log = logging.getLogger(__name__)


def _housekeeping(cfg: ProjectConfig, dag_id: str, description: str, doc: str, schedule: str, tags: list[str]):
    """The arguments both housekeeping DAGs share: one run at a time, no catch-up, the common default_args."""
    return {
        "dag_id": dag_id,
        "description": description,
        "doc_md": doc,
        "schedule": None if schedule == MANUAL else schedule,
        "start_date": START,
        "catchup": False,
        "max_active_runs": 1,
        "tags": ["crosswalk", *tags],
        "default_args": default_args(cfg),
    }


def audit_dag(cfg: ProjectConfig) -> DAG:
    s = cfg.settings
    doc = f"""\
### The IG audit trail

Keeps Crosswalk's own evidence, independent of Airflow's clean-up: verifies the audit hash chain
(a broken chain fails the run and names the position), writes the IG report for the period (HTML and
CSV) to `{s.audit.report_dir}`, and removes events older than {s.audit.retention_days} days (the purge
is itself an audit event and the chain stays verifiable).
"""

    @dag(
        **_housekeeping(
            cfg,
            AUDIT_DAG_ID,
            "Verify the audit chain, write the IG report, apply audit retention",
            doc,
            s.audit.schedule,
            ["audit", "ig"],
        )
    )
    def audit_flow() -> None:
        @task(task_id="verify_chain")
        def verify_() -> str:
            return audit_verify(get_current_context())

        @task(task_id="write_report")
        def report_() -> str:
            return audit_report(get_current_context())

        @task(task_id="purge_expired")
        def purge_() -> int:
            return audit_purge(get_current_context())

        # The report is written (and the chain verified) before anything is purged.
        verify_() >> report_() >> purge_()

    return audit_flow()


def retention_dag(cfg: ProjectConfig) -> DAG:
    s = cfg.settings
    doc = f"""\
### Retention of staged personal data

Deletes the staged rows of every batch staged more than {s.staging.retention_days} days ago. The batch
ledger keeps each batch (file hashes, row counts), marked `purged`, and the purge is an audit event
(`staging.purged`: which batches, how many rows). Published portal versions beyond those kept for
rollback are pruned by each publish DAG.
"""

    @dag(
        **_housekeeping(
            cfg,
            RETENTION_DAG_ID,
            "Purge staged personal data past its retention period (audited)",
            doc,
            s.staging.schedule,
            ["retention"],
        )
    )
    def retention_flow() -> None:
        @task(task_id="purge_staged")
        def purge_() -> list[dict]:
            return retention_purge(get_current_context())

        purge_()

    return retention_flow()


def audit_verify(context: Any) -> str:
    """Walk the chain; a broken chain fails the run (and says where) without retrying."""
    from crosswalk import auditchain
    from crosswalk.errors import FatalError

    cfg = project_config()
    prepare_database(cfg)
    with audited_task(task_audit(cfg, context)) as audit:
        result = auditchain.verify(audit.engine)
        audit.emit(
            "audit.verified",
            "succeeded" if result.ok else "failed",
            reason=result.summary(),
            detail={"checked": result.checked, "first": result.first, "position": result.position},
        )
        if not result.ok:
            raise FatalError(result.summary())
    log.info("Audit chain: %s", result.summary())
    return result.summary()


def audit_report(context: Any) -> str:
    """The IG report for the run's period (the previous week when scheduled; the last 7 days when
    triggered), written to ``audit.report_dir`` via a temporary name, then renamed."""
    import hashlib
    from datetime import UTC, datetime
    from pathlib import Path

    from crosswalk import auditreport

    cfg = project_config()
    end, start = context.get("data_interval_end"), context.get("data_interval_start")
    manual = "scheduled" not in str(getattr(context["dag_run"], "run_type", ""))
    if manual or end is None or start is None or start >= end:
        # Triggered by hand: the seven days up to and including today.
        end = datetime.now(UTC) + timedelta(days=1)
        start = end - timedelta(days=7)
    end_day = datetime.combine(end.date(), datetime.min.time())
    start_day = datetime.combine(start.date(), datetime.min.time())
    out_dir = Path(cfg.settings.audit.report_dir)
    with audited_task(task_audit(cfg, context)) as audit:
        report = auditreport.build(audit.engine, start_day, end_day)
        last = end_day - timedelta(days=1)
        stem = f"ig-report_{start_day:%Y-%m-%d}_{last:%Y-%m-%d}"
        written = auditreport.write(report, out_dir, stem)
        for target, data in written:
            audit.emit(
                "audit.report_written",
                "succeeded",
                file_name=target.name,
                file_sha256=hashlib.sha256(data).hexdigest(),
                file_size=len(data),
                rows_out=len(report.rows),
                detail={"period_from": f"{start_day:%Y-%m-%d}", "period_to": f"{last:%Y-%m-%d}"},
            )
    log.info("IG report for %s written to %s (%d file event(s))", stem, out_dir, len(report.rows))
    return str(written[0][0])


def audit_purge(context: Any) -> int:
    """Remove audit events older than the retention period; the purge is itself an audit event."""
    from datetime import UTC, datetime

    from crosswalk import auditchain, disclosures

    cfg = project_config()
    days = cfg.settings.audit.retention_days
    cutoff = (datetime.now(UTC) - timedelta(days=days)).replace(tzinfo=None)
    with audited_task(task_audit(cfg, context)) as audit:
        removed = auditchain.purge_before(audit.engine, cutoff, audit.append)
        with audit.engine.begin() as conn:  # the disclosure log keeps what the audit trail keeps, no longer
            gone = disclosures.purge(conn, cutoff)
            if gone["disclosures"]:
                why = f"retention: disclosures before {cutoff:%Y-%m-%d} removed"
                audit.append(conn, "disclosures.purged", "succeeded", rows_out=gone["person_rows"], reason=why,
                             detail=gone)  # fmt: skip
    log.info("Audit retention (%d days): %d event(s) older than %s removed", days, removed, f"{cutoff:%Y-%m-%d}")
    return removed


def retention_purge(context: Any) -> list[dict]:
    """Purge staged rows past the retention period; one audit event with the counts per batch."""
    from datetime import UTC, datetime

    from crosswalk.staging.retention import purge_staged

    cfg = project_config()
    prepare_database(cfg)
    audit = task_audit(cfg, context)
    days = cfg.settings.staging.retention_days
    cutoff = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=days)
    with audited_task(audit):
        tables = {f.id: f.target.table for f in cfg.inbound_feeds()}
        purged = purge_staged(audit.engine, tables, cutoff)
        audit.emit(
            "staging.purged",
            "succeeded",
            rows_out=sum(p.rows for p in purged),
            reason=f"retention: batches staged more than {days} days ago",
            detail={"batches": [p.batch_id for p in purged], "rows": sum(p.rows for p in purged),
                    "retention_days": days},
        )  # fmt: skip
    log.info("Retention: purged %d batch(es), %d staged row(s)", len(purged), sum(p.rows for p in purged))
    return [{"feed_id": p.feed_id, "batch_id": p.batch_id, "rows": p.rows} for p in purged]
