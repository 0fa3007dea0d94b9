"""Generate one DAG per feed in ``config/feeds/``.

Parse-time work is limited to reading the YAML config: no connections, no database, no heavy
imports. A broken config raises here, so Airflow shows it as an import error with the same
message ``crosswalk check`` prints.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Asset, AssetWatcher, dag, get_current_context, task

from crosswalk import logsafety
from crosswalk.agreements.model import IN_FORCE
from crosswalk.config.loader import ProjectConfig, load_config
from crosswalk.config.models import MANUAL, ON_ARRIVAL, AnyFeed, InboundFeed, OpenDataFeed, OutboundFeed, PortalFeed
from crosswalk.errors import ConfigErrors
from crosswalk.orchestration.callbacks import on_task_failure
from crosswalk.schedules import ScheduleDecision, as_configured

START = datetime(2026, 1, 1, tzinfo=UTC)

# Every process that loads our DAGs (DAG processor, task runners) gets the log safety net.
logsafety.install()


def dag_id_for(feed: AnyFeed) -> str:
    return f"{feed.direction}_{feed.id.replace('-', '_')}"


def staged_asset(feed_id: str) -> Asset:
    """Updated by each successful run of an inbound feed; schedules feeds built from it ``on_arrival``."""
    return Asset(name=f"crosswalk-staged-{feed_id}", uri=f"crosswalk://staged/{feed_id}")


def published_asset(feed_id: str) -> Asset:
    """Updated by each successful run of a portal publication; schedules open data built from it."""
    return Asset(name=f"crosswalk-published-{feed_id}", uri=f"crosswalk://published/{feed_id}")


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


def _schedule(feed: AnyFeed, decision: ScheduleDecision, cfg: ProjectConfig) -> Any:
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


def _run_bookends(feed: AnyFeed, decision: ScheduleDecision) -> tuple[Any, Any]:
    """The first and last task of every feed DAG (call inside its DAG): ``prepare`` migrates and records
    the run's start, ``finish`` records its success; both with the config version and schedule."""
    schedule = decision.summary()

    @task(task_id="prepare")
    def prepare_() -> None:
        from crosswalk.orchestration import tasks

        tasks.prepare(feed.id, get_current_context(), schedule=schedule)

    @task(task_id="finish", trigger_rule="none_failed", outlets=_finish_outlets(feed))
    def finish_() -> None:
        from crosswalk.orchestration import tasks

        tasks.finish(feed.id, get_current_context(), schedule=schedule)

    return prepare_(), finish_()


def _finish_outlets(feed: AnyFeed) -> list[Asset]:
    """The last task of a successful run announces new data to feeds built from this one."""
    if isinstance(feed, InboundFeed):
        return [staged_asset(feed.id)]
    if isinstance(feed, PortalFeed):
        return [published_asset(feed.id)]
    return []


def _description(feed: AnyFeed, decision: ScheduleDecision) -> str:
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


def _params(feed: AnyFeed, cfg: ProjectConfig) -> dict[str, Any]:
    """The trigger form: typed, described, validated by Airflow before any task runs."""
    from airflow.sdk import Param

    params: dict[str, Any] = {
        "dry_run": Param(False, type="boolean", title="Dry run", description=DRY_RUN_HELP[feed.direction]),
    }
    if isinstance(feed, InboundFeed):
        params["resend"] = Param(
            False,
            type="boolean",
            title="Load duplicates",
            description="Load a drop even when its content is exactly a batch staged before under another name "
            "(normally skipped as a duplicate, and the partner told which batch holds it).",
        )
    if not isinstance(feed, OutboundFeed | PortalFeed):
        return params
    current = cfg.agreements[feed.agreement].in_force(date.today())
    level = current.level_for(feed.partner) if current is not None else None
    if current is not None and level is not None:
        dataset = cfg.inbound(feed.source_feed).schema_id
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


def _common(feed: AnyFeed, cfg: ProjectConfig, doc_md: str, decision: ScheduleDecision) -> dict[str, Any]:
    s = cfg.settings
    return {
        "params": _params(feed, cfg),
        "dag_id": dag_id_for(feed),
        "description": _description(feed, decision),
        "doc_md": doc_md + f"\n**Schedule:** {decision.summary()}\n",
        "schedule": _schedule(feed, decision, cfg),
        "start_date": START,
        "catchup": False,
        "max_active_runs": 1,
        "tags": ["crosswalk", feed.direction, feed.partner, *feed.tags],
        "default_args": {
            "owner": s.owner,
            "retries": s.retries,
            "retry_delay": timedelta(seconds=s.retry_delay_seconds),
            "retry_exponential_backoff": True,
            "on_failure_callback": on_task_failure,
        },
    }


