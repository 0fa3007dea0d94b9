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
from collections.abc import Callable, Iterator
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
    AreaObstructed,
    ChecksumMismatch,
    DataFileNotRegular,
    DataFileTooLarge,
    DecryptFailed,
    DropHeld,
    DropRejected,
    EmptyExtract,
    ManifestInvalid,
    ManifestOutOfRange,
    ManifestTooLarge,
    MissingDataFile,
    RetryableError,
    SchemaViolation,
    SizeMismatch,
    StagingFailed,
    WorkRootFull,
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
from crosswalk.transfer import placement, remote
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
    sftp: RemoteArea, cfg: ProjectConfig, feed: InboundFeed, engine: Engine | None, resend: str | None = None
) -> Intake:
    """List the partner's outbox once and choose this run's drops for ``feed``.

    A drop already terminal with exactly these files is left out from one ledger query (no manifest is
    read); the rest are taken oldest first (by when their last file arrived), at most the feed's
    ``max_drops_per_run``, so a busy outbox drains over runs instead of stopping the feed. With ``resend`` (a
    batch id), the drop of that batch, skipped as a duplicate of a staged batch, is taken in again; no other.
    The drop of the feed's latest staged batch, if still there, goes on to matching again (skipped at ingest),
    so a rerun applies clerical decisions made since.
    """
    found, keyed = _listed(sftp, cfg, feed)
    seen = ledger.seen_drop_keys(engine, feed.id) if engine is not None else {}
    if resend:
        seen = {k: b for k, b in seen.items() if b != resend}
    latest = ledger.latest_staged(engine, feed.id) if engine is not None else None
    fresh = sorted((d for d in keyed if d.drop_key not in seen), key=lambda d: (d.completed_at, d.manifest_file))
    taken = fresh[: feed.max_drops_per_run]
    again = [d for d in keyed if latest and seen.get(d.drop_key) == latest][:1]
    return Intake(replace(found, drops=keyed), taken, again, len(keyed) - len(fresh), len(fresh) - len(taken))


def _listed(sftp: RemoteArea, cfg: ProjectConfig, feed: InboundFeed) -> tuple[Discovery, list[Drop]]:
    """One listing of the partner's outbox: the feed's drops, each with its key and when its last file came."""
    partner = cfg.partners[feed.partner]
    listing = remote.list_entries(sftp, partner.sftp.paths.outbox)
    # Every entry counts toward a complete drop: a drop with a file that is not a regular file (a symlink, a
    # directory) is refused with a reason at ingest, never left waiting forever.
    found = classify(listing, feed.id, feed.file_pattern, partner_patterns(cfg, feed.partner))
    keyed = []
    for d in found.drops:
        when = max(
            int(listing[n].st_mtime or 0) for n in (d.manifest_file, d.signature_file, d.data_file) if n in listing
        )
        keyed.append(replace(d, drop_key=drop_key(feed.id, d, listing), completed_at=when))
    return found, keyed


