"""Outbound: build an extract from a staged batch, gate it, encrypt and sign it, deliver it.

:func:`deliver_batch` reads as the list of steps. Delivery is idempotent: the file name is
derived from the source batch, the delivery ledger records completion, and a file already in
place with the right hash (a crash after rename) is recognised rather than sent again.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import posixpath
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path

import pandas as pd
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine

from crosswalk import disclosures, workroot
from crosswalk.agreements.egress import NORMAL_RUN, EgressPlan, KeyLookup, RunOptions, gate
from crosswalk.audit import AuditLog
from crosswalk.columns import per_distinct
from crosswalk.config.loader import ProjectConfig
from crosswalk.config.models import OutboundFeed
from crosswalk.config.models.feeds import IDENTIFIERS_BACK
from crosswalk.crypto import age, openpgp, sshsig
from crosswalk.errors import DropRejected, EgressRefused, FatalError
from crosswalk.hashing import BackgroundHasher, Digest, TeeReader, copy_hashing, file_digest
from crosswalk.lineage import Flow
from crosswalk.manifest import (
    ENCRYPTED_SUFFIX,
    MAX_MANIFEST_BYTES,
    Manifest,
    manifest_for_drop,
    manifest_name,
    parse_manifest,
    signature_name,
)
from crosswalk.pipeline import disclose
from crosswalk.pipeline.identifiers_back import IdentifierReturn
from crosswalk.pipeline.population import StagedRecords
from crosswalk.staging import ledger
from crosswalk.transfer import placement, remote
from crosswalk.transfer.bulk import Bulk
from crosswalk.transfer.remote import RemoteArea
from crosswalk.transfer.session import on_session

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
    sftp: RemoteArea
    engine: Engine
    audit: AuditLog
    cfg: ProjectConfig
    feed: OutboundFeed
    signing_key: Ed25519PrivateKey  # ours, from the secrets backend
    bulk: Bulk  # data files; listing, manifests and signatures use ``sftp``
    disclosure_key: bytes  # ours, for the per-person disclosure log's keyed hashes (crosswalk.disclosures)
    openpgp_secret: str | None = None  # our armored OpenPGP secret key, for partners on method 'openpgp'
    key_for: KeyLookup | None = None  # pseudonymisation keys, by connection id, from the secrets backend
    options: RunOptions = NORMAL_RUN
    on_disclosed: Callable[[Flow], None] | None = None  # told of each delivery as lineage (OpenLineage)


def pending_batches(
    engine: Engine,
    feed: OutboundFeed,
    since: date | None = None,
    until: date | None = None,
    resend_batch: str | None = None,
) -> list[str]:
    """Staged batches of the source feed that this feed has not yet delivered (staged from ``since``
    to ``until`` if given); or just ``resend_batch``, which must be a staged batch of the source."""
    if since is not None and until is not None and since > until:
        raise FatalError(f"the date range is empty: staged_from {since} is after staged_to {until}")
    if resend_batch is not None:
        if resend_batch not in {b.batch_id for b in ledger.staged_batches(engine, feed.source_feed)}:
            raise FatalError(f"{resend_batch} is not a staged batch of {feed.source_feed}: nothing to resend")
        return [resend_batch]
    out = []
    for b in ledger.staged_batches(engine, feed.source_feed, since, until):
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


NEEDS_QUOTES = (",", '"', "\r", "\n")


def _quoted(cell: str) -> str:
    """One CSV field as RFC 4180 writes it: quoted (quotes doubled) if it holds a comma, quote, CR or LF."""
    if any(c in cell for c in NEEDS_QUOTES):
        return '"' + cell.replace('"', '""') + '"'
    return cell


class Extract:
    """The gated extract as CSV bytes, made a chunk at a time as it is read.

    A file object (``read``) for the encryptor, so the plaintext is never a file. Each chunk has been through the
    gate already (the people the population admits, then only what the agreement lets leave, transformed); each
    column's cells are worked out once per distinct value (:func:`crosswalk.columns.per_distinct`), then the rows
    go to the C csv writer in one call. Counts rows.
    """

    def __init__(self, frames: Iterable[pd.DataFrame], header: Sequence[str]) -> None:
        self.rows = 0
        self._blocks = self._csv(frames, header)
        self._buf, self._pos = b"", 0

    def _csv(self, frames: Iterable[pd.DataFrame], header: Sequence[str]) -> Iterator[bytes]:
        yield self._format([list(header)])
        for frame in frames:
            cells = (per_distinct(frame[c], _cell, keeps_strings=True) for c in frame.columns)
            yield self._format(zip(*cells, strict=True))
            self.rows += len(frame)

    @staticmethod
    def _format(rows: Iterable) -> bytes:
        rows = list(rows)
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows(rows)
        out = text.getvalue()
        if "\r" in out:
            # Python's writer quotes a field only for the characters of its line terminator, so a carriage
            # return inside a value would go out bare, and a partner's parser would end the row there. Such a
            # (rare) block is written field by field, quoting what needs it, empty fields left empty.
            out = "".join(",".join(map(_quoted, row)) + "\n" for row in rows)
        return out.encode("utf-8")

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) - self._pos < n:
            block = next(self._blocks, None)
            if block is None:
                break
            self._buf, self._pos = self._buf[self._pos :] + block, 0
        end = len(self._buf) if n < 0 else min(self._pos + n, len(self._buf))
        out, self._pos = self._buf[self._pos : end], end
        return out


def write_extract(chunks, plan: EgressPlan, dst: Path) -> tuple[int, dict[str, int]]:
    """Write rows (tuples of ``plan.sent``) through a plan without row rules to ``dst`` (:class:`Extract`); its row
    count and, per column, how many malformed values a transform had to blank."""
    malformed: dict[str, int] = {}

    def frames() -> Iterator[pd.DataFrame]:
        for rows in chunks:
            frame, bad = plan.apply(pd.DataFrame(rows, columns=list(plan.sent), dtype=object))
            for k, v in bad.items():
                malformed[k] = malformed.get(k, 0) + v
            yield frame

    extract = Extract(frames(), plan.sent)
    with dst.open("wb") as f:
        copy_hashing(extract, f)
    return extract.rows, malformed


def rows_for(job: OutboundJob, source_batch_id: str, plan: EgressPlan) -> StagedRecords | IdentifierReturn:
    """What the delivery carries, as it passes the gate: the source's staged records, or the identifiers matching
    found for them (an identifiers_back feed). The population's evidence is read here, before anything is built."""
    if job.feed.kind == IDENTIFIERS_BACK:
        return IdentifierReturn.of(job.cfg, job.engine, job.feed, source_batch_id, plan)
    return StagedRecords.of(job.cfg, job.engine, job.cfg.inbound(job.feed.source_feed), source_batch_id, plan)


