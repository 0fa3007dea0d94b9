"""Late-file alerts: one watch DAG per inbound feed that says when its drop is due (``expected``).

Airflow's scheduler is the deadline: the DAG runs at each due time plus its grace, on the due days, in the
partner's time zone (a cron timetable), and asks whether a complete drop arrived (the outbox, as the inbound
flow lists it) or a batch was received (the ledger) since that day began. If not, a ``late_file`` notice goes to
each channel that asked (the team's, and one limited to that partner: its contact), and ``drop.late`` to the
audit trail, once per feed and day however often the check runs. (Airflow's Deadline Alerts time a DAG run; a
file that never comes starts no run, so the check is a run of its own.)
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import DAG, dag, get_current_context, task
from airflow.timetables.trigger import CronTriggerTimetable

from crosswalk.config.loader import ProjectConfig
from crosswalk.config.models import InboundFeed
from crosswalk.orchestration.common import default_args
from crosswalk.orchestration.ids import START

log = logging.getLogger(__name__)


def watch_dag_id(feed: InboundFeed) -> str:
    return f"arrival_watch_{feed.id.replace('-', '_')}"


def arrival_watch_dag(feed: InboundFeed, cfg: ProjectConfig) -> DAG:
    from crosswalk.arrivals import watch_cron

    expected = feed.expected
    assert expected is not None  # only feeds that say when their drop is due get one
    partner = cfg.partners[feed.partner]
    doc = f"""\
### Is {partner.name}'s `{feed.file_pattern}` drop here?

Due by {expected.by} ({expected.timezone}) on {", ".join(expected.days)}, with {expected.grace_minutes} minutes'
grace. At each deadline this checks the outbox and the ledger; a missing drop raises a `late_file` notice (to the
channels that asked) and a `drop.late` audit event, once per day.
"""

    @dag(
        dag_id=watch_dag_id(feed),
        description=f"Late-file alert: {feed.id} due by {expected.by} {expected.timezone}"[:200],
        doc_md=doc,
        schedule=CronTriggerTimetable(watch_cron(expected), timezone=expected.timezone),
        start_date=START,
        catchup=False,
        max_active_runs=1,
        tags=["crosswalk", "arrivals", feed.partner, *feed.tags],
        default_args=default_args(cfg, retries=1, feed=feed),
    )
    def watch() -> None:
        @task(task_id="check_arrival", pool=partner.sftp_pool)
        def check_() -> dict:
            return check_arrival(feed.id, get_current_context())

        check_()

    return watch()


def check_arrival(feed_id: str, context: Any) -> dict:
    from crosswalk import arrivals
    from crosswalk.notify import LATE_FILE, Notice
    from crosswalk.orchestration.callbacks import notify
    from crosswalk.orchestration.context import feed_step
    from crosswalk.orchestration.resources import prepare_database, project_config
    from crosswalk.orchestration.sftp import partner_sftp
    from crosswalk.pipeline.inbound import discover
    from crosswalk.staging import ledger

    prepare_database(project_config())  # the watch may be the first of a deployment's DAGs to run
    with feed_step(feed_id, context) as (cfg, feed, audit):
        assert feed.expected is not None
        # The run's own time (a rerun checks the same deadline), or now for a person's trigger.
        at = context.get("logical_date") or datetime.now(UTC)
        win = arrivals.window(feed.expected, at if at.tzinfo else at.replace(tzinfo=UTC))
        with partner_sftp(cfg.partners[feed.partner]) as sftp:
            drops = discover(sftp, cfg, feed, None).found.drops
        received = ledger.received_since(audit.engine, feed.id, win.opens.astimezone(UTC).replace(tzinfo=None))
        if not arrivals.late(win, [d.completed_at for d in drops], received):
            log.info("%s: a drop arrived for %s", feed.id, f"{win.due:%Y-%m-%d}")
            return {"late": False, "due": win.due.isoformat()}
        summary = arrivals.summary(feed.partner, feed.file_pattern, feed.expected, win)
        first = audit.emit_once(
            "drop.late", "failed", once_by=("feed_id", "reason"), feed_id=feed.id, partner=feed.partner,
            reason=summary, detail={"due": win.due.isoformat(), "grace_minutes": feed.expected.grace_minutes},
        )  # fmt: skip
        log.warning("%s", summary)
        if first is not None:  # told once per feed and day, however often the check runs
            notify(cfg, Notice(LATE_FILE, summary, feed_id=feed.id, partner=feed.partner, dag_id=audit.run.dag_id,
                               run_id=audit.run.run_id, task_id=audit.run.task_id), context)  # fmt: skip
        return {"late": True, "due": win.due.isoformat(), "notified": first is not None}