def inbound_dag(feed: InboundFeed, cfg: ProjectConfig, decision: ScheduleDecision) -> DAG:
    partner = cfg.partners[feed.partner]
    doc = f"""\
### Inbound: {feed.id}

{feed.description}

| | |
|---|---|
| Partner | {partner.name} (`{partner.code}`) |
| Picks up | `{feed.file_pattern}` with its `.manifest.json` from `{partner.sftp.paths.outbox}` |
| Checks | size and sha256 against the manifest; table schema `{feed.schema_id}` |
| Stages into | `{feed.target.table}` (one batch per manifest; reruns never load twice) |
| Rejected drops | copied to `{partner.sftp.paths.quarantine}/<batch>/` with `REASON.txt`; originals untouched |
"""

    @dag(**_common(feed, cfg, doc, decision))
    def _inbound() -> None:
        prepare, finish = _run_bookends(feed, decision)

        @task(task_id="discover_drops", pool=partner.sftp_pool)
        def discover_() -> list[dict]:
            from crosswalk.orchestration import tasks

            return tasks.discover(feed.id, get_current_context())

        @task(task_id="ingest_drop", map_index_template="{{ drop_name }}", pool=partner.sftp_pool)
        def ingest_(drop: dict) -> dict:
            ctx = get_current_context()
            ctx["drop_name"] = drop["data_file"]  # type: ignore[typeddict-unknown-key]
            from crosswalk.orchestration import tasks

            return tasks.ingest(feed.id, drop, ctx)

        drops = discover_()
        prepare >> drops
        ingested = ingest_.expand(drop=drops)
        if feed.matching is not None:

            @task(task_id="match_batch", map_index_template="{{ batch_name }}", outlets=[review_asset(feed)])
            def match_(result: dict) -> dict:
                ctx = get_current_context()
                ctx["batch_name"] = result["batch_id"]  # type: ignore[typeddict-unknown-key]
                from crosswalk.orchestration import tasks

                return tasks.match(feed.id, result, ctx)

            match_.expand(result=ingested) >> finish
        else:
            ingested >> finish

    return _inbound()


def review_asset(feed: InboundFeed) -> Asset:
    """Updated whenever a batch of ``feed`` is matched; schedules the feed's review DAG."""
    return Asset(name=f"crosswalk-review-{feed.id}", uri=f"crosswalk://review/{feed.id}")


def review_dag(feed: InboundFeed, cfg: ProjectConfig) -> DAG:
    """Clerical review in the Airflow UI: one human-in-the-loop task per pair awaiting a decision."""
    from airflow.providers.standard.operators.hitl import HITLOperator

    from crosswalk.matching.choices import OPTIONS, UNSURE

    assert feed.matching is not None
    reviewer = cfg.partners[feed.reviewer]
    s = cfg.settings
    doc = f"""\
### Clerical review: {feed.id}

Pairs that matching of `{feed.id}` against `{feed.matching.against}` could not settle (match probability
between {feed.matching.lower} and {feed.matching.upper}, or too close to a runner-up). Each pair is a task
under **Required Actions**: the two records side by side, only the fields {reviewer.name} may see
under the agreements in force. Answers are recorded in the crosswalk and the audit trail (who, when, the
pair by hash, the outcome), and reused on reruns while both records are unchanged. The same queue can
be worked with `crosswalk review list|decide --feed {feed.id}`.
"""

    @dag(
        dag_id=f"review_{feed.id.replace('-', '_')}",
        description=f"Clerical review of uncertain matches of {feed.id}"[:200],
        doc_md=doc,
        schedule=[review_asset(feed)],
        start_date=START,
        catchup=False,
        max_active_runs=1,
        tags=["crosswalk", "review", feed.partner, *feed.tags],
        default_args={"owner": s.owner, "retries": 0, "on_failure_callback": on_task_failure},
    )
    def _review() -> None:
        @task(task_id="review_queue")
        def queue_() -> list[dict]:
            from crosswalk.orchestration import tasks

            return tasks.review_queue(feed.id, get_current_context())

        @task(task_id="pair_cards")
        def kwargs_(cards: list[dict]) -> list[dict]:
            return [{"subject": c["subject"], "body": c["body"]} for c in cards]

        @task(task_id="record_decisions")
        def record_(cards: list[dict], responses: list[dict]) -> dict:
            from crosswalk.orchestration import tasks

            return tasks.review_record(feed.id, cards, list(responses), get_current_context())

        cards = queue_()
        answers = HITLOperator.partial(
            task_id="review_pair", options=OPTIONS, defaults=[UNSURE], multiple=False
        ).expand_kwargs(kwargs_(cards))
        record_(cards, answers.output)

    return _review()