def deliver_batch(job: OutboundJob, source_batch_id: str) -> DeliveryResult:
    """Gate → build → encrypt → sign → upload (data, manifest, signature last) → record."""
    feed, cfg = job.feed, job.cfg
    partner = cfg.partners[feed.partner]
    source = cfg.inbound(feed.source_feed)
    schema = cfg.schemas[feed.dataset(source)]
    agreement = cfg.agreements[feed.agreement]
    delivery_id = ledger.delivery_id_for(feed.id, source_batch_id)
    extract = f"{feed.file_prefix}_{source_batch_id.rsplit('-', 1)[-1]}.csv"
    file_name = extract + ENCRYPTED_SUFFIX[partner.encryption.method]
    ids = {"feed_id": feed.id, "partner": partner.code, "batch_id": source_batch_id, "file_name": file_name}

    opts = job.options
    # The gate runs before anything is built or written: a refusal leaves nothing behind.
    plan = gate(
        agreement,
        schema.id,
        partner.code,
        schema.field_names,
        on=date.today(),
        key_for=job.key_for,
        max_level=opts.max_level,
        expect_ref=opts.agreement_ref,
    )
    recipients = _recipients(job, partner)
    rows = rows_for(job, source_batch_id, plan)  # reads the population's evidence: a missing list refuses here
    if opts.dry_run:
        return _dry_run(job, rows, source_batch_id, plan, file_name, recipients, ids)
    existing = ledger.get_delivery(job.engine, delivery_id)
    if existing is not None and existing.status == ledger.DELIVERED and not opts.resend:
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

    # One owner per delivery: another run building or sending this extract now is left to it.
    if (
        holder := ledger.claim_delivery(job.engine, delivery_id, job.audit.run.run_id or "a run without id")
    ) is not None:
        reason = f"in progress in run {holder}"
        job.audit.emit("file.delivery_skipped", "skipped", reason=reason, **ids, detail={"code": "in_progress"})
        return DeliveryResult(delivery_id, "skipped", file_name, 0)
    inbox = partial(posixpath.join, partner.sftp.paths.inbox)
    with (
        _claim_released_on_failure(job, delivery_id),
        workroot.task_dir("out") as tmp,
    ):  # ciphertext only: no plaintext file
        plain, encrypted = Path(tmp) / extract, Path(tmp) / file_name
        built = Extract((r.out for r in rows.released()), plan.sent)
        plain_digest = _encrypt(job, partner, built, encrypted, recipients)  # built as it is encrypted
        sent, malformed, population = built.rows, rows.malformed, rows.detail()
        manifest = _already_delivered(job, inbox(file_name), plain_digest.sha256, existing, ids)
        if manifest is None:
            with _whole_or_nothing(job, inbox(file_name)):
                manifest = _send(job, encrypted, plain, file_name, recipients, sent, plain_digest, plan, inbox)
        else:
            log.info("%s is already complete in %s's inbox; not sending it again", file_name, partner.code)
    # The file is with the partner: who it carried goes in the disclosure log before the ledger says delivered
    # (a crash between them is put right by the retry, which finds the file there and records it again).
    people = disclose.record(
        job.engine, job.disclosure_key, rows, plan, kind=disclosures.DELIVERY, disclosure_id=manifest.sha256,
        file_name=file_name, feed_id=feed.id, batch_id=source_batch_id,
    )  # fmt: skip
    if isinstance(rows, IdentifierReturn):
        rows.save_state(delivery_id)  # what this return said of each record: the next one says what changed
    if job.on_disclosed is not None:
        job.on_disclosed(
            disclose.flow(
                job.engine, source, schema.field_names, plan, kind=disclosures.DELIVERY, feed_id=feed.id,
                disclosure_id=manifest.sha256, target=inbox(file_name), rows=sent,
                lawful_basis=agreement.version(plan.agreement_version).lawful_basis.describe(),
            )
        )  # fmt: skip
    ledger.complete_delivery(
        job.engine,
        delivery_id,
        file_sha256=manifest.sha256,
        file_size=manifest.size,
        rows_out=sent,
        fields_sent=list(plan.sent),
    )
    job.audit.emit(
        "file.delivered",
        "succeeded",
        file_sha256=manifest.sha256,
        file_size=manifest.size,
        rows_out=sent,
        **ids,
        detail={
            **_plan_detail(plan, malformed, recipients),
            **population,
            "plaintext_sha256": plain_digest.sha256,
            "resend": opts.resend,
            "people_logged": people,  # records in the per-person disclosure log
        },
    )
    log.info(
        "Delivered %s to %s%s: %d rows, %s, encrypted to %d key(s); people withheld by reason: %s",
        file_name,
        partner.code,
        partner.sftp.paths.inbox,
        sent,
        _plan_line(plan),
        len(recipients),
        population["withheld"] or "none",
    )
    if malformed:
        log.warning("Blanked malformed values while transforming (counts per field): %s", malformed)
    return DeliveryResult(delivery_id, "delivered", file_name, sent, plan.sent)


