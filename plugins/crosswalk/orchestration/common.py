"""What every feed DAG shares: its arguments (default_args, schedule, description, trigger-form params),
the prepare/finish bookends, and the small run-time helpers the task bodies use (the audit log of a
task, the dry-run switch, dates from the form)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from airflow.sdk import Asset, AssetWatcher, get_current_context, task

from crosswalk.config.loader import ProjectConfig
from crosswalk.config.models import MANUAL, ON_ARRIVAL, AnyFeed, InboundFeed, OpenDataFeed, OutboundFeed, PortalFeed
from crosswalk.config.models.agreements import IN_FORCE
from crosswalk.orchestration.bookends import finish, prepare
from crosswalk.orchestration.ids import START, dag_id_for, published_asset, staged_asset
from crosswalk.orchestration.notifiers import failure_callbacks
from crosswalk.schedules import ScheduleDecision


def default_args(cfg: ProjectConfig, *, retries: int | None = None, feed: AnyFeed | None = None) -> dict[str, Any]:
    """The same for every DAG: owner, retries (bounded, with backoff), and, as the failure callback, the
    notifier of each channel that asked for failures about this feed's partner (Airflow notifiers)."""
    s = cfg.settings
    callbacks = failure_callbacks(s.notifications, feed.id if feed else None, feed.partner if feed else None)
    return {
        "owner": s.owner,
        "retries": s.retries if retries is None else retries,
        "retry_delay": timedelta(seconds=s.retry_delay_seconds),
        "retry_exponential_backoff": True,
        **({"on_failure_callback": callbacks} if callbacks else {}),
    }


def arrival_asset(feed: InboundFeed, cfg: ProjectConfig) -> Asset:
    """A partner's outbox, for one inbound feed: the triggerer watches it and fires once per complete drop."""
    from crosswalk.drops import partner_patterns
    from crosswalk.orchestration.arrival import SftpDropTrigger

    partner = cfg.partners[feed.partner]
    trigger = SftpDropTrigger(
        feed_id=feed.id,
        conn_id=partner.sftp.conn_id,
        host_keys=partner.sftp.host_keys,
        directory=partner.sftp.paths.outbox,
        file_pattern=feed.file_pattern,
        partner_patterns=partner_patterns(cfg, feed.partner),
        poll_interval=cfg.settings.arrival_poll_seconds,
    )
    return Asset(
        name=f"crosswalk-arrival-{feed.id}",
        uri=f"crosswalk://arrival/{feed.id}",
        watchers=[AssetWatcher(name=f"{feed.id}-outbox", trigger=trigger)],
    )


def schedule_for(feed: AnyFeed, decision: ScheduleDecision, cfg: ProjectConfig) -> Any:
    """What Airflow schedules on: nothing (manual), a cron, or an asset (on arrival)."""
    if decision.effective == MANUAL:
        return None
    if decision.effective != ON_ARRIVAL:
        return decision.effective
    if isinstance(feed, InboundFeed):
        return [arrival_asset(feed, cfg)]
    if isinstance(feed, OpenDataFeed):
        return [published_asset(feed.source)]
    return [staged_asset(feed.source_feed)]


def run_bookends(feed: AnyFeed, decision: ScheduleDecision) -> tuple[Any, Any]:
    """The first and last task of every feed DAG (call inside its DAG): ``prepare`` migrates and records
    the run's start, ``finish`` records its success; both with the config version and schedule."""
    schedule = decision.summary()

    @task(task_id="prepare")
    def prepare_() -> None:
        prepare(feed.id, get_current_context(), schedule=schedule)

    @task(task_id="finish", trigger_rule="none_failed", outlets=finish_outlets(feed))
    def finish_() -> None:
        finish(feed.id, get_current_context(), schedule=schedule)

    return prepare_(), finish_()


def finish_outlets(feed: AnyFeed) -> list[Asset]:
    """The last task of a successful run announces new data to feeds built from this one."""
    if isinstance(feed, InboundFeed):
        return [staged_asset(feed.id)]
    if isinstance(feed, PortalFeed):
        return [published_asset(feed.id)]
    return []


