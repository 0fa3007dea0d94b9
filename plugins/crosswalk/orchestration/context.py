"""What a task body reads from its Airflow context: its audit log (run, task, who triggered it), the
trigger form's switches and dates. Run-time helpers shared by every flow."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from crosswalk.audit import AuditLog
from crosswalk.config.loader import ProjectConfig
from crosswalk.orchestration.connections import engine_for
from crosswalk.orchestration.resources import audited_task, project_config, run_context

log = logging.getLogger(__name__)


def task_audit(cfg, context) -> AuditLog:
    return AuditLog(engine_for(cfg.settings.database_conn_id), run_context(context))


@contextlib.contextmanager
def feed_step(feed_id: str, context: Any, **ids: Any) -> Iterator[tuple[ProjectConfig, Any, AuditLog]]:
    """One step of a feed's flow: the config, the feed, and the step's audit log, whose ``task.started`` and
    ``task.succeeded`` or ``task.failed`` (with the feed, its partner and ``ids``) frame the block."""
    cfg = project_config()
    feed = cfg.feeds[feed_id]
    audit = task_audit(cfg, context)
    with audited_task(audit, feed_id=feed_id, partner=feed.partner, **ids):
        yield cfg, feed, audit


def is_dry_run(context: Any) -> bool:
    return bool((context.get("params") or {}).get("dry_run", False))


def param_date(context: Any, name: str):
    from datetime import date

    value = (context.get("params") or {}).get(name)
    return date.fromisoformat(value) if value else None


def run_date(context: Any):
    from datetime import UTC, datetime

    logical = context.get("logical_date") if context else None
    return (logical or datetime.now(UTC)).date()


def skip_dry_run(what: str) -> None:
    """End a task of a dry run as skipped, saying what a real run would have done."""
    from airflow.sdk.exceptions import AirflowSkipException

    log.info("Dry run: %s; nothing published", what)
    raise AirflowSkipException(f"dry run: {what}")


def outbound_options(context: Any):
    from crosswalk.agreements.egress import RunOptions
    from crosswalk.config.models.agreements import IN_FORCE

    params = context.get("params") or {}
    agreement = params.get("agreement")
    return RunOptions(
        dry_run=bool(params.get("dry_run", False)),
        resend=bool(params.get("resend_batch")),
        max_level=params.get("level"),
        agreement_ref=agreement if agreement and agreement != IN_FORCE else None,
    )