def _plan_line(plan: EgressPlan) -> str:
    """What the gate decided, for the task log: field counts, agreement and level."""
    return (
        f"{len(plan.sent)} fields ({len(plan.removed)} removed, {len(plan.transforms)} transformed by agreement "
        f"{plan.ref} level {plan.level})"
    )


def _plan_detail(plan: EgressPlan, malformed: dict[str, int], recipients: list[str]) -> dict:
    """What the gate decided for an extract, for its audit event (a delivery or a dry run)."""
    return {
        "agreement_id": plan.agreement_id,
        "agreement_version": plan.agreement_version,
        "level": plan.level,
        "fields_sent": list(plan.sent),
        "fields_removed": list(plan.removed),
        "fields_transformed": dict(plan.transforms),
        "malformed_blanked": malformed,
        "recipients": recipients,
    }


def _dry_run(job: OutboundJob, source_rows, source_batch_id: str, plan: EgressPlan, file_name, recipients,
             ids) -> DeliveryResult:  # fmt: skip
    """Build the extract through the gate, count it, and say what would go where; send and record nothing."""
    partner = job.cfg.partners[job.feed.partner]
    built = Extract((r.out for r in source_rows.released()), plan.sent)
    copy_hashing(built)  # built and counted, written nowhere
    rows, malformed = built.rows, source_rows.malformed
    destination = f"{partner.code}:{posixpath.join(partner.sftp.paths.inbox, file_name)}"
    job.audit.emit(
        "file.dry_run",
        "dry_run",
        rows_out=rows,
        reason=f"dry run: would deliver {rows} rows to {destination}",
        **ids,
        detail={"destination": destination, **_plan_detail(plan, malformed, recipients), **source_rows.detail()},
    )
    log.info(
        "Dry run: would deliver %s to %s: %d rows, %s; nothing sent, nothing recorded as delivered",
        file_name,
        destination,
        rows,
        _plan_line(plan),
    )
    return DeliveryResult(ledger.delivery_id_for(job.feed.id, source_batch_id), "dry_run", file_name, rows, plan.sent)


