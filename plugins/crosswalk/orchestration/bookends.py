"""The first and last task of every feed's run: ``prepare`` (migrate, the graduation gate, the run's start,
attempts of earlier runs accounted for) and ``finish`` (the run's success)."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from crosswalk.audit import AuditLog
from crosswalk.orchestration.context import is_dry_run, task_audit
from crosswalk.orchestration.resources import audited_task, prepare_database, project_config

log = logging.getLogger(__name__)


def prepare(feed_id: str, context: Any, schedule: str = "") -> None:
    """Migrate the database, then record the run's start: the config version and the schedule in effect.
    A scheduled run of a feed that has not graduated is held here (the graduation gate, at run time)."""
    from airflow.sdk.exceptions import AirflowSkipException

    cfg = project_config()
    applied = prepare_database(cfg)  # before the first audit event: it creates the audit table
    feed = cfg.feeds[feed_id]
    with audited_task(task_audit(cfg, context), feed_id=feed_id, partner=feed.partner) as audit:
        try:
            _account_for_lost_attempts(audit, context)
        except Exception as exc:  # accounting for old attempts must never stop a new run: the next run retries it
            log.warning("Could not account for earlier attempts (%s)", type(exc).__name__)
        held = _held_by_gate(cfg, feed, audit)
        if held is None:
            _record_start(audit, cfg, feed, applied, schedule, context)
    if held is not None:  # after the task's own outcome is recorded: the rest of the run is skipped
        raise AirflowSkipException(held)
    log.info("%s: config version %s; schedule %s", feed_id, cfg.version, schedule)


def _held_by_gate(cfg, feed, audit: AuditLog) -> str | None:
    """For a run Airflow started on the feed's schedule (not a person's trigger): the gate, with the run
    history; if the feed has not graduated, record ``run.held`` and return why."""
    from datetime import date

    from crosswalk.audit import successful_manual_runs
    from crosswalk.schedules import MANUAL, decide

    if audit.run.run_type == "manual" or feed.schedule == MANUAL:
        return None
    decision = decide(cfg, feed, successful_manual_runs(audit.engine).get(feed.id, 0), date.today())
    if not decision.held:
        return None
    reason = decision.summary()
    audit.emit("run.held", "skipped", feed_id=feed.id, partner=feed.partner, reason=reason,
               detail={"requested": decision.requested, "missing": decision.missing})  # fmt: skip
    log.warning("%s: this %s run is held: %s", feed.id, audit.run.run_type, reason)
    return reason


def _record_start(audit: AuditLog, cfg, feed, applied: list[str], schedule: str, context: Any) -> None:
    audit.emit(
        "run.started",
        "started",
        feed_id=feed.id,
        partner=feed.partner,
        detail={
            "migrations_applied": applied,
            "direction": feed.direction,
            "config_version": cfg.version,
            "schedule": schedule,
            "dry_run": is_dry_run(context),
        },
    )


# Airflow states in which a task instance's last attempt has ended (a retry not yet started counts).
_ENDED = {"success", "failed", "skipped", "upstream_failed", "removed", "up_for_retry", "up_for_reschedule"}


def _account_for_lost_attempts(audit: AuditLog, context: Any) -> None:
    """Every attempt gets an outcome in our audit trail: an earlier run's attempt that started and never
    said how it ended (killed, or our database down at the time) is recorded now as ``task.abandoned``,
    with what Airflow recorded for that task instance. Attempts still running are left alone."""
    import re
    from datetime import UTC, datetime, timedelta

    from crosswalk.audit import attempts_without_outcome

    dag_id, run_id = audit.run.dag_id or "", audit.run.run_id or ""
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=7)
    lost = attempts_without_outcome(audit.engine, dag_id, run_id, since)
    if not lost:
        return
    ti = context.get("ti")
    try:
        states = ti.get_task_states(dag_id=dag_id, run_ids=sorted({a["run_id"] for a in lost}))
    except Exception as exc:
        log.warning("Could not ask Airflow about %d attempt(s) without an outcome (%s)", len(lost), type(exc).__name__)
        return
    for attempt in lost:
        key = re.sub(r"\[(\d+)\]$", r"_\1", attempt["task_id"] or "")  # Airflow's key for a mapped instance
        state = str((states.get(attempt["run_id"]) or {}).get(key) or "")
        state = state.rsplit(".", 1)[-1].lower()
        if state not in _ENDED:
            continue
        # Recorded as that attempt's own event (its run and task), so it counts as the attempt's outcome.
        of_attempt = AuditLog(audit.engine, replace(audit.run, run_id=attempt["run_id"], task_id=attempt["task_id"]))
        of_attempt.emit(
            "task.abandoned",
            "failed" if state != "success" else "succeeded",
            reason=f"attempt started {str(attempt['started_at'])[:19]} recorded no outcome; Airflow"
            f" records the task instance as {state}",
            detail={"airflow_state": state, "noticed_by_run": run_id},
        )


def finish(feed_id: str, context: Any, schedule: str = "") -> None:
    """Record that the run succeeded (a dry run as ``dry_run``): successful manual runs are what the
    graduation gate counts."""
    from crosswalk.audit import read_events

    cfg = project_config()
    feed = cfg.feeds[feed_id]
    dry = is_dry_run(context)
    audit = task_audit(cfg, context)
    if read_events(audit.engine, event="run.held", dag_id=audit.run.dag_id or "", run_id=audit.run.run_id or ""):
        from airflow.sdk.exceptions import AirflowSkipException

        # Held by the gate: nothing ran, so nothing succeeded, and no new data is announced downstream.
        raise AirflowSkipException("held by the graduation gate")
    audit.emit(
        "run.succeeded",
        "dry_run" if dry else "succeeded",
        feed_id=feed_id,
        partner=feed.partner,
        detail={"config_version": cfg.version, "schedule": schedule, "dry_run": dry},
    )