def find_drop(sftp: RemoteArea, cfg: ProjectConfig, feed: InboundFeed, key: str) -> Drop | None:
    """The drop whose key is ``key``, listed again (what the ingest task is handed is the key and the name as
    shown, never the partner's file names: they reach Airflow's task list, its logs and lineage). None when its
    files changed since (the next run takes it in)."""
    return next((d for d in _listed(sftp, cfg, feed)[1] if d.drop_key == key), None)


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
    resend: str | None = None  # the batch id of a drop skipped as a duplicate, to load after all (the run's override)
    signing_key: Ed25519PrivateKey | None = None  # ours: signs the partner's receipts (none: no receipts)
    # Told (one line: codes and shown names) when a file for the partner could not be put in its area: ops alerting.
    on_partner_problem: Callable[[str], None] | None = None

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

    def content(data: Digest | None = None) -> str | None:
        """What the drop's files hold; ``data``: the data file's digest, when a step has just read it."""
        if irregular:
            return None
        data = data or _outbox_digest(job, drop, workroot.spool_file(batch_id))
        return _content_key(manifest_sha, signature_raw, data) if data else None

    if batch.status == ledger.QUARANTINED and drop.drop_key and not ledger.drop_seen(job.engine, drop.drop_key):
        now = content()
        if now is not None and ledger.content_seen(job.engine, batch_id, now):
            # Listed anew (a file touched: new times) but byte for byte what was quarantined: not examined again.
            reason = f"already quarantined as {batch_id}: its files were touched, their bytes are unchanged"
            ledger.record_drop_seen(job.engine, drop.drop_key, job.feed.id, batch_id, ledger.QUARANTINED, now)
            job.audit.emit("drop.skipped", "skipped", reason=reason, **ids, detail={"code": "unchanged"})
            return IngestResult(batch_id, "skipped", 0, reason, ledger.QUARANTINED)
        # The same manifest, but one of the drop's files changed since it was quarantined (a partner who fixed
        # only the signature resubmits under the same names): examine it again.
        reason = "one of its files changed since it was quarantined; examined again"
        ledger.reopen_batch(job.engine, batch_id, reason)
        job.audit.emit("drop.reexamined", "succeeded", reason=reason, **ids)
        reexamined = True
    elif batch.status == ledger.SKIPPED and job.resend == batch_id:
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
            ledger.record_drop_seen(job.engine, drop.drop_key, job.feed.id, batch_id, batch.status)
            optional(job, batch_id, "receipt", lambda: send_receipt(job, batch_id))  # only one a crash kept back
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
            if job.resend != batch_id and (same := ledger.staged_with_content(
                job.engine, job.feed.id, manifest.plaintext_sha256, batch_id
            )):  # fmt: skip
                return _skip_duplicate(job, drop, batch_id, same, ids)
            rows = _validate(job, plain, manifest)
            # Seam: identifier matching of the staged batch runs after this step.
            staged = _stage(job, plain, batch_id, rows)
        except Exception as exc:
            _conclude(job, drop, batch_id, received, exc, ids, reexamined, content)
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
            "resend": job.resend == batch_id,
            **_providing_agreement(job),
        },
    )
    log.info("Staged %s as %s: %d rows into %s", shown_name(drop.data_file), batch_id, staged, job.feed.target.table)
    # The outcome is recorded before anything optional: a receipt that cannot go never re-runs the drop.
    ledger.record_drop_seen(job.engine, drop.drop_key, job.feed.id, batch_id, ledger.STAGED)
    optional(job, batch_id, "receipt", lambda: send_receipt(job, batch_id))
    return IngestResult(batch_id, "staged", staged, batch_status=ledger.STAGED)


# What we put in the partner's inbox for its convenience (feedback, receipts) goes after the drop's outcome is
# recorded, and may fail without harm to it: a transport failure or something in our way is audited once, ops are
# alerted, the partner is told where it can be (a notice in its inbox), and the drop is never examined again for it.
PARTNER_FILE_FAILURES = (AreaObstructed, OSError, paramiko.SSHException, EOFError, RetryableError)


def optional(job: InboundJob, batch_id: str, what: str, put: Callable[[], None]) -> bool:
    """Run ``put`` (a file for the partner); on failure record it once and tell ops and the partner."""
    try:
        put()
        return True
    except PARTNER_FILE_FAILURES as exc:
        code = getattr(exc, "code", None) or "transfer_failed"
        said = exc.reason if isinstance(exc, AreaObstructed) else type(exc).__name__
        event = job.audit.emit_once(
            "partner_file.failed", "failed", once_by=("batch_id", "reason"), reason=f"{what}: {code}",
            batch_id=batch_id, feed_id=job.feed.id, partner=job.partner.code,
            detail={"code": code, "file": what, "what": said},
        )  # fmt: skip
        log.warning("%s for %s not put in %s's area (%s): %s", what, batch_id, job.partner.code, code, said)
        if event is not None:  # once per batch and cause
            if job.on_partner_problem is not None:
                job.on_partner_problem(f"{job.partner.code}: {what} for {batch_id} not delivered: {code}: {said}")
            if isinstance(exc, AreaObstructed):
                _notice(job, batch_id, what, exc)
        return False


def _notice(job: InboundJob, batch_id: str, what: str, exc: AreaObstructed) -> None:
    """Tell the partner, in its inbox, what is in our way (best effort: the inbox itself may be what is)."""
    text = (
        f"Crosswalk could not put the {what} for batch {batch_id} in your area.\n"
        f"reason: {exc.code}: {exc.reason}\n"
        "Remove or rename what is in the way; Crosswalk sends the next one as usual. Your drop itself was"
        " processed: its outcome does not depend on this.\n"
    )
    name = f"crosswalk-notice_{batch_id}_{what.replace(' ', '-')}.txt"
    with contextlib.suppress(*PARTNER_FILE_FAILURES):
        placement.put(job.sftp, io.BytesIO(text.encode()), posixpath.join(job.partner.sftp.paths.inbox, name))


def after_outcome(job: InboundJob, batch_id: str, feedback: tuple[str, bytes] | None = None) -> None:
    """The feedback file, then the signed receipt, each best effort, once the outcome is recorded."""
    if feedback is not None:
        name, body = feedback
        path = posixpath.join(job.partner.sftp.paths.inbox, name)
        optional(job, batch_id, "feedback", lambda: placement.put(job.sftp, io.BytesIO(body), path))
    optional(job, batch_id, "receipt", lambda: send_receipt(job, batch_id))