def _recipients(job: OutboundJob, partner) -> list[str]:
    """What this delivery will be encrypted to, as the manifest records it; refuse if nothing is current."""
    enc = partner.encryption
    if enc.method == "openpgp":
        if not job.openpgp_secret:
            raise EgressRefused(f"{partner.code} uses OpenPGP but no OpenPGP key of ours is configured to sign with")
        return openpgp.fingerprints(*enc.openpgp_keys)
    recipients = enc.current_recipients(date.today())
    if not recipients:
        raise EgressRefused(f"{partner.code} has no age recipient valid today; nothing can be encrypted to it")
    return recipients


def _encrypt(job: OutboundJob, partner, extract: Extract, encrypted: Path, recipients: list[str]) -> Digest:
    """Encrypt the extract as it is built, streamed; the plaintext's sha256 and size (hashed on the other
    core as it passes)."""
    reader = TeeReader(extract, BackgroundHasher())
    if partner.encryption.method == "openpgp":
        assert job.openpgp_secret is not None  # checked by _recipients
        openpgp.encrypt(reader, encrypted, partner.encryption.openpgp_keys, job.openpgp_secret)
    else:
        with encrypted.open("wb") as out:
            age.encrypt(reader, out, recipients)
    return reader.hasher.digest()


def _send(job: OutboundJob, encrypted: Path, plain: Path, file_name: str, recipients: list[str], rows: int,
          plain_digest: Digest, plan: EgressPlan, inbox) -> Manifest:  # fmt: skip
    """Data first, then its manifest, then the signature (last: it makes the drop complete for the partner).
    The manifest and signature go through the session's owner, which reopens a session that died while the
    data was on its way."""
    feed, cfg = job.feed, job.cfg
    partner = cfg.partners[feed.partner]
    encrypted_digest = _upload_hashing(job, encrypted, inbox(file_name))
    manifest = manifest_for_drop(
        plain,
        encrypted,
        feed=feed.id,
        schema_id=feed.dataset(cfg.inbound(feed.source_feed)),
        sender=cfg.settings.operator.code,
        recipients=recipients,
        encryption=partner.encryption.method,
        rows=rows,
        plain_digest=plain_digest,
        encrypted_digest=encrypted_digest,
        agreement_id=plan.agreement_id,
        agreement_version=plan.agreement_version,
        level=plan.level,
        fields=list(plan.sent),
        transforms=dict(plan.transforms) or None,
    )
    manifest_raw = manifest.to_json()
    signature = sshsig.sign(io.BytesIO(manifest_raw), job.signing_key).encode()
    for path, body in ((inbox(manifest_name(file_name)), manifest_raw),
                       (inbox(signature_name(manifest_name(file_name))), signature)):  # fmt: skip
        on_session(job.sftp, f"upload {posixpath.basename(path)}",
                   lambda s, path=path, body=body: placement.put(s, io.BytesIO(body), path))  # fmt: skip
    return manifest


