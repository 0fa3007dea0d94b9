"""Inbound: find a partner's complete drops and take each one in, or quarantine it.

:func:`ingest_drop` reads as the list of steps. Every check that fails raises a
:class:`~crosswalk.errors.DropRejected`; the drop is then copied to the partner's quarantine
folder with a reason file, the ledger marks it quarantined, the audit trail records why, and
nothing of it is staged. The partner's original is never moved, changed or deleted.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import logging
import posixpath
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import paramiko
from sqlalchemy import Engine

from crosswalk.audit import AuditLog
from crosswalk.config.loader import ProjectConfig
from crosswalk.config.models import InboundFeed, Partner
from crosswalk.errors import DropRejected, EmptyExtract, ManifestInvalid, SchemaViolation
from crosswalk.manifest import (
    MANIFEST_SUFFIX,
    MAX_MANIFEST_BYTES,
    Manifest,
    data_name,
    parse_manifest,
    safe_name,
)
from crosswalk.schemas.tableschema import TableSchema
from crosswalk.schemas.validate import iter_chunks, to_typed, validate_csv
from crosswalk.staging import ledger
from crosswalk.staging.store import stage_batch
from crosswalk.transfer import remote

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Drop:
    """A complete drop found in a partner's outbox. Small enough for XCom."""

    feed_id: str
    manifest_file: str
    data_file: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class Discovery:
    drops: list[Drop]
    waiting: list[str]  # data files whose manifest has not arrived yet
    unrouted: list[str]  # files that match no feed of this partner


@dataclass(frozen=True)
class IngestResult:
    batch_id: str
    outcome: str  # staged | skipped | quarantined
    rows: int = 0
    reason: str = ""


def _is_transient(name: str) -> bool:
    # Partner uploads in progress and editor/OS droppings are not drops.
    return name.startswith(".") or name.endswith(remote.PART_SUFFIX)


def discover(sftp: paramiko.SFTPClient, cfg: ProjectConfig, feed: InboundFeed) -> Discovery:
    """List the partner's outbox and classify what is there for ``feed``."""
    partner = cfg.partners[feed.partner]
    files = remote.list_files(sftp, partner.sftp.paths.outbox)
    patterns = [f.file_pattern for f in cfg.inbound_feeds() if f.partner == feed.partner]
    drops, unrouted = [], []
    for name in sorted(files):
        if _is_transient(name):
            continue
        data = data_name(name) if name.endswith(MANIFEST_SUFFIX) else name
        if not any(fnmatch.fnmatchcase(data, p) for p in patterns):
            unrouted.append(name)
        elif name.endswith(MANIFEST_SUFFIX) and fnmatch.fnmatchcase(data, feed.file_pattern):
            drops.append(Drop(feed.id, name, data))
    manifests = {d.data_file for d in drops}
    waiting = [
        n
        for n in sorted(files)
        if not _is_transient(n)
        and not n.endswith(MANIFEST_SUFFIX)
        and fnmatch.fnmatchcase(n, feed.file_pattern)
        and n not in manifests
    ]
    return Discovery(drops, waiting, unrouted)


@dataclass
class InboundJob:
    """What one ingest needs: an open SFTP session, the database, the audit log and the config."""

    sftp: paramiko.SFTPClient
    engine: Engine
    audit: AuditLog
    cfg: ProjectConfig
    feed: InboundFeed

    @property
    def partner(self) -> Partner:
        return self.cfg.partners[self.feed.partner]

    @property
    def schema(self) -> TableSchema:
        return self.cfg.schemas[self.feed.schema_id]