def description_for(feed: AnyFeed, decision: ScheduleDecision) -> str:
    text = " ".join(feed.description.split())
    # A feed asking for a schedule says first what its scheduled runs wait for: what an operator scanning
    # the DAG list needs to know.
    return f"{decision.summary()}. {text}"[:500] if decision.requested != MANUAL else text[:200]


DRY_RUN_HELP = {
    "inbound": "List the complete drops that would be taken in; fetch, stage and match nothing.",
    "outbound": "Gate and build every extract and report what would go where (partner, folder, file, rows, "
    "fields); encrypt, send and record nothing as delivered.",
    "publish": "Gate and build the portal table and report its rows and fields; publish nothing.",
    "open_data": "Build the aggregates and the data package in the staging area and report the targets; "
    "ask for no approval and publish nothing.",
}


def form_params(feed: AnyFeed, cfg: ProjectConfig) -> dict[str, Any]:
    """The trigger form: typed, described, validated by Airflow before any task runs."""
    from airflow.sdk import Param

    params: dict[str, Any] = {
        "dry_run": Param(False, type="boolean", title="Dry run", description=DRY_RUN_HELP[feed.direction]),
    }
    if isinstance(feed, InboundFeed):
        params["load_duplicate"] = Param(
            None,
            type=["null", "string"],
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$",
            title="Load duplicate",
            description="The batch id (from the partner's feedback file or the ledger) or the data file name of one "
            "drop skipped as a duplicate of a batch staged before, to load it after all. One drop per run: "
            "nothing else skipped is loaded. Empty: duplicates are skipped, and the partner told which batch holds "
            "their content.",
        )
    if not isinstance(feed, OutboundFeed | PortalFeed):
        return params
    current = cfg.agreements[feed.agreement].in_force(date.today())
    level = current.level_for(feed.partner) if current is not None else None
    if current is not None and level is not None:
        dataset = cfg.dataset_of(feed)
        catalogue = current.datasets.get(dataset)
        fields_at = {
            n: sum(1 for e in catalogue.fields.values() if e.transform_at(n) != "drop") if catalogue else 0
            for n in range(1, level + 1)
        }
        params["agreement"] = Param(
            IN_FORCE,
            type="string",
            enum=[IN_FORCE, current.ref],
            title="Agreement",
            description=f"The agreement version to send under. A run refuses to send if the version chosen here "
            f"is no longer in force on the day (now: {current.ref}).",
        )
        params["level"] = Param(
            level,
            type="integer",
            enum=list(range(1, level + 1)),
            values_display={str(n): f"Level {n}: {fields_at[n]} field(s)" for n in fields_at},
            title="Level",
            description=f"Send only what this level allows. {cfg.partners[feed.partner].name} may receive up to "
            f"level {level} under {current.ref}; nothing above it can be chosen.",
        )
    if isinstance(feed, OutboundFeed):
        for name, title, bound in (
            ("staged_from", "Staged from", "on or after this day (empty: no lower limit)"),
            ("staged_to", "Staged to", "on or before this day (empty: up to today)"),
        ):
            params[name] = Param(
                None, type=["null", "string"], format="date", title=title, description=f"Only batches staged {bound}."
            )
        params["resend_batch"] = Param(
            None,
            type=["null", "string"],
            pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$",
            title="Resend batch",
            description=f"A batch id of {feed.source_feed} to deliver again, even if delivered before (for example "
            "when the partner lost the file). Built afresh under today's agreement. Empty: deliver what is pending.",
        )
    return params


def dag_kwargs(feed: AnyFeed, cfg: ProjectConfig, doc_md: str, decision: ScheduleDecision) -> dict[str, Any]:
    return {
        "params": form_params(feed, cfg),
        "dag_id": dag_id_for(feed),
        "description": description_for(feed, decision),
        "doc_md": doc_md + f"\n**Schedule:** {decision.summary()}\n",
        "schedule": schedule_for(feed, decision, cfg),
        "start_date": START,
        "catchup": False,
        "max_active_runs": 1,
        "tags": ["crosswalk", feed.direction, feed.partner, *feed.tags],
        "default_args": default_args(cfg, feed=feed),
    }
