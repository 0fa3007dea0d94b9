"""Inbound: find a partner's complete drops and take each one in, or quarantine it.

:func:`ingest_drop` reads as the list of steps: verify the manifest's signature → check the
ciphertext's size and sha256 → decrypt → check the plaintext's sha256 → validate → stage.
Every check that fails raises a :class:`~crosswalk.errors.DropRejected`; the drop (as received,
still encrypted) is then copied to the partner's quarantine folder with a reason file, a short
feedback file goes to the partner's inbox, the ledger marks it quarantined, the audit trail
records why, and nothing of it is staged. The partner's original is never moved, changed or
deleted. Plaintext exists only in the task's private directory in the work root (:mod:`crosswalk.workroot`),
for the length of the task; if the task is killed, the next task's sweep removes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import posixpath
import stat
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine

from crosswalk import workroot
from crosswalk.atomic import part_path
from crosswalk.audit import AuditLog, read_events
from crosswalk.config.loader import ProjectConfig
from crosswalk.config.models import InboundFeed, Partner
from crosswalk.crypto import age, openpgp, sshsig
from crosswalk.drops import Discovery, Drop, classify, partner_patterns
from crosswalk.errors import (
    ChecksumMismatch,
    DataFileNotRegular,
    DataFileTooLarge,
    DecryptFailed,
    DropHeld,
    DropRejected,
    EmptyExtract,
    ManifestInvalid,
    ManifestTooLarge,
    MissingDataFile,
    RetryableError,
    SchemaViolation,
    SizeMismatch,
    StagingFailed,
)
from crosswalk.hashing import Digest, file_digest
from crosswalk.logsafety import shown_name
from crosswalk.manifest import (
    MAX_MANIFEST_BYTES,
    Manifest,
    parse_manifest,
)
from crosswalk.schemas.tableschema import TableSchema
from crosswalk.schemas.validate import validate_csv
from crosswalk.staging import ledger
from crosswalk.staging.tables import stage_file
from crosswalk.transfer import remote
from crosswalk.transfer.bulk import Bulk
from crosswalk.transfer.remote import RemoteArea, RemoteAttributes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    batch_id: str
    outcome: str  # staged | skipped | quarantined
    rows: int = 0
    reason: str = ""
    batch_status: str = ""  # the batch's status in the ledger: only a staged batch goes on to matching


@dataclass(frozen=True)
class Intake:
    """What one run takes in from a partner's outbox."""

    found: Discovery  # every complete drop, those waiting for a file, and files matching no feed
    new: list[Drop]  # drops to take in this run: not yet terminal, oldest first, at most max_drops_per_run
    again: list[Drop]  # the drop of the feed's latest staged batch, still in the outbox: matched again
    already: int  # complete drops already terminal with these exact files: left out without reading them
    backlog: int  # new drops left for the next run


