"""The inbound flow: discover complete drops in a partner's outbox, take each in, match it."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from airflow.sdk import DAG, dag, get_current_context, task

from crosswalk.config.loader import ProjectConfig
from crosswalk.config.models import InboundFeed
from crosswalk.logsafety import shown_name
from crosswalk.orchestration.common import dag_kwargs, run_bookends
from crosswalk.orchestration.connections import age_identities, openpgp_secret, signing_key
from crosswalk.orchestration.context import feed_step, is_dry_run
from crosswalk.orchestration.ids import (
    review_asset,
)
from crosswalk.orchestration.sftp import partner_bulk, partner_sftp
from crosswalk.schedules import ScheduleDecision

# The pipelines are imported inside the task bodies: they load pandas, DuckDB and SSH libraries, which
# parsing the DAG files must not.

log = logging.getLogger(__name__)


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

    @dag(**dag_kwargs(feed, cfg, doc, decision))
    def inbound_flow() -> None:
        prepare, finish = run_bookends(feed, decision)

        @task(task_id="discover_drops", pool=partner.sftp_pool)
        def discover_() -> list[dict]:
            return discover(feed.id, get_current_context())

        @task(task_id="ingest_drop", map_index_template="{{ drop_name }}", pool=partner.sftp_pool)
        def ingest_(drop: dict) -> dict:
            ctx = get_current_context()
            ctx["drop_name"] = drop["data_file"]  # type: ignore[typeddict-unknown-key]
            return ingest(feed.id, drop, ctx)

        drops = discover_()
        prepare >> drops
        ingested = ingest_.expand(drop=drops)
        if feed.matching is not None:

            @task(task_id="match_batch", map_index_template="{{ batch_name }}", outlets=[review_asset(feed)])
            def match_(result: dict) -> dict:
                ctx = get_current_context()
                ctx["batch_name"] = result["batch_id"]  # type: ignore[typeddict-unknown-key]
                return match(feed.id, result, ctx)

            match_.expand(result=ingested) >> finish
        else:
            ingested >> finish

    return inbound_flow()


def discover(feed_id: str, context: Any) -> list[dict]:
    from crosswalk.pipeline.inbound import discover as discover_drops

    with feed_step(feed_id, context) as (cfg, feed, audit):
        partner = cfg.partners[feed.partner]
        with partner_sftp(partner) as sftp:
            resend = bool((context.get("params") or {}).get("resend", False))
            intake = discover_drops(sftp, cfg, feed, audit.engine, resend)
        found = intake.found
        for name in found.unrouted:
            audit.emit(
                "file.unrouted",
                "skipped",
                feed_id=feed_id,
                partner=partner.code,
                file_name=name,
                reason=f"matches no feed of {partner.code}; left in place",
            )
        audit.emit(
            "drops.discovered",
            "succeeded",
            feed_id=feed_id,
            partner=partner.code,
            detail={
                "complete": len(found.drops),
                "already_taken_in": intake.already,
                "taken_this_run": len(intake.new),
                "matched_again": len(intake.again),
                "backlog": intake.backlog,
                "max_drops_per_run": feed.max_drops_per_run,
                "waiting_for_manifest": len(found.waiting),
                "unrouted": len(found.unrouted),
            },
        )
    log.info(
        "%s: %d complete drop(s): %d already taken in, %d new taken this run, %d left for the next run"
        " (max_drops_per_run %d); %d waiting for a manifest, %d file(s) matching no feed",
        partner.sftp.paths.outbox,
        len(found.drops),
        intake.already,
        len(intake.new),
        intake.backlog,
        feed.max_drops_per_run,
        len(found.waiting),
        len(found.unrouted),
    )
    if intake.backlog:
        log.warning("%s: a backlog of %d drop(s) waits for the next run", feed_id, intake.backlog)
    if is_dry_run(context):
        names = ", ".join(shown_name(d.data_file) for d in intake.new) or "none"
        log.info("Dry run: complete drops a real run would take in: %s", names)
        return []
    return [d.to_dict() for d in intake.again + intake.new]


def ingest(feed_id: str, drop: dict, context: Any) -> dict:
    from crosswalk.errors import DropRejected
    from crosswalk.pipeline.inbound import Drop, InboundJob, ingest_drop

    with (
        feed_step(feed_id, context, file_name=drop["data_file"]) as (cfg, feed, audit),
        partner_sftp(cfg.partners[feed.partner]) as sftp,
    ):
        job = InboundJob(
            sftp,
            audit.engine,
            audit,
            cfg,
            feed,
            age_identities(cfg),
            partner_bulk(cfg.partners[feed.partner]),
            openpgp_secret(cfg),
            resend=bool((context.get("params") or {}).get("resend", False)),
            signing_key=signing_key(cfg),
        )
        try:
            return asdict(ingest_drop(job, Drop(**drop)))
        except DropRejected as exc:  # quarantined: tell whoever asked, then fail the task as before
            from crosswalk.notify import QUARANTINE
            from crosswalk.orchestration.callbacks import notify_about

            summary = f"{feed.partner}: {shown_name(drop['data_file'])} quarantined: {exc.code}: {exc.reason}"[:500]
            notify_about(cfg, QUARANTINE, summary, audit.run, feed_id=feed_id, partner=feed.partner)
            raise


def match(feed_id: str, ingested: dict, context: Any) -> dict:
    """Link a staged batch to its index feed's latest batch and write the crosswalk."""
    from crosswalk.pipeline.match import match_batch

    with feed_step(feed_id, context, batch_id=ingested["batch_id"]) as (cfg, feed, audit):
        # Only a batch that holds staged rows is matched: a drop skipped as already quarantined (a rejected
        # drop still in the outbox) costs this run nothing.
        if ingested.get("batch_status") != "staged":
            return {"batch_id": ingested["batch_id"], "outcome": "not staged"}
        result = match_batch(audit.engine, audit, cfg, feed, ingested["batch_id"])
        if result.person_id_changes:  # offered to the partner: their people we now see merged or split
            from crosswalk.pipeline.match import send_person_id_feedback

            with partner_sftp(cfg.partners[feed.partner]) as sftp:
                send_person_id_feedback(sftp, cfg.partners[feed.partner], result)
        return asdict(result)