def send_owed_receipts(job: InboundJob, limit: int = 50) -> int:
    """Receipts that could not go when their drop reached its outcome (recorded as ``partner_file.failed``),
    tried again: at most ``limit`` per run, newest first. Returns how many went."""
    if job.signing_key is None:
        return 0
    failed = read_events(job.engine, event="partner_file.failed", feed_id=job.feed.id)
    owed = list(dict.fromkeys(e["batch_id"] for e in reversed(failed) if (e["reason"] or "").startswith("receipt:")))
    sent = 0
    for batch_id in owed[:limit]:
        if optional(job, batch_id, "receipt", lambda b=batch_id: send_receipt(job, b)):
            sent += 1
    return sent


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
    placement.put(job.sftp, io.BytesIO(receipt.body()), posixpath.join(folder, receipt.name()))
    signature = receipt.signature(job.signing_key).encode()
    placement.put(job.sftp, io.BytesIO(signature), posixpath.join(folder, receipt.name() + ".sig"))
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
    # A claim the file itself refutes is refused before anything is reserved for it: an age file's plaintext is
    # shorter than the file; OpenPGP's, at most its bounded expansion.
    bound = (openpgp if manifest.encryption == "openpgp" else age).max_plaintext(manifest.size)
    if manifest.plaintext_size > bound:
        raise ManifestOutOfRange(
            f"{manifest.file_name}: manifest states plaintext_size {manifest.plaintext_size} bytes, more than an"
            f" {manifest.encryption} file of {manifest.size} bytes can hold ({bound}): the file is not"
            f" {manifest.encryption}-encrypted, or the manifest is wrong"
        )
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
        f" operators to run the feed with 'Load duplicate' set to {batch_id}.\n"
    )
    log.info("Skipping %s as %s: %s", shown_name(drop.data_file), batch_id, reason)
    ledger.record_drop_seen(job.engine, drop.drop_key, job.feed.id, batch_id, ledger.SKIPPED)
    after_outcome(job, batch_id, (f"crosswalk-feedback_{batch_id}.txt", text.encode()))
    return IngestResult(batch_id, "skipped", 0, reason, ledger.SKIPPED)


# The one place an exception raised while taking a drop in becomes the drop's outcome. The codes form a
# closed list: every DropRejected's code (the partner's to fix: quarantined), the held codes below (ours:
# held for an operator), and transport failures, which leave the batch received for the retry.
HELD_CODES = {StagingFailed: "database_refused", WorkRootFull: "work_root_full"}
HELD_OTHERWISE = "internal_error"
RETRIED = (RetryableError, paramiko.SSHException, ConnectionError, TimeoutError)