def drop_key(feed_id: str, drop: Drop, listing: dict[str, RemoteAttributes]) -> str:
    """The drop's three files as listed: names, sizes and modification times. Any change to any of them (a
    new signature over the same manifest, a replaced data file) gives a new key."""
    parts = [feed_id]
    for name in (drop.data_file, drop.manifest_file, drop.signature_file):
        a = listing.get(name)
        parts.append(f"{name}\0{a.st_size if a else -1}\0{a.st_mtime if a else -1}")
    return hashlib.sha256("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()


def discover(
    sftp: RemoteArea, cfg: ProjectConfig, feed: InboundFeed, engine: Engine | None, resend: bool = False
) -> Intake:
    """List the partner's outbox once and choose this run's drops for ``feed``.

    A drop already terminal with exactly these files is left out from one ledger query (no manifest is
    read); the rest are taken oldest first (by when their last file arrived), at most the feed's
    ``max_drops_per_run``, so a busy outbox drains over runs instead of stopping the feed. With ``resend``,
    drops skipped as duplicates of a staged batch are taken in again. The drop of the feed's latest staged
    batch, if still there, goes on to matching again (skipped at ingest), so a rerun applies clerical
    decisions made since.
    """
    partner = cfg.partners[feed.partner]
    listing = remote.list_entries(sftp, partner.sftp.paths.outbox)
    # Every entry counts toward a complete drop: a drop with a file that is not a regular file (a symlink, a
    # directory) is refused with a reason at ingest, never left waiting forever.
    found = classify(listing, feed.id, feed.file_pattern, partner_patterns(cfg, feed.partner))
    outcomes = (ledger.STAGED, ledger.QUARANTINED) if resend else None
    seen = ledger.seen_drop_keys(engine, feed.id, outcomes) if engine is not None else {}
    latest = ledger.latest_staged(engine, feed.id) if engine is not None else None
    keyed = []
    for d in found.drops:
        when = max(
            int(listing[n].st_mtime or 0) for n in (d.manifest_file, d.signature_file, d.data_file) if n in listing
        )
        keyed.append(replace(d, drop_key=drop_key(feed.id, d, listing), completed_at=when))
    fresh = sorted((d for d in keyed if d.drop_key not in seen), key=lambda d: (d.completed_at, d.manifest_file))
    taken = fresh[: feed.max_drops_per_run]
    again = [d for d in keyed if latest and seen.get(d.drop_key) == latest][:1]
    return Intake(replace(found, drops=keyed), taken, again, len(keyed) - len(fresh), len(fresh) - len(taken))


@dataclass
class InboundJob:
    """What one ingest needs: an open SFTP session, the database, the audit log and the config."""

    sftp: RemoteArea
    engine: Engine
    audit: AuditLog
    cfg: ProjectConfig
    feed: InboundFeed
    identities: list[age.Identity]  # our current age identities; decryption tries each
    bulk: Bulk  # data files; listing, manifests and signatures use ``sftp``
    openpgp_secret: str | None = None  # our armored OpenPGP secret key, for partners on method 'openpgp'
    resend: bool = False  # take in a drop even if a staged batch holds the same content (the run's override)
    signing_key: Ed25519PrivateKey | None = None  # ours: signs the partner's receipts (none: no receipts)

    @property
    def partner(self) -> Partner:
        return self.cfg.partners[self.feed.partner]

    @property
    def schema(self) -> TableSchema:
        return self.cfg.schemas[self.feed.schema_id]


def ingest_drop(job: InboundJob, drop: Drop) -> IngestResult:
    """Take one drop in: verify signature → fetch and check ciphertext → decrypt → validate → stage."""
    paths = job.partner.sftp.paths
    outbox = partial(posixpath.join, paths.outbox)
    # lstat, never stat: a symlink is refused, not followed, and nothing is read from a file that is not regular.
    kinds = {n: remote.lstat_file(job.sftp, outbox(n)) for n in (drop.manifest_file, drop.signature_file)}
    irregular = [n for n, a in kinds.items() if a is not None and not stat.S_ISREG(a.st_mode or 0)]
    if irregular:
        manifest_raw = signature_raw = b""
        manifest_sha = (
            drop.drop_key or hashlib.sha256(drop.manifest_file.encode("utf-8", "surrogateescape")).hexdigest()
        )
        oversized: list[str] = []
    else:
        manifest_raw = remote.read_small(job.sftp, outbox(drop.manifest_file), MAX_MANIFEST_BYTES)
        signature_raw = remote.read_small(job.sftp, outbox(drop.signature_file), MAX_MANIFEST_BYTES)
        oversized = [n for n, raw in ((drop.manifest_file, manifest_raw), (drop.signature_file, signature_raw))
                     if len(raw) > MAX_MANIFEST_BYTES]  # fmt: skip
        # The batch is named by the whole manifest as sent, however large (read_small stops at the limit).
        whole = remote.remote_digest(job.sftp, outbox(drop.manifest_file)) if oversized else None
        manifest_sha = whole.sha256 if whole else hashlib.sha256(manifest_raw).hexdigest()
    batch_id = ledger.batch_id_for(job.feed.id, manifest_sha)
    ids = {"feed_id": job.feed.id, "partner": job.partner.code, "batch_id": batch_id, "file_name": drop.data_file}

    batch = ledger.open_batch(
        job.engine,
        ledger.Batch(
            batch_id,
            job.feed.id,
            job.partner.code,
            manifest_sha,
            shown_name(drop.data_file),  # our tables hold a partner's name only as shown (ordinary, or by hash)
            None,
            None,
            job.feed.schema_id,
            ledger.RECEIVED,
        ),
        job.audit.run.dag_id or "",
        job.audit.run.run_id or "",
    )
    reexamined = False
    if batch.status == ledger.QUARANTINED and drop.drop_key and not ledger.drop_seen(job.engine, drop.drop_key):
        # The same manifest, but one of the drop's files changed since it was quarantined (a partner who fixed
        # only the signature resubmits under the same names): examine it again.
        reason = "one of its files changed since it was quarantined; examined again"
        ledger.reopen_batch(job.engine, batch_id, reason)
        job.audit.emit("drop.reexamined", "succeeded", reason=reason, **ids)
        reexamined = True
    elif batch.status == ledger.SKIPPED and job.resend:
        reason = "skipped before as a duplicate; taken in again on the run's resend"
        ledger.reopen_batch(job.engine, batch_id, reason)
        job.audit.emit("drop.resent", "succeeded", reason=reason, **ids)
    elif batch.status in (ledger.STAGED, ledger.QUARANTINED, ledger.HELD, ledger.SKIPPED):
        # The same manifest again: a replay, a rerun, a retry. Never load twice; a held drop waits for its
        # release by an operator.
        reason = f"already {batch.status} as {batch_id}"
        job.audit.emit("drop.skipped", "skipped", reason=reason, file_sha256=batch.file_sha256, **ids)
        log.info("Skipping %s: %s", shown_name(drop.data_file), reason)
        if batch.status != ledger.HELD:
            send_receipt(job, batch_id)  # once per outcome: sends only a receipt a crash kept from going
            ledger.record_drop_seen(job.engine, drop.drop_key, job.feed.id, batch_id, batch.status)
        return IngestResult(batch_id, "skipped", batch.rows_staged or 0, reason, batch.status)

    # One owner per drop: another run working on it now (a live claim) is left to it.
    if (holder := ledger.claim_batch(job.engine, batch_id, job.audit.run.run_id or "a run without id")) is not None:
        reason = f"in progress in run {holder}"
        job.audit.emit("drop.skipped", "skipped", reason=reason, **ids, detail={"code": "in_progress"})
        log.info("Skipping %s: %s", shown_name(drop.data_file), reason)
        return IngestResult(batch_id, "skipped", 0, reason, ledger.RECEIVED)

    # The ciphertext is spooled per batch, so a later attempt (on any worker sharing the work root) resumes
    # the download where this one stopped; it goes once the drop has its outcome. Plaintext is never spooled.
    received = workroot.spool_file(batch_id)
    with workroot.task_dir("in") as tmp, _spool_kept_for_retry(received):  # plaintext: removed even on failure
        plain = Path(tmp) / "plaintext.csv"
        try:
            if irregular:
                raise DataFileNotRegular(
                    f"{shown_name(irregular[0])}: not a regular file (a symlink, directory or special file): not read"
                )
            if oversized:  # before any signature check: what is signed must first be a manifest
                raise ManifestTooLarge(
                    f"{shown_name(oversized[0])}: larger than {MAX_MANIFEST_BYTES} bytes (a manifest and its"
                    " signature are well under 1 KB): not read"
                )
            signer = sshsig.verify(io.BytesIO(manifest_raw), signature_raw, job.partner.signing_keys)
            manifest = _check_manifest(job, manifest_raw, drop)
            ids["file_sha256"] = manifest.sha256
            _check_data_file(job, drop, manifest)
            part = part_path(received)
            done = part.stat().st_size if part.exists() else 0  # resumed: already here
            workroot.ensure_space(manifest.size - done + manifest.plaintext_size, f"{manifest.file_name}")
            job.bulk.download(outbox(drop.data_file), received)
            digest = _verify_and_decrypt(job, received, plain, manifest)
            ledger.update_batch_file(job.engine, batch_id, digest.sha256, digest.size, manifest.plaintext_sha256)
            job.audit.emit_once(  # a retry after a killed attempt receives the same file again: recorded once
                "file.received",
                "succeeded",
                once_by=("batch_id", "file_sha256"),
                file_size=digest.size,
                **ids,
                detail={
                    "manifest_sha256": manifest_sha,
                    "schema_id": manifest.schema_id,
                    "signed_by": signer,
                    "encryption": manifest.encryption,
                },
            )
            if not job.resend and (same := ledger.staged_with_content(
                job.engine, job.feed.id, manifest.plaintext_sha256, batch_id
            )):  # fmt: skip
                return _skip_duplicate(job, drop, batch_id, same, ids)
            rows = _validate(job, plain, manifest)
            # Seam: identifier matching of the staged batch runs after this step.
            staged = _stage(job, plain, batch_id, rows)
        except Exception as exc:
            _conclude(job, drop, batch_id, received, exc, ids, reexamined)
            raise
    job.audit.emit(
        "batch.staged",
        "succeeded",
        rows_in=rows,
        rows_out=staged,
        **ids,
        detail={
            "table": job.feed.target.table,
            "plaintext_sha256": manifest.plaintext_sha256,
            "fields_received": job.schema.field_names,
            "resend": job.resend,
            **_providing_agreement(job),
        },
    )
    log.info("Staged %s as %s: %d rows into %s", shown_name(drop.data_file), batch_id, staged, job.feed.target.table)
    # The receipt before the drop is marked seen: if it cannot go now, the retry meets the drop again and sends it.
    send_receipt(job, batch_id)
    ledger.record_drop_seen(job.engine, drop.drop_key, job.feed.id, batch_id, ledger.STAGED)
    return IngestResult(batch_id, "staged", staged, batch_status=ledger.STAGED)


RECEIPTS_DIR = "receipts"  # in the partner's inbox
RECEIPT_OUTCOMES = {ledger.STAGED: "staged", ledger.SKIPPED: "skipped", ledger.QUARANTINED: "quarantined"}


def send_receipt(job: InboundJob, batch_id: str) -> None:
    """The signed receipt for the batch's outcome (:mod:`crosswalk.receipts`), in the partner's inbox, once per
    outcome: a rerun or a replay of the drop sends it only if it never went (the ``receipt.sent`` event says)."""
    from sqlalchemy import text

    from crosswalk.receipts import Receipt

    if job.signing_key is None:
        return
    with job.engine.connect() as conn:
        batch = ledger.get_batch(conn, batch_id)
        at = conn.execute(text("SELECT updated_at FROM batch WHERE batch_id = :b"), {"b": batch_id}).scalar_one()
    at = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))  # SQLite gives text
    outcome = RECEIPT_OUTCOMES.get(batch.status) if batch else None
    if outcome is None:
        return
    code = (batch.reason or "").split(":", 1)[0].strip() or None if outcome != "staged" else None
    mark = f"{outcome}:{code}" if code else outcome
    sent = read_events(job.engine, event="receipt.sent", batch_id=batch_id)
    if any(e["reason"] == mark for e in sent):
        return
    receipt = Receipt(
        job.cfg.settings.operator.code, job.partner.code, job.feed.id, batch_id, batch.file_name,
        batch.manifest_sha256.strip(), (batch.file_sha256 or "").strip() or None, outcome,
        batch.rows_staged if outcome == "staged" else None, code, at,
    )  # fmt: skip
    # Beside the deliveries, not among them: a partner's script that collects our extracts meets no receipt.
    folder = posixpath.join(job.partner.sftp.paths.inbox, RECEIPTS_DIR)
    remote.ensure_dir(job.sftp, folder)
    remote.upload_atomic(job.sftp, io.BytesIO(receipt.body()), posixpath.join(folder, receipt.name()))
    signature = receipt.signature(job.signing_key).encode()
    remote.upload_atomic(job.sftp, io.BytesIO(signature), posixpath.join(folder, receipt.name() + ".sig"))
    job.audit.emit_once(
        "receipt.sent", "succeeded", once_by=("batch_id", "reason"), reason=mark, batch_id=batch_id,
        feed_id=job.feed.id, partner=job.partner.code, file_sha256=receipt.file_sha256,
        detail={"receipt": receipt.name(), "receipt_sha256": hashlib.sha256(receipt.body()).hexdigest()},
    )  # fmt: skip