def outbound_dag(feed: OutboundFeed, cfg: ProjectConfig, decision: ScheduleDecision) -> DAG:
    partner = cfg.partners[feed.partner]
    doc = f"""\
### Outbound: {feed.id}

{feed.description}

| | |
|---|---|
| Recipient | {partner.name} (`{partner.code}`) |
| Built from | staged batches of `{feed.source_feed}` not yet delivered |
| Allowed by | agreement `{feed.agreement}` (version in force that day) at the recipient's level |
| Delivers to | `{partner.sftp.paths.inbox}` as `{feed.file_prefix}_<batch>.csv` + manifest (`.part`, then rename) |
"""

    @dag(**_common(feed, cfg, doc, decision))
    def _outbound() -> None:
        prepare, finish = _run_bookends(feed, decision)

        @task(task_id="plan_deliveries", pool=partner.sftp_pool)
        def plan_() -> list[str]:
            from crosswalk.orchestration import tasks

            return tasks.plan(feed.id, get_current_context())

        @task(task_id="deliver_batch", map_index_template="{{ batch_name }}", pool=partner.sftp_pool)
        def deliver_(batch_id: str) -> dict:
            ctx = get_current_context()
            ctx["batch_name"] = batch_id  # type: ignore[typeddict-unknown-key]
            from crosswalk.orchestration import tasks

            return tasks.deliver(feed.id, batch_id, ctx)

        batches = plan_()
        prepare >> batches
        deliver_.expand(batch_id=batches) >> finish

    return _outbound()


def portal_dag(feed: PortalFeed, cfg: ProjectConfig, decision: ScheduleDecision) -> DAG:
    partner = cfg.partners[feed.partner]
    keyed = ", keyed by CHI (own or matched)" if feed.keyed_by_chi else ""
    doc = f"""\
### Portal publish: {feed.id}

{feed.description}

| | |
|---|---|
| Readers | {partner.name} (`{partner.code}`), through the view `{feed.table}` |
| Built from | the latest staged batch of `{feed.source_feed}`{keyed} |
| Allowed by | agreement `{feed.agreement}` (version in force that day) at the reader's level |
| Versions | each publish is a new table behind the view, swapped in one transaction; {feed.keep_versions} kept |
| Roll back | `crosswalk publish rollback {feed.id}` |
"""

    @dag(**_common(feed, cfg, doc, decision))
    def _portal() -> None:
        prepare, finish = _run_bookends(feed, decision)

        @task(task_id="publish_portal")
        def publish_() -> dict:
            from crosswalk.orchestration import tasks

            return tasks.publish_portal(feed.id, get_current_context())

        @task(task_id="prune_versions")
        def prune_() -> list[str]:
            from crosswalk.orchestration import tasks

            return tasks.prune_versions(feed.id, get_current_context())

        prepare >> publish_() >> prune_() >> finish

    return _portal()


def open_data_dag(feed: OpenDataFeed, cfg: ProjectConfig, decision: ScheduleDecision) -> DAG:
    from crosswalk.orchestration.approval import GoLiveApproval

    targets = [t for t in ("ckan", "file", "sftp") if getattr(feed.targets, t) is not None]
    gate = (
        "published without waiting (automated)"
        if feed.automated
        else f"waits for {feed.approver.name}'s approval under **Required Actions**"
    )
    doc = f"""\
### Open data: {feed.title}

{feed.description}

Stage (aggregates of `{feed.source}` by `include/sql/opendata/{feed.sql}`, {feed.months} months) →
disclosure control (1-7 suppressed, others rounded to 5, secondary suppression) → data package in
`{cfg.settings.open_data_dir}/{feed.id}/` → sign-off: {gate} → go live to {", ".join(targets) or "no target"} → usage.
"""

    @dag(**_common(feed, cfg, doc, decision))
    def _open_data() -> None:
        prepare, finish = _run_bookends(feed, decision)

        @task(task_id="stage_package")
        def stage_() -> dict:
            from crosswalk.orchestration import tasks

            return tasks.stage_open_data(feed.id, get_current_context())

        # Publishing to a partner's SFTP area takes a session to it: counted in that partner's pool.
        go_live_pool = (
            {"pool": cfg.partners[feed.targets.sftp.partner].sftp_pool} if feed.targets.sftp is not None else {}
        )

        @task(task_id="go_live", **go_live_pool)
        def live_(staged: dict, approval: dict | None) -> dict:
            from crosswalk.orchestration import tasks

            return tasks.go_live(feed.id, staged, approval, get_current_context())

        @task(task_id="usage")
        def usage_(published: dict) -> dict:
            from crosswalk.orchestration import tasks

            return tasks.open_data_usage(feed.id, published, get_current_context())

        staged = stage_()
        prepare >> staged
        if feed.automated:
            published = live_(staged, None)
        else:
            approval = GoLiveApproval(
                task_id="approve_go_live",
                subject=f"Go live: {feed.title}"[:200],
                body=(
                    "Version **{{ ti.xcom_pull(task_ids='stage_package')['publication_id'] }}** is staged in "
                    "`{{ ti.xcom_pull(task_ids='stage_package')['directory'] }}`: "
                    "{{ ti.xcom_pull(task_ids='stage_package')['rows'] }} rows; "
                    "{{ ti.xcom_pull(task_ids='stage_package')['disclosure']['suppressed_primary'] }} cells "
                    "suppressed as small counts and "
                    "{{ ti.xcom_pull(task_ids='stage_package')['disclosure']['suppressed_secondary'] }} "
                    f"more to protect them. Approve to publish to: {', '.join(targets)}."
                ),
                assigned_users=[{"id": feed.approver.id, "name": feed.approver.name}],
                retries=0,
            )
            staged >> approval
            published = live_(staged, approval.output)
        usage_(published) >> finish

    return _open_data()


