"""Portal publication: a new version of the table behind the view, then old versions pruned."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from airflow.sdk import DAG, dag, get_current_context, task

from crosswalk.config.loader import ProjectConfig
from crosswalk.config.models import PortalFeed
from crosswalk.orchestration.common import dag_kwargs, run_bookends
from crosswalk.orchestration.connections import disclosure_key, pseudonymisation_key
from crosswalk.orchestration.context import feed_step, is_dry_run, outbound_options, run_date
from crosswalk.orchestration.lineage import emitter
from crosswalk.schedules import ScheduleDecision

# The pipelines are imported inside the task bodies: they load pandas, DuckDB and SSH libraries, which
# parsing the DAG files must not.

log = logging.getLogger(__name__)


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

    @dag(**dag_kwargs(feed, cfg, doc, decision))
    def portal_flow() -> None:
        prepare, finish = run_bookends(feed, decision)

        @task(task_id="publish_portal")
        def publish_() -> dict:
            return publish_portal(feed.id, get_current_context())

        @task(task_id="prune_versions")
        def prune_() -> list[str]:
            return prune_versions(feed.id, get_current_context())

        prepare >> publish_() >> prune_() >> finish

    return portal_flow()


def publish_portal(feed_id: str, context: Any) -> dict:
    from crosswalk.pipeline.portal import publish_portal as publish

    with feed_step(feed_id, context) as (cfg, feed, audit):
        result = publish(
            cfg,
            audit.engine,
            audit,
            feed,
            on=run_date(context),
            key_for=pseudonymisation_key,
            disclosure_key=disclosure_key(cfg),
            options=outbound_options(context),
            on_disclosed=emitter(context),
        )
    return {**asdict(result), "fields": list(result.fields)}


def prune_versions(feed_id: str, context: Any) -> list[str]:
    """Drop version tables beyond the ones kept for rollback (audited; the ledger keeps their record)."""
    from crosswalk.publish import versions

    if is_dry_run(context):
        log.info("Dry run: no version pruned")
        return []
    with feed_step(feed_id, context) as (_, feed, audit):
        dropped = versions.prune(audit.engine, feed.id, feed.keep_versions)
        if dropped:
            audit.emit(
                "portal.pruned", "succeeded", feed_id=feed_id, partner=feed.partner, detail={"versions": dropped}
            )
    return dropped