@contextlib.contextmanager
def _spool_kept_for_retry(spool: Path) -> Iterator[None]:
    """Remove the spooled ciphertext (and its partial download) once the drop has its outcome; keep it only
    when a transport failure means the next attempt takes the drop in again, from where this one stopped."""
    try:
        yield
    except RETRIED:
        raise
    except BaseException:
        workroot.remove_spool(spool)
        raise
    workroot.remove_spool(spool)


def _check_data_file(job: InboundJob, drop: Drop, manifest: Manifest) -> None:
    """The data file, lstat'ed over SFTP before any download: there, a regular file, within the feed's
    ``max_bytes``, and the size its manifest states."""
    limit = job.feed.max_bytes
    for what, stated in (("encrypted size", manifest.size), ("plaintext_size", manifest.plaintext_size)):
        if stated > limit:
            raise DataFileTooLarge(
                f"{manifest.file_name}: manifest states {what} {stated} bytes; this feed takes at most {limit}"
            )
    attrs = remote.lstat_file(job.sftp, posixpath.join(job.partner.sftp.paths.outbox, drop.data_file))
    if attrs is None:
        raise MissingDataFile(f"{manifest.file_name}: not found in the outbox")
    if not stat.S_ISREG(attrs.st_mode or 0):
        raise DataFileNotRegular(f"{manifest.file_name}: not a regular file (a symlink, directory or special file)")
    if (attrs.st_size or 0) > limit:
        raise DataFileTooLarge(f"{manifest.file_name}: {attrs.st_size} bytes; this feed takes at most {limit}")
    if attrs.st_size != manifest.size:
        raise SizeMismatch(f"{manifest.file_name}: size is {attrs.st_size} bytes, manifest says {manifest.size}")