def _conclude(
    job: InboundJob,
    drop: Drop,
    batch_id: str,
    received: Path,
    exc: Exception,
    ids: dict,
    reexamined: bool = False,
    content: Callable[[Digest | None], str | None] = lambda data: None,
) -> None:
    """Give the drop its terminal state for ``exc`` (re-raised by the caller): quarantined, held, or, for a
    transport failure only, left received for the retry."""
    if isinstance(exc, DropRejected):
        # A drop examined again is quarantined beside its earlier copy, never over it.
        folder = f"{batch_id}.{drop.drop_key[:8]}" if reexamined else batch_id
        kept, said, data = _quarantine(job, drop, batch_id, received, exc, folder)
        job.audit.emit(
            "drop.quarantined",
            "quarantined",
            reason=exc.reason,
            **ids,
            detail={"code": exc.code, "folder": folder, "copy": kept},
        )
        log.warning("QUARANTINED %s (%s): %s", shown_name(drop.data_file), exc.code, exc.reason)
        ledger.record_drop_seen(job.engine, drop.drop_key, job.feed.id, batch_id, ledger.QUARANTINED, content(data))
        # Then what is only for the partner's convenience: its failure never re-runs the drop.
        after_outcome(job, batch_id, (f"crosswalk-feedback_{folder}.txt", said.encode()))
        return
    held = next((c for kind, c in HELD_CODES.items() if isinstance(exc, kind)), None)
    if held is None and isinstance(exc, RETRIED):
        ledger.release_claim(job.engine, batch_id)  # this attempt is done with it: the next one claims it again
        return  # the network: the next attempt takes the drop in again
    code = held or HELD_OTHERWISE
    # The exception's own text can quote a value (a database error does): its type and our code only; a full work
    # root's is ours (where, its free space, what the drop needs), and is what ops need to act on.
    said = str(exc) if isinstance(exc, WorkRootFull) else f"{type(exc).__name__} while taking the drop in"
    reason = f"{code}: {said}; held for an operator"
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
) -> tuple[str, str, Digest | None]:
    """Copy the drop as received (still encrypted) to ``quarantine/<folder>/`` with ``REASON.txt`` and mark
    the ledger; return what was kept (``copied``, ``by_hash`` or ``obstructed``), the reason text (the feedback
    file repeats it) and the digest of the data file as read here (None if it was not). Plaintext never goes to
    SFTP.

    Each file is copied whole, byte for byte, from the outbox, under a name that says its role (``data--``,
    ``manifest--``, ``signature--``) and the name as shown (ordinary, or by hash), so no two collide however long
    or alike the partner's names are. A data file that is not ciphertext at all (plaintext under an ``.age``
    name, say) is not copied: the partner could not delete it from there. Its sha256 and size go in the reason
    file, and the original stays in the partner's outbox. Something the partner planted in our way in the
    quarantine folder leaves the copy unmade (the outcome stands; the audit says so)."""
    paths = job.partner.sftp.paths
    folder = posixpath.join(paths.quarantine, folder_name)
    extra = ""
    kept = "copied"
    said = reason_text(batch_id, drop, exc)
    data: Digest | None = None
    try:
        placement.ensure_folder(job.sftp, paths.quarantine)
        placement.ensure_folder(job.sftp, folder)
        for role, name in (
            ("data", drop.data_file),
            ("manifest", drop.manifest_file),
            ("signature", drop.signature_file),
        ):
            source = posixpath.join(paths.outbox, name)
            target = posixpath.join(folder, f"{role}--{shown_name(name)}")  # ordinary, or a hash: never collides
            if role == "data" and received.exists():  # downloaded already: send that copy back, not a second read
                if not _is_ciphertext(job, received):
                    data = file_digest(received)
                    extra, kept = _by_hash(data), "by_hash"
                    continue
                data = placement.put(job.sftp, received, target)
            elif remote.is_regular(
                remote.lstat_file(job.sftp, source)
            ):  # else absent, or not a file to read (a symlink)
                if role == "data":
                    with job.sftp.open(source, "rb") as f:
                        head = f.read(64 * 1024)
                    if not _is_ciphertext(job, head):
                        data = remote.remote_digest(job.sftp, source)
                        extra, kept = _by_hash(data), "by_hash"
                        continue
                with job.sftp.open(source, "rb") as f:
                    copied = placement.put(job.sftp, f, target)
                data = copied if role == "data" else data
        said += extra  # one text, one time: the reason file and the partner's feedback say the same
        placement.put(job.sftp, io.BytesIO(said.encode()), posixpath.join(folder, "REASON.txt"))
    except AreaObstructed as obstruction:
        kept = "obstructed"
        log.warning("Quarantine copy of %s not kept: %s", batch_id, obstruction.reason)
        job.audit.emit_once(
            "partner_file.failed", "failed", once_by=("batch_id", "reason"),
            reason=f"quarantine copy: {obstruction.code}", batch_id=batch_id, feed_id=job.feed.id,
            partner=job.partner.code,
            detail={"code": obstruction.code, "file": "quarantine copy", "what": obstruction.reason},
        )  # fmt: skip
    ledger.quarantine_batch(job.engine, batch_id, f"{exc.code}: {exc.reason}")
    return kept, said, data


def _outbox_digest(job: InboundJob, drop: Drop, spool: Path) -> Digest | None:
    """The data file's sha256 and size: from our spooled copy when that is whole, else read over SFTP; None when
    it is not a regular file."""
    path = posixpath.join(job.partner.sftp.paths.outbox, drop.data_file)
    attrs = remote.lstat_file(job.sftp, path)
    if not remote.is_regular(attrs):
        return None
    if spool.exists() and spool.stat().st_size == attrs.st_size:
        return file_digest(spool)
    return remote.remote_digest(job.sftp, path)


def _content_key(manifest_sha: str, signature_raw: bytes, data: Digest) -> str:
    """The sha256 over what the drop's three files hold: the manifest's and signature's sha256, the data file's
    sha256 and size."""
    parts = (manifest_sha, hashlib.sha256(signature_raw).hexdigest(), data.sha256, str(data.size))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _by_hash(digest: Digest | None) -> str:
    if digest is None:
        return ""
    return (
        f"data file not copied here: it is not an encrypted file; kept by its sha256 {digest.sha256} and size"
        f" {digest.size} bytes (your original is in your outbox)\n"
    )


def _is_ciphertext(job: InboundJob, source: Path | bytes) -> bool:
    """The data file is ciphertext in the partner's method, as far as its first bytes tell (age: its version line;
    OpenPGP: an encrypted session key packet), damaged or for another recipient perhaps, but never plaintext."""
    if isinstance(source, bytes):
        head = source
    else:
        with source.open("rb") as f:
            head = f.read(64 * 1024)
    if job.partner.encryption.method == "openpgp":
        return openpgp.looks_encrypted(head)
    return head.startswith(age.VERSION_LINE + b"\n")