def ingest_drop(job: InboundJob, drop: Drop) -> IngestResult:
    """Take one drop in: read manifest → fetch and verify → validate → stage."""
    paths = job.partner.sftp.paths
    manifest_raw = remote.read_small(job.sftp, posixpath.join(paths.outbox, drop.manifest_file), MAX_MANIFEST_BYTES)
    manifest_sha = hashlib.sha256(manifest_raw).hexdigest()
    batch_id = ledger.batch_id_for(job.feed.id, manifest_sha)
    ids = {
        "feed_id": job.feed.id,
        "partner": job.partner.code,
        "batch_id": batch_id,
        "file_name": drop.data_file,
    }

    batch = ledger.open_batch(
        job.engine,
        ledger.Batch(
            batch_id,
            job.feed.id,
            job.partner.code,
            manifest_sha,
            drop.data_file,
            None,
            None,
            job.feed.schema_id,
            ledger.RECEIVED,
        ),
        job.audit.run.dag_id or "",
        job.audit.run.run_id or "",
    )
    if batch.status in (ledger.STAGED, ledger.QUARANTINED):
        # The same manifest again: a rerun, a retry, or a partner re-listing. Never load twice.
        reason = f"already {batch.status} as {batch_id}"
        job.audit.emit("drop.skipped", "skipped", reason=reason, file_sha256=batch.file_sha256, **ids)
        log.info("Skipping %s: %s", drop.data_file, reason)
        return IngestResult(batch_id, "skipped", batch.rows_staged or 0, reason)

    with tempfile.TemporaryDirectory(prefix="crosswalk-in-") as tmp:  # mode 0700; removed even on failure
        local = Path(tmp) / safe_name(drop.data_file)
        try:
            manifest = _check_manifest(job, manifest_raw, drop)
            ids["file_sha256"] = manifest.sha256
            with local.open("wb") as dst:
                digest = remote.download_verified(
                    job.sftp,
                    posixpath.join(paths.outbox, drop.data_file),
                    dst,
                    manifest.size,
                    manifest.sha256,
                )
            ledger.update_batch_file(job.engine, batch_id, digest.sha256, digest.size)
            job.audit.emit(
                "file.received",
                "succeeded",
                file_size=digest.size,
                **ids,
                detail={"manifest_sha256": manifest_sha, "schema_id": manifest.schema_id},
            )
            # Seam: signature verification and decryption of the payload go here, before parsing.
            rows = _validate(job, local, manifest)
            # Seam: identifier matching of the staged batch runs after this step.
            staged = _stage(job, local, batch_id, rows)
        except DropRejected as exc:
            _quarantine(job, drop, batch_id, manifest_raw, local if local.exists() else None, exc)
            job.audit.emit("drop.quarantined", "quarantined", reason=exc.reason, **ids, detail={"code": exc.code})
            log.warning("QUARANTINED %s (%s): %s", drop.data_file, exc.code, exc.reason)
            raise
    job.audit.emit(
        "batch.staged",
        "succeeded",
        rows_in=rows,
        rows_out=staged,
        **ids,
        detail={"table": job.feed.target.table},
    )
    log.info("Staged %s as %s: %d rows into %s", drop.data_file, batch_id, staged, job.feed.target.table)
    return IngestResult(batch_id, "staged", staged)


def _check_manifest(job: InboundJob, raw: bytes, drop: Drop) -> Manifest:
    manifest = parse_manifest(raw, drop.manifest_file)
    if manifest.feed != job.feed.id:
        raise ManifestInvalid(f"{drop.manifest_file}: feed is {manifest.feed!r}, expected {job.feed.id!r}")
    if manifest.schema_id != job.feed.schema_id:
        raise ManifestInvalid(
            f"{drop.manifest_file}: schema_id is {manifest.schema_id!r}, expected {job.feed.schema_id!r}"
        )
    return manifest


def _validate(job: InboundJob, local: Path, manifest: Manifest) -> int:
    with local.open("rb") as f:
        report = validate_csv(f, job.schema)
    if not report.ok:
        if report.rows == 0 and [p.code for p in report.problems] == ["no-rows"]:
            raise EmptyExtract(f"{manifest.file_name}: {report.summary()}")
        raise SchemaViolation(f"{manifest.file_name}: {report.summary()}")
    if report.rows != manifest.rows:
        raise ManifestInvalid(f"{manifest.file_name}: has {report.rows} rows, manifest says {manifest.rows}")
    return report.rows


def _stage(job: InboundJob, local: Path, batch_id: str, rows_in: int) -> int:
    with local.open("rb") as f:
        chunks = (to_typed(c, job.schema) for c in iter_chunks(f, job.schema))
        return stage_batch(job.engine, job.feed.target.table, batch_id, job.schema.field_names, chunks, rows_in)


def reason_text(batch_id: str, drop: Drop, exc: DropRejected) -> str:
    """The reason file left beside a quarantined drop: for the partner and for IG. No data values."""
    return (
        f"Crosswalk quarantined this drop.\n"
        f"reason: {exc.code}: {exc.reason}\n"
        f"data file: {drop.data_file}\n"
        f"manifest: {drop.manifest_file}\n"
        f"batch: {batch_id}\n"
        f"when: {datetime.now(UTC).isoformat(timespec='seconds')}\n"
        f"Your original in the outbox has not been changed. Fix the problem and drop a corrected file.\n"
    )


def _quarantine(
    job: InboundJob, drop: Drop, batch_id: str, manifest_raw: bytes, local: Path | None, exc: DropRejected
) -> None:
    """Copy the drop as received into ``quarantine/<batch_id>/`` with ``REASON.txt``; mark the ledger."""
    folder = posixpath.join(job.partner.sftp.paths.quarantine, batch_id)
    remote.ensure_dir(job.sftp, job.partner.sftp.paths.quarantine)
    remote.ensure_dir(job.sftp, folder)
    if local is not None and local.stat().st_size > 0:
        remote.upload_atomic(job.sftp, local, posixpath.join(folder, safe_name(drop.data_file)))
    remote.upload_atomic(job.sftp, io.BytesIO(manifest_raw), posixpath.join(folder, safe_name(drop.manifest_file)))
    reason = reason_text(batch_id, drop, exc).encode()
    remote.upload_atomic(job.sftp, io.BytesIO(reason), posixpath.join(folder, "REASON.txt"))
    ledger.quarantine_batch(job.engine, batch_id, f"{exc.code}: {exc.reason}")