def _skip_duplicate(job: InboundJob, drop: Drop, batch_id: str, same: str, ids: dict) -> IngestResult:
    """Exactly the extract of a batch already staged, under another name: not loaded twice. The partner is
    told which batch holds it; an operator who means to load it again triggers the run with ``resend``."""
    reason = f"duplicate_content: the same extract (plaintext sha256) as staged batch {same}; not loaded again"
    ledger.skip_batch(job.engine, batch_id, reason)
    job.audit.emit(
        "drop.skipped", "skipped", reason=reason, **ids, detail={"code": "duplicate_content", "same_as": same}
    )
    text = (
        f"Crosswalk did not load this drop.\n"
        f"reason: {reason}\n"
        f"data file: {shown_name(drop.data_file)}\n"
        f"batch: {batch_id}\n"
        f"when: {datetime.now(UTC).isoformat(timespec='seconds')}\n"
        "Nothing to fix: the data is already with us. If it was meant to be loaded again, ask the Crosswalk"
        " operators to run the feed with 'resend'.\n"
    )
    paths = job.partner.sftp.paths
    remote.upload_atomic(
        job.sftp, io.BytesIO(text.encode()), posixpath.join(paths.inbox, f"crosswalk-feedback_{batch_id}.txt")
    )
    log.info("Skipping %s as %s: %s", shown_name(drop.data_file), batch_id, reason)
    send_receipt(job, batch_id)
    ledger.record_drop_seen(job.engine, drop.drop_key, job.feed.id, batch_id, ledger.SKIPPED)
    return IngestResult(batch_id, "skipped", 0, reason, ledger.SKIPPED)