@contextlib.contextmanager
def _claim_released_on_failure(job: OutboundJob, delivery_id: str) -> Iterator[None]:
    """A failed attempt lets go of its delivery at once (its retry claims it again); a completed delivery's
    claim is cleared with its completion."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):  # the database may be what failed: then the claim expires
            ledger.release_delivery_claim(job.engine, delivery_id)
        raise


def _leftovers(data_path: str) -> list[str]:
    """What a delivery puts in the inbox before its signature completes it (our parts for all three go too)."""
    return [data_path, manifest_name(data_path), signature_name(manifest_name(data_path))]


@contextlib.contextmanager
def _whole_or_nothing(job: OutboundJob, data_path: str) -> Iterator[None]:
    """A delivery that fails for good takes back what it had put in the partner's inbox (the data file, the
    manifest, their partial uploads), so the partner never holds a data file without its manifest and
    signature; if the server cannot be reached even for that, the next attempt or run does it first
    (:func:`take_back_unfinished`)."""
    try:
        yield
    except BaseException:
        try:
            on_session(job.sftp, "take back a failed delivery", lambda s: _remove_all(s, _leftovers(data_path)))
        except Exception as exc:
            log.warning("Could not take back the failed delivery (%s); the next attempt does it first",
                        type(exc).__name__)  # fmt: skip
        raise


def _remove_all(sftp, paths: list[str]) -> int:
    """The data file and manifest if they are regular files, and every part of ours for the three; never a
    link or anything else the partner put there (:func:`crosswalk.transfer.placement.remove_ours`)."""
    return placement.remove_ours(sftp, paths[:2], parts_of=tuple(paths[2:]))


def take_back_unfinished(sftp, engine: Engine, audit: AuditLog, cfg: ProjectConfig, feed: OutboundFeed) -> int:
    """Before a run plans anything: take back what earlier attempts left half-sent in the partner's inbox
    (killed mid-upload, or the server gone when they tried). A delivery whose signature is in place is
    complete for the partner and is left as it is (its retry records it). Returns the files removed."""
    inbox = cfg.partners[feed.partner].sftp.paths.inbox
    removed = 0
    for delivery in ledger.unfinished_deliveries(engine, feed.id, audit.run.run_id or ""):
        data_path = posixpath.join(inbox, delivery.file_name)
        if remote.stat_file(sftp, signature_name(manifest_name(data_path))) is not None:
            continue
        n = on_session(sftp, "take back an unfinished delivery", lambda s, p=data_path: _remove_all(s, _leftovers(p)))
        if n:
            audit.emit(
                "delivery.taken_back",
                "succeeded",
                feed_id=feed.id,
                partner=feed.partner,
                batch_id=delivery.source_batch_id,
                file_name=delivery.file_name,
                reason=f"an earlier attempt left {n} file(s) of an unfinished delivery in the inbox; removed",
                detail={"files": n},
            )
        removed += n
    return removed


def _upload_hashing(job: OutboundJob, encrypted: Path, remote_path: str) -> Digest:
    """Upload the data file while hashing it on another core: the manifest (sent after it) needs the hash,
    the upload does not, so hashing stays off the critical path."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="crosswalk-hash") as pool:
        digest = pool.submit(file_digest, encrypted)
        on_session(job.sftp, "clear the way", lambda s: placement.clear_way(s, remote_path))
        size = job.bulk.upload(encrypted, remote_path)
        on_session(job.sftp, "check the upload", lambda s: placement.check_placed(s, remote_path, size))
        return digest.result()


def _already_delivered(
    job: OutboundJob, remote_path: str, plaintext_sha256: str, recorded: ledger.Delivery | None, ids: dict
) -> Manifest | None:
    """The manifest of a complete earlier delivery of the same content, if one is in place and is still ours: its
    manifest carries our signature, its data file hashes to what that manifest states and, where our ledger
    recorded the delivery, to what the ledger holds. Anything else in its place (the recipient's own bytes under
    our names, an edited manifest) is replaced, and the audit says what was found."""
    sig_path = signature_name(manifest_name(remote_path))
    if not remote.is_regular(remote.lstat_file(job.sftp, sig_path)):
        return None  # never completed: data and manifest (if any) are replaced
    found_as = "manifest_unreadable"
    try:
        manifest_raw = remote.read_small(job.sftp, manifest_name(remote_path), MAX_MANIFEST_BYTES)
        signature_raw = remote.read_small(job.sftp, sig_path, MAX_MANIFEST_BYTES)
        found_as = "signature_not_ours"
        sshsig.verify(io.BytesIO(manifest_raw), signature_raw, [sshsig.public_key_line(job.signing_key.public_key())])
        manifest = parse_manifest(manifest_raw, posixpath.basename(manifest_name(remote_path)))
    except DropRejected:
        return _replacing(job, ids, found_as)
    if manifest.plaintext_sha256 != plaintext_sha256:
        return None  # another extract under this name (the agreement or the data changed): sent anew, as ever
    found = (
        remote.remote_digest(job.sftp, remote_path)
        if remote.is_regular(remote.lstat_file(job.sftp, remote_path))
        else None
    )
    if found is None or found.sha256 != manifest.sha256:
        return _replacing(job, ids, "data_not_as_signed")
    if recorded is not None and recorded.file_sha256 and recorded.file_sha256.strip() != found.sha256:
        return _replacing(job, ids, "not_as_recorded")
    return manifest


def _replacing(job: OutboundJob, ids: dict, code: str) -> None:
    reason = {
        "manifest_unreadable": "the manifest in the inbox cannot be read as ours",
        "signature_not_ours": "the manifest in the inbox does not carry our signature",
        "data_not_as_signed": "the data file in the inbox does not hash to what our signed manifest states",
        "not_as_recorded": "the data file in the inbox is not the one our ledger recorded as delivered",
    }[code]
    job.audit.emit(
        "delivery.replaced", "succeeded", reason=f"{code}: {reason}; sent again", **ids, detail={"code": code}
    )
    log.warning("%s: %s; sending it again", ids["file_name"], reason)
    return None