AUDIT_DAG_ID = "crosswalk_audit"


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
        dag_id=AUDIT_DAG_ID,
        description="Verify the audit chain, write the IG report, apply audit retention",
        doc_md=doc,
        schedule=None if s.audit.schedule == MANUAL else s.audit.schedule,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        tags=["crosswalk", "audit", "ig"],
        default_args={
            "owner": s.owner,
            "retries": s.retries,
            "retry_delay": timedelta(seconds=s.retry_delay_seconds),
            "retry_exponential_backoff": True,
            "on_failure_callback": on_task_failure,
        },
    )
    def _audit() -> None:
        @task(task_id="verify_chain")
        def verify_() -> str:
            from crosswalk.orchestration import tasks

            return tasks.audit_verify(get_current_context())

        @task(task_id="write_report")
        def report_() -> str:
            from crosswalk.orchestration import tasks

            return tasks.audit_report(get_current_context())

        @task(task_id="purge_expired")
        def purge_() -> int:
            from crosswalk.orchestration import tasks

            return tasks.audit_purge(get_current_context())

        # The report is written (and the chain verified) before anything is purged.
        verify_() >> report_() >> purge_()

    return _audit()


RETENTION_DAG_ID = "crosswalk_retention"


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
        dag_id=RETENTION_DAG_ID,
        description="Purge staged personal data past its retention period (audited)",
        doc_md=doc,
        schedule=None if s.staging.schedule == MANUAL else s.staging.schedule,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        tags=["crosswalk", "retention"],
        default_args={
            "owner": s.owner,
            "retries": s.retries,
            "retry_delay": timedelta(seconds=s.retry_delay_seconds),
            "on_failure_callback": on_task_failure,
        },
    )
    def _retention() -> None:
        @task(task_id="purge_staged")
        def purge_() -> list[dict]:
            from crosswalk.orchestration import tasks

            return tasks.retention_purge(get_current_context())

        purge_()

    return _retention()


CONFIG_ERRORS_DAG_ID = "crosswalk_config_errors"


class _BrokenFeeds(DAG):
    """Stands for the feed files left out: refused when Airflow validates it, so Airflow lists an import
    error naming each file and problem (as ``crosswalk check`` words it), while every other DAG loads."""

    def validate(self) -> None:
        raise ConfigErrors(self.problems)  # type: ignore[attr-defined]


def _broken_feeds_dag(problems: list) -> DAG:
    broken = _BrokenFeeds(dag_id=CONFIG_ERRORS_DAG_ID, schedule=None, start_date=START, catchup=False)
    broken.problems = problems  # type: ignore[attr-defined]
    return broken


def dags_from_config(cfg: ProjectConfig | None = None) -> dict[str, DAG]:
    """Every feed's DAG, a review DAG per matching feed, and the audit DAG, by dag_id (for a DAG file).
    A feed file with a problem is left out, reported as an import error; the other DAGs load."""
    cfg = cfg or load_config(check_descriptors=False, isolate_feeds=True)
    today = date.today()
    out: dict[str, DAG] = {}
    for feed in cfg.feeds.values():
        decision = as_configured(cfg, feed, today)  # config only: the run history is each run's to read
        if isinstance(feed, InboundFeed):
            d = inbound_dag(feed, cfg, decision)
        elif isinstance(feed, OutboundFeed):
            d = outbound_dag(feed, cfg, decision)
        elif isinstance(feed, PortalFeed):
            d = portal_dag(feed, cfg, decision)
        else:
            d = open_data_dag(feed, cfg, decision)
        out[d.dag_id] = d
        if isinstance(feed, InboundFeed) and feed.matching is not None:
            r = review_dag(feed, cfg)
            out[r.dag_id] = r
    audit = audit_dag(cfg)
    out[audit.dag_id] = audit
    retention = retention_dag(cfg)
    out[retention.dag_id] = retention
    if cfg.broken_feeds:
        out[CONFIG_ERRORS_DAG_ID] = _broken_feeds_dag(cfg.broken_feeds)
    return out