# The one place an exception raised while taking a drop in becomes the drop's outcome. The codes form a
# closed list: every DropRejected's code (the partner's to fix: quarantined), the held codes below (ours:
# held for an operator), and transport failures, which leave the batch received for the retry.
HELD_CODES = {StagingFailed: "database_refused"}
HELD_OTHERWISE = "internal_error"
RETRIED = (RetryableError, paramiko.SSHException, ConnectionError, TimeoutError)


def _conclude(
    job: InboundJob, drop: Drop, batch_id: str, received: Path, exc: Exception, ids: dict, reexamined: bool = False
) -> None:
    """Give the drop its terminal state for ``exc`` (re-raised by the caller): quarantined, held, or, for a
    transport failure only, left received for the retry."""
    if isinstance(exc, DropRejected):
        # A drop examined again is quarantined beside its earlier copy, never over it.
        folder = f"{batch_id}.{drop.drop_key[:8]}" if reexamined else batch_id
        _quarantine(job, drop, batch_id, received, exc, folder)
        job.audit.emit(
            "drop.quarantined", "quarantined", reason=exc.reason, **ids, detail={"code": exc.code, "folder": folder}
        )
        log.warning("QUARANTINED %s (%s): %s", shown_name(drop.data_file), exc.code, exc.reason)
        send_receipt(job, batch_id)
        ledger.record_drop_seen(job.engine, drop.drop_key, job.feed.id, batch_id, ledger.QUARANTINED)
        return
    if isinstance(exc, RETRIED):
        ledger.release_claim(job.engine, batch_id)  # this attempt is done with it: the next one claims it again
        return  # the network: the next attempt takes the drop in again
    code = next((c for kind, c in HELD_CODES.items() if isinstance(exc, kind)), HELD_OTHERWISE)
    # The exception's own text can quote a value (a database error does): its type and our code only.
    reason = f"{code}: {type(exc).__name__} while taking the drop in; held for an operator"
    ledger.hold_batch(job.engine, batch_id, reason)
    job.audit.emit("drop.held", "failed", reason=reason, **ids, detail={"code": code, "error": type(exc).__name__})
    log.error(
        "HELD %s as %s (%s): the cause is ours; the partner is not told", shown_name(drop.data_file), batch_id, code
    )
    raise DropHeld(batch_id, code) from exc


