"""Outbound: build an extract from a staged batch, pass it through the egress gate, deliver it.

:func:`deliver_batch` reads as the list of steps. Delivery is idempotent: the file name is
derived from the source batch, the delivery ledger records completion, and a file already in
place with the right hash (a crash after rename) is recognised rather than sent again.
"""

from __future__ import annotations

import csv
import io
import logging
import posixpath
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import paramiko
from sqlalchemy import Engine

from crosswalk.agreements.egress import plan_egress
from crosswalk.audit import AuditLog
from crosswalk.config.loader import ProjectConfig
from crosswalk.config.models import OutboundFeed
from crosswalk.hashing import file_digest
from crosswalk.manifest import manifest_name, new_manifest
from crosswalk.staging import ledger
from crosswalk.staging.store import iter_staged
from crosswalk.transfer import remote

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryResult:
    delivery_id: str
    outcome: str  # delivered | skipped
    file_name: str
    rows: int = 0
    fields: tuple[str, ...] = ()


@dataclass
class OutboundJob:
    sftp: paramiko.SFTPClient
    engine: Engine
    audit: AuditLog
    cfg: ProjectConfig
    feed: OutboundFeed


def pending_batches(engine: Engine, feed: OutboundFeed) -> list[str]:
    """Staged batches of the source feed that this feed has not yet delivered."""
    out = []
    for b in ledger.staged_batches(engine, feed.source_feed):
        d = ledger.get_delivery(engine, ledger.delivery_id_for(feed.id, b.batch_id))
        if d is None or d.status != ledger.DELIVERED:
            out.append(b.batch_id)
    return out


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, (datetime, date)):
        return v.isoformat()
    if isinstance(v, (float, Decimal)):
        return format(Decimal(str(v)).normalize(), "f")
    return str(v)


def write_csv(rows_chunks, columns: list[str], dst: Path) -> int:
    n = 0
    with dst.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(columns)
        for rows in rows_chunks:
            w.writerows([_cell(v) for v in row] for row in rows)
            n += len(rows)
    return n


def deliver_batch(job: OutboundJob, source_batch_id: str) -> DeliveryResult:
    """Build → gate → write → upload (data, then manifest) → record."""
    feed, cfg = job.feed, job.cfg
    partner = cfg.partners[feed.partner]
    source = cfg.inbound(feed.source_feed)
    schema = cfg.schemas[source.schema_id]
    agreement = cfg.agreements[feed.agreement]
    delivery_id = ledger.delivery_id_for(feed.id, source_batch_id)
    file_name = f"{feed.file_prefix}_{source_batch_id.rsplit('-', 1)[-1]}.csv"
    ids = {"feed_id": feed.id, "partner": partner.code, "batch_id": source_batch_id, "file_name": file_name}

    # The gate runs before anything is built or written: a refusal leaves nothing behind.
    plan = plan_egress(agreement, schema.id, partner.code, schema.field_names)
    existing = ledger.get_delivery(job.engine, delivery_id)
    if existing is not None and existing.status == ledger.DELIVERED:
        reason = f"already delivered as {existing.file_name}"
        job.audit.emit("file.delivery_skipped", "skipped", reason=reason, file_sha256=existing.file_sha256, **ids)
        return DeliveryResult(delivery_id, "skipped", existing.file_name, existing.rows_out or 0)
    ledger.open_delivery(
        job.engine,
        ledger.Delivery(
            delivery_id,
            feed.id,
            partner.code,
            source_batch_id,
            plan.agreement_id,
            plan.agreement_version,
            plan.level,
            file_name,
            ledger.BUILDING,
        ),
        job.audit.run.dag_id or "",
        job.audit.run.run_id or "",
    )

    inbox = partner.sftp.paths.inbox
    target = posixpath.join(inbox, file_name)
    with tempfile.TemporaryDirectory(prefix="crosswalk-out-") as tmp:
        local = Path(tmp) / file_name
        rows = write_csv(iter_staged(job.engine, source.target.table, source_batch_id, plan.kept), plan.kept, local)
        digest = file_digest(local)
        manifest = new_manifest(
            feed=feed.id,
            schema_id=schema.id,
            file_name=file_name,
            sha256=digest.sha256,
            size=digest.size,
            rows=rows,
            sender=cfg.settings.operator.code,
            agreement_id=plan.agreement_id,
            agreement_version=plan.agreement_version,
            level=plan.level,
            fields=plan.kept,
        )
        # Seam: encryption to the partner's recipients and signing of the manifest go here.
        already = remote.remote_digest(job.sftp, target)
        if already is not None and already.sha256 == digest.sha256:
            log.info("%s is already in place with the same sha256; not sending it again", file_name)
        else:
            remote.upload_atomic(job.sftp, local, target)
        remote.upload_atomic(job.sftp, io.BytesIO(manifest.to_json()), posixpath.join(inbox, manifest_name(file_name)))
    ledger.complete_delivery(
        job.engine,
        delivery_id,
        file_sha256=digest.sha256,
        file_size=digest.size,
        rows_out=rows,
        fields_sent=plan.kept,
    )
    job.audit.emit(
        "file.delivered",
        "succeeded",
        file_sha256=digest.sha256,
        file_size=digest.size,
        rows_out=rows,
        **ids,
        detail={
            "agreement_id": plan.agreement_id,
            "agreement_version": plan.agreement_version,
            "level": plan.level,
            "fields_sent": plan.kept,
            "fields_removed": plan.removed,
        },
    )
    log.info(
        "Delivered %s to %s%s: %d rows, %d fields (%d removed by agreement %s level %d)",
        file_name,
        partner.code,
        inbox,
        rows,
        len(plan.kept),
        len(plan.removed),
        plan.agreement_id,
        plan.level,
    )
    return DeliveryResult(delivery_id, "delivered", file_name, rows, tuple(plan.kept))
