"""What each generated task does. Each function takes the feed id and the Airflow context,
loads config and resources at run time, and returns a small record for XCom."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from crosswalk.audit import AuditLog
from crosswalk.orchestration.resources import (
    age_identities,
    audited_task,
    engine_for,
    openpgp_secret,
    prepare_database,
    project_config,
    pseudonymisation_key,
    run_context,
    signing_key,
)
from crosswalk.orchestration.sftp import partner_bulk, partner_sftp

log = logging.getLogger(__name__)


def _audit(cfg, context) -> AuditLog:
    return AuditLog(engine_for(cfg.settings.database_conn_id), run_context(context))


def prepare(feed_id: str, context: Any) -> None:
    cfg = project_config()
    applied = prepare_database(cfg)  # before the first audit event: it creates the audit table
    feed = cfg.feeds[feed_id]
    with audited_task(_audit(cfg, context), feed_id=feed_id, partner=feed.partner) as audit:
        audit.emit(
            "run.started",
            "started",
            feed_id=feed_id,
            partner=feed.partner,
            detail={"migrations_applied": applied, "direction": feed.direction},
        )


def discover(feed_id: str, context: Any) -> list[dict]:
    from crosswalk.pipeline.inbound import discover as discover_drops

    cfg = project_config()
    feed = cfg.inbound(feed_id)
    partner = cfg.partners[feed.partner]
    with audited_task(_audit(cfg, context), feed_id=feed_id, partner=partner.code) as audit:
        with partner_sftp(partner) as sftp:
            found = discover_drops(sftp, cfg, feed)
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
                "waiting_for_manifest": len(found.waiting),
                "unrouted": len(found.unrouted),
            },
        )
    log.info(
        "%s: %d complete drop(s), %d waiting for a manifest, %d file(s) matching no feed",
        partner.sftp.paths.outbox,
        len(found.drops),
        len(found.waiting),
        len(found.unrouted),
    )
    return [d.to_dict() for d in found.drops]


def ingest(feed_id: str, drop: dict, context: Any) -> dict:
    from crosswalk.pipeline.inbound import Drop, InboundJob, ingest_drop

    cfg = project_config()
    feed = cfg.inbound(feed_id)
    audit = _audit(cfg, context)
    with (
        audited_task(audit, feed_id=feed_id, partner=feed.partner, file_name=drop["data_file"]),
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
        )
        return asdict(ingest_drop(job, Drop(**drop)))


def plan(feed_id: str, context: Any) -> list[str]:
    from crosswalk.pipeline.outbound import pending_batches

    cfg = project_config()
    feed = cfg.outbound(feed_id)
    with audited_task(_audit(cfg, context), feed_id=feed_id, partner=feed.partner) as audit:
        batches = pending_batches(audit.engine, feed)
        audit.emit(
            "deliveries.planned",
            "succeeded",
            feed_id=feed_id,
            partner=feed.partner,
            detail={"batches": batches},
        )
    log.info("%s: %d staged batch(es) of %s to deliver", feed_id, len(batches), feed.source_feed)
    return batches


def deliver(feed_id: str, batch_id: str, context: Any) -> dict:
    from crosswalk.pipeline.outbound import OutboundJob, deliver_batch

    cfg = project_config()
    feed = cfg.outbound(feed_id)
    audit = _audit(cfg, context)
    with (
        audited_task(audit, feed_id=feed_id, partner=feed.partner, batch_id=batch_id),
        partner_sftp(cfg.partners[feed.partner]) as sftp,
    ):
        result = deliver_batch(
            OutboundJob(
                sftp,
                audit.engine,
                audit,
                cfg,
                feed,
                signing_key(cfg),
                partner_bulk(cfg.partners[feed.partner]),
                openpgp_secret(cfg),
                pseudonymisation_key,
            ),
            batch_id,
        )
    return {**asdict(result), "fields": list(result.fields)}