def _verify_and_decrypt(job: InboundJob, received: Path, plain: Path, manifest: Manifest) -> Digest:
    """The file as received must be exactly the one the signed manifest describes, and so must its
    plaintext. The ciphertext is hashed on another core while it decrypts (one pass over the file's
    time instead of two); the plaintext stays in the private work dir and is removed unless both
    hashes match. A hash mismatch is reported in preference to a decryption failure: it is the more
    exact reason (the file was altered or truncated on the way)."""
    size = received.stat().st_size
    if size != manifest.size:
        raise SizeMismatch(f"{manifest.file_name}: size is {size} bytes, manifest says {manifest.size}")
    failure: DropRejected | None = None
    plain_digest: Digest | None = None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="crosswalk-hash") as pool:
        hashing = pool.submit(file_digest, received)
        try:
            plain_digest = _decrypt(job, received, plain, manifest)
        except DropRejected as exc:
            failure = exc
        digest = hashing.result()
    if digest.sha256 != manifest.sha256:
        plain.unlink(missing_ok=True)
        raise ChecksumMismatch(
            f"{manifest.file_name}: sha256 is {digest.sha256}, manifest says {manifest.sha256}"
        ) from failure
    if failure is not None:
        raise failure
    assert plain_digest is not None
    if plain_digest.size != manifest.plaintext_size or plain_digest.sha256 != manifest.plaintext_sha256:
        plain.unlink()
        raise ChecksumMismatch(
            f"{manifest.file_name}: decrypted content has sha256 {plain_digest.sha256} ({plain_digest.size} bytes),"
            f" manifest says {manifest.plaintext_sha256} ({manifest.plaintext_size} bytes)"
        )
    return digest


def _decrypt(job: InboundJob, received: Path, plain: Path, manifest: Manifest) -> Digest:
    """Decrypt into the private work dir; return the plaintext's sha256 and size."""
    enc = job.partner.encryption
    # Decryption stops as soon as the plaintext passes what the signed manifest states (a file that decrypts
    # to far more than it said, such as a compressed bomb, never fills the disk).
    limit = {
        "limit": manifest.plaintext_size,
        "too_large": lambda: DataFileTooLarge(
            f"{manifest.file_name}: decrypts to more than the {manifest.plaintext_size} bytes its manifest states;"
            " decryption stopped"
        ),
    }
    if manifest.encryption != enc.method:
        raise ManifestInvalid(
            f"{manifest.file_name}: encrypted with {manifest.encryption}, {job.partner.code} uses {enc.method}"
        )
    if enc.method == "openpgp":
        if not job.openpgp_secret:
            raise DecryptFailed("no OpenPGP secret key is configured for us; cannot decrypt")
        # The payload must also carry a valid OpenPGP signature by one of the partner's pinned keys.
        openpgp.decrypt_file(received, plain, [job.openpgp_secret], enc.openpgp_keys, **limit)
        return file_digest(plain)
    if not job.identities:
        raise DecryptFailed("no current age identity is configured for us; cannot decrypt")
    return age.decrypt_file(received, plain, job.identities, **limit)


def _check_manifest(job: InboundJob, raw: bytes, drop: Drop) -> Manifest:
    manifest = parse_manifest(raw, drop.manifest_file)
    # What the partner wrote is not repeated (it could be anything): only what we expected.
    for name, stated, expected in (
        ("sender", manifest.sender, job.partner.code),
        ("feed", manifest.feed, job.feed.id),
        ("schema_id", manifest.schema_id, job.feed.schema_id),
    ):
        if stated != expected:
            raise ManifestInvalid(f"{shown_name(drop.manifest_file)}: {name} is not {expected!r}")
    return manifest


