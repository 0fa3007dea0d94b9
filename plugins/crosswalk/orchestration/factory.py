"""Generate one DAG per feed in ``config/feeds/``.

Parse-time work is limited to reading the YAML config: no connections, no database, no heavy
imports. A broken config raises here, so Airflow shows it as an import error with the same
message ``crosswalk check`` prints.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import DAG, dag, get_current_context, task

from crosswalk import logsafety
from crosswalk.config.loader import ProjectConfig, load_config
from crosswalk.config.models import InboundFeed, OutboundFeed

START = datetime(2026, 1, 1, tzinfo=UTC)

# Every process that loads our DAGs (DAG processor, task runners) gets the log safety net.
logsafety.install()


def dag_id_for(feed: InboundFeed | OutboundFeed) -> str:
    return f"{feed.direction}_{feed.id.replace('-', '_')}"


def _schedule(feed: InboundFeed | OutboundFeed) -> str | None:
    return None if feed.schedule == "manual" else feed.schedule


def _common(feed: InboundFeed | OutboundFeed, cfg: ProjectConfig, doc_md: str) -> dict[str, Any]:
    s = cfg.settings
    return {
        "dag_id": dag_id_for(feed),
        "description": " ".join(feed.description.split())[:200],
        "doc_md": doc_md,
        "schedule": _schedule(feed),
        "start_date": START,
        "catchup": False,
        "max_active_runs": 1,
        "tags": ["crosswalk", feed.direction, feed.partner, *feed.tags],
        "default_args": {
            "owner": s.owner,
            "retries": s.retries,
            "retry_delay": timedelta(seconds=s.retry_delay_seconds),
            "retry_exponential_backoff": True,
        },
    }


def inbound_dag(feed: InboundFeed, cfg: ProjectConfig) -> DAG:
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
| Schedule | `{feed.schedule}` |
"""

    @dag(**_common(feed, cfg, doc))
    def _inbound() -> None:
        @task(task_id="prepare")
        def prepare_() -> None:
            from crosswalk.orchestration import tasks

            tasks.prepare(feed.id, get_current_context())

        @task(task_id="discover_drops")
        def discover_() -> list[dict]:
            from crosswalk.orchestration import tasks

            return tasks.discover(feed.id, get_current_context())

        @task(task_id="ingest_drop", map_index_template="{{ drop_name }}")
        def ingest_(drop: dict) -> dict:
            ctx = get_current_context()
            ctx["drop_name"] = drop["data_file"]  # type: ignore[typeddict-unknown-key]
            from crosswalk.orchestration import tasks

            return tasks.ingest(feed.id, drop, ctx)

        drops = discover_()
        prepare_() >> drops
        ingested = ingest_.expand(drop=drops)
        if feed.matching is not None:

            @task(task_id="match_batch", map_index_template="{{ batch_name }}")
            def match_(result: dict) -> dict:
                ctx = get_current_context()
                ctx["batch_name"] = result["batch_id"]  # type: ignore[typeddict-unknown-key]
                from crosswalk.orchestration import tasks

                return tasks.match(feed.id, result, ctx)

            match_.expand(result=ingested)

    return _inbound()


def outbound_dag(feed: OutboundFeed, cfg: ProjectConfig) -> DAG:
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
| Schedule | `{feed.schedule}` |
"""

    @dag(**_common(feed, cfg, doc))
    def _outbound() -> None:
        @task(task_id="prepare")
        def prepare_() -> None:
            from crosswalk.orchestration import tasks

            tasks.prepare(feed.id, get_current_context())

        @task(task_id="plan_deliveries")
        def plan_() -> list[str]:
            from crosswalk.orchestration import tasks

            return tasks.plan(feed.id, get_current_context())

        @task(task_id="deliver_batch", map_index_template="{{ batch_name }}")
        def deliver_(batch_id: str) -> dict:
            ctx = get_current_context()
            ctx["batch_name"] = batch_id  # type: ignore[typeddict-unknown-key]
            from crosswalk.orchestration import tasks

            return tasks.deliver(feed.id, batch_id, ctx)

        batches = plan_()
        prepare_() >> batches
        deliver_.expand(batch_id=batches)

    return _outbound()


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
        schedule=None if s.audit.schedule == "manual" else s.audit.schedule,
        start_date=START,
        catchup=False,
        max_active_runs=1,
        tags=["crosswalk", "audit", "ig"],
        default_args={
            "owner": s.owner,
            "retries": s.retries,
            "retry_delay": timedelta(seconds=s.retry_delay_seconds),
            "retry_exponential_backoff": True,
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


def dags_from_config(cfg: ProjectConfig | None = None) -> dict[str, DAG]:
    """Every feed's DAG and the audit DAG, by dag_id, for a DAG file to put in its globals."""
    cfg = cfg or load_config(check_descriptors=False)
    out: dict[str, DAG] = {}
    for feed in cfg.feeds.values():
        d = inbound_dag(feed, cfg) if isinstance(feed, InboundFeed) else outbound_dag(feed, cfg)
        out[d.dag_id] = d
    audit = audit_dag(cfg)
    out[audit.dag_id] = audit
    return out
