"""The outbound flow: take back what failed before, plan the deliveries, deliver each batch."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from airflow.sdk import DAG, dag, get_current_context, task

from crosswalk.config.loader import ProjectConfig
from crosswalk.config.models import OutboundFeed
from crosswalk.orchestration.common import dag_kwargs, run_bookends
from crosswalk.orchestration.connections import disclosure_key, openpgp_secret, pseudonymisation_key, signing_key
from crosswalk.orchestration.context import feed_step, is_dry_run, outbound_options, param_date
from crosswalk.orchestration.lineage import emitter, sftp_namespace
from crosswalk.orchestration.sftp import partner_bulk, partner_sftp
from crosswalk.schedules import ScheduleDecision

# The pipelines are imported inside the task bodies: they load pandas, DuckDB and SSH libraries, which
# parsing the DAG files must not.

log = logging.getLogger(__name__)


def outbound_dag(feed: OutboundFeed, cfg: ProjectConfig, decision: ScheduleDecision) -> DAG:
    partner = cfg.partners[feed.partner]
    built_from = (
        f"what matching found for each record of `{feed.source_feed}` (identifiers back), per staged batch"
        if feed.kind == "identifiers_back"
        else f"staged batches of `{feed.source_feed}` not yet delivered"
    )
    doc = f"""\
### Outbound: {feed.id}

{feed.description}

| | |
|---|---|
| Recipient | {partner.name} (`{partner.code}`) |
| Built from | {built_from} |
| Allowed by | agreement `{feed.agreement}` (version in force that day) at the recipient's level |
| Delivers to | `{partner.sftp.paths.inbox}` as `{feed.file_prefix}_<batch>.csv` + manifest (`.part`, then rename) |
"""

    @dag(**dag_kwargs(feed, cfg, doc, decision))
    def outbound_flow() -> None:
        prepare, finish = run_bookends(feed, decision)

        @task(task_id="plan_deliveries", pool=partner.sftp_pool)
        def plan_() -> list[str]:
            return plan(feed.id, get_current_context())

        @task(task_id="deliver_batch", map_index_template="{{ batch_name }}", pool=partner.sftp_pool)
        def deliver_(batch_id: str) -> dict:
            ctx = get_current_context()
            ctx["batch_name"] = batch_id  # type: ignore[typeddict-unknown-key]
            return deliver(feed.id, batch_id, ctx)

        batches = plan_()
        prepare >> batches
        deliver_.expand(batch_id=batches) >> finish

    return outbound_flow()


def plan(feed_id: str, context: Any) -> list[str]:
    from crosswalk.pipeline.outbound import pending_batches, take_back_unfinished
    from crosswalk.staging import ledger
    from crosswalk.transfer.session import SftpSession

    params = context.get("params") or {}
    with feed_step(feed_id, context) as (cfg, feed, audit):
        if ledger.unfinished_deliveries(audit.engine, feed_id, audit.run.run_id or "") and not is_dry_run(context):
            # Before anything else: no data file of ours stays in the partner's inbox without its manifest and
            # signature for longer than one run.
            with SftpSession(lambda: partner_sftp(cfg.partners[feed.partner])) as sftp:
                take_back_unfinished(sftp, audit.engine, audit, cfg, feed)
        since, until = param_date(context, "staged_from"), param_date(context, "staged_to")
        batches = pending_batches(audit.engine, feed, since, until, params.get("resend_batch") or None)
        audit.emit(
            "deliveries.planned",
            "succeeded",
            feed_id=feed_id,
            partner=feed.partner,
            detail={
                "batches": batches,
                "staged_from": str(since or ""),
                "staged_to": str(until or ""),
                "resend": bool(params.get("resend_batch")),
                "dry_run": is_dry_run(context),
            },
        )
    log.info("%s: %d staged batch(es) of %s to deliver", feed_id, len(batches), feed.source_feed)
    return batches


def deliver(feed_id: str, batch_id: str, context: Any) -> dict:
    from crosswalk.pipeline.outbound import OutboundJob, deliver_batch
    from crosswalk.transfer.session import SftpSession

    with feed_step(feed_id, context, batch_id=batch_id) as (cfg, feed, audit):
        partner = cfg.partners[feed.partner]
        with SftpSession(lambda: partner_sftp(partner)) as sftp:  # reopened if it dies mid-delivery
            result = deliver_batch(
                OutboundJob(
                    sftp,
                    audit.engine,
                    audit,
                    cfg,
                    feed,
                    signing_key(cfg),
                    partner_bulk(cfg.partners[feed.partner]),
                    disclosure_key(cfg),
                    openpgp_secret(cfg),
                    pseudonymisation_key,
                    outbound_options(context),
                    emitter(context, sftp_namespace(partner.sftp.conn_id)),
                ),
                batch_id,
            )
    return {**asdict(result), "fields": list(result.fields)}