def _providing_agreement(job: InboundJob) -> dict[str, str | int]:
    """The agreement, in force today, under which this partner provides this dataset (for the record)."""
    today = datetime.now(UTC).date()
    for history in job.cfg.agreements.values():
        a = history.in_force(today)
        if a is not None and a.provider == job.partner.code and job.feed.schema_id in a.datasets:
            return {"agreement_id": a.id, "agreement_version": a.version}
    return {}


def _validate(job: InboundJob, local: Path, manifest: Manifest) -> int:
    """Validate the decrypted extract against the feed's table schema and the manifest's row count."""
    with local.open("rb") as f:
        report = validate_csv(f, job.schema)
    if not report.ok:
        only_empty = report.rows == 0 and [p.code for p in report.problems] == ["no-rows"]
        if only_empty and job.feed.person_list is not None and manifest.rows == 0:
            return 0  # a list of nobody is a list: no one has objected, no record is restricted
        if only_empty:
            raise EmptyExtract(f"{manifest.file_name}: {report.summary()}")
        raise SchemaViolation(f"{manifest.file_name}: {report.summary()}")
    if report.rows != manifest.rows:
        raise ManifestInvalid(f"{manifest.file_name}: has {report.rows} rows, manifest says {manifest.rows}")
    return report.rows


def _stage(job: InboundJob, local: Path, batch_id: str, rows_in: int) -> int:
    with local.open("rb") as f:
        return stage_file(job.engine, job.feed.target.table, batch_id, job.schema, f, rows_in)


def _is_regular(attrs: RemoteAttributes | None) -> bool:
    return attrs is not None and stat.S_ISREG(attrs.st_mode or 0)


def reason_text(batch_id: str, drop: Drop, exc: DropRejected) -> str:
    """The reason file left beside a quarantined drop: for the partner and for IG. No data values."""
    return (
        f"Crosswalk quarantined this drop.\n"
        f"reason: {exc.code}: {exc.reason}\n"
        f"data file: {shown_name(drop.data_file)}\n"
        f"manifest: {shown_name(drop.manifest_file)}\n"
        f"signature: {shown_name(drop.signature_file)}\n"
        f"batch: {batch_id}\n"
        f"when: {datetime.now(UTC).isoformat(timespec='seconds')}\n"
        f"Your original in the outbox has not been changed. Fix the problem and drop a corrected file.\n"
    )


def _quarantine(
    job: InboundJob, drop: Drop, batch_id: str, received: Path, exc: DropRejected, folder_name: str
) -> None:
    """Copy the drop as received (still encrypted) to ``quarantine/<batch_id>/`` with ``REASON.txt``,
    tell the partner in its inbox, and mark the ledger. Plaintext never goes to SFTP.

    Each of the three files is copied whole, byte for byte, from the outbox (whatever its size), under a
    name that says its role (``data--``, ``manifest--``, ``signature--``) and the name as shown (ordinary,
    or by hash), so no two can collide however long or alike the partner's names are.
    """
    paths = job.partner.sftp.paths
    folder = posixpath.join(paths.quarantine, folder_name)
    remote.ensure_dir(job.sftp, paths.quarantine)
    remote.ensure_dir(job.sftp, folder)
    for role, name in (("data", drop.data_file), ("manifest", drop.manifest_file), ("signature", drop.signature_file)):
        source = posixpath.join(paths.outbox, name)
        target = posixpath.join(folder, f"{role}--{shown_name(name)}")  # ordinary, or a hash: never collides
        if role == "data" and received.exists():  # downloaded already: send that copy back, not a second read
            remote.upload_atomic(job.sftp, received, target)
        elif _is_regular(remote.lstat_file(job.sftp, source)):  # else absent, or not a file to read (a symlink)
            with job.sftp.open(source, "rb") as f:
                remote.upload_atomic(job.sftp, f, target)
    reason = reason_text(batch_id, drop, exc).encode()
    remote.upload_atomic(job.sftp, io.BytesIO(reason), posixpath.join(folder, "REASON.txt"))
    # Feedback for a partner with little IT: what was wrong, in its inbox, without personal data.
    remote.upload_atomic(
        job.sftp, io.BytesIO(reason), posixpath.join(paths.inbox, f"crosswalk-feedback_{folder_name}.txt")
    )
    ledger.quarantine_batch(job.engine, batch_id, f"{exc.code}: {exc.reason}")
