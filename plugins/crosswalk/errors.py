"""Exceptions, split by what an operator should do about them.

Retryable errors (network, a server that went away) may succeed on a later attempt; Airflow
retries them. Fatal errors (bad data, bad configuration, an untrusted host) never improve on a
retry: the task fails at once and the drop is quarantined. Messages carry file names, field
names, counts and hashes, never a record's values.
"""

from __future__ import annotations

import re

from crosswalk.logsafety import one_line


class CrosswalkError(Exception):
    """Base of every error Crosswalk raises on purpose."""


class RetryableError(CrosswalkError):
    """A transient failure: trying again later may succeed."""


class FatalError(CrosswalkError):
    """A failure that a retry cannot fix."""


class ConfigError(FatalError):
    """A configuration file is invalid. Says which file, which field and why."""

    def __init__(self, file: str, field: str, reason: str) -> None:
        self.file = file
        self.field = field
        self.reason = reason
        super().__init__(f"{file}: {field}: {reason}")


class ConfigErrors(FatalError):
    """Several configuration problems found in one pass, reported together: the root causes first (the first line
    is the first of them), then, folded, the problems that only follow from them (a feed naming a partner whose
    file is broken, an agreement naming a dataset whose schema is misspelt)."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        self.roots, self.follow = fold(errors)
        lines = [str(e) for e in self.roots]
        if self.follow:
            lines.append(
                f"and {len(self.follow)} problem(s) that follow from {'it' if len(self.roots) == 1 else 'them'}:"
            )
            lines += [f"  - {e}" for e in self.follow]
        super().__init__("\n".join(lines))


_KNOCK_ON = ("is invalid (see the problems in", "is left out: fix it first")
_MISSING_NAME = re.compile(r"\bno (?:table schema|partner|feed|agreement|dataset) '([^']+)'")
_UNKNOWN_KEY = "unknown key (check the spelling; unknown keys are not ignored)"
_REQUIRED = "required but missing"


def fold(errors: list[ConfigError]) -> tuple[list[ConfigError], list[ConfigError]]:
    """Root causes and the problems that follow from them. A problem follows when it names another file's
    item as invalid, or names (in quotes) something a root cause says does not exist. A misspelt key and the
    required key it was meant to be, side by side in one mapping, are one root cause (see :func:`_shown`)."""
    missing = {m.group(1) for e in errors if (m := _MISSING_NAME.search(e.reason))}
    roots, follow = [], []
    for e in errors:
        knock_on = any(k in e.reason for k in _KNOCK_ON) or (
            not _MISSING_NAME.search(e.reason) and any(f"'{name}'" in e.reason for name in missing)
        )
        (follow if knock_on else roots).append(e)
    meant = {id(e): m for e in roots if (m := _meant(e, roots)) is not None}
    merged = {id(m) for m in meant.values()}
    shown = []
    for e in roots:
        if id(e) in merged:
            continue
        if id(e) in meant:
            key = meant[id(e)].field.rpartition(".")[2]
            e = ConfigError(e.file, e.field, f"unknown key: did you mean {key!r}? ({key!r} is required and missing)")
        shown.append(e)
    return shown, follow


def _meant(e: ConfigError, others: list[ConfigError]) -> ConfigError | None:
    """For an unknown key, the required key missing beside it that it is most likely a misspelling of."""
    if e.reason != _UNKNOWN_KEY:
        return None
    parent, _, key = e.field.rpartition(".")
    for o in others:
        o_parent, _, o_key = o.field.rpartition(".")
        if o.file == e.file and o.reason == _REQUIRED and o_parent == parent and _close(key, o_key):
            return o
    return None


def _close(a: str, b: str) -> bool:
    from difflib import SequenceMatcher

    return SequenceMatcher(None, a, b).ratio() >= 0.75


class DropRejected(FatalError):
    """A partner's drop failed a check; it is quarantined and never staged.

    ``code`` is a stable, machine-readable reason (used in the ledger and feedback files).
    """

    code = "rejected"
    advice = "The drop was refused; the reason line says why."

    def __init__(self, reason: str) -> None:
        # Every reason a partner, IG or a log will read passes here: one line, escaped, bounded.
        self.reason = one_line(reason)
        super().__init__(self.reason)


class ManifestInvalid(DropRejected):
    code = "manifest_invalid"
    advice = (
        "A field of the manifest is missing, unknown or not as the format says; write the manifest again (the"
        " drop script does)."
    )


class ManifestNotJson(ManifestInvalid):
    """Not a JSON object in UTF-8 (or uses NaN/Infinity, which JSON does not have)."""

    code = "manifest_not_json"
    advice = "The manifest is not JSON text in UTF-8: write it again with the drop script, not a word processor."


class ManifestDuplicateKey(ManifestInvalid):
    """A key given twice: JSON parsers disagree on which wins, so a signed manifest could mean two things."""

    code = "manifest_duplicate_key"
    advice = "A key appears twice in the manifest: write it again."


class ManifestTooDeep(ManifestInvalid):
    """Nested deeper than the format (an object holding lists and one flat object)."""

    code = "manifest_too_deep"
    advice = "The manifest nests objects deeper than the format: write it again."


class ManifestWrongType(ManifestInvalid):
    """A field of the wrong JSON type: a number as a string, ``true`` as a number, a list for a string."""

    code = "manifest_wrong_type"
    advice = 'A number written as text ("12") or the like: sizes and rows are bare numbers.'


class ManifestUnknownVersion(ManifestInvalid):
    code = "manifest_unknown_version"
    advice = "manifest_version must be 1."


class ManifestOutOfRange(ManifestInvalid):
    """A size, count or length outside the format's limits or the feed's ``max_bytes``."""

    code = "manifest_out_of_range"
    advice = "A size or count is outside the format's limits or the feed's largest file: split the extract or ask us."


class ManifestTooLarge(DropRejected):
    """A manifest (or its signature) larger than any the format makes: refused before any signature check."""

    code = "manifest_too_large"
    advice = "The manifest or its signature is far larger than any real one: write both again."


class MissingDataFile(DropRejected):
    code = "missing_data_file"
    advice = (
        "The manifest and signature arrived without the data file beside them: upload the data file first, "
        "then the manifest, then the signature."
    )


class DataFileNotRegular(DropRejected):
    """The data file is a symlink, a directory or a special file: only a regular file is read."""

    code = "data_not_regular_file"
    advice = "The data file is a link or a folder: upload the file itself."


class DataFileTooLarge(DropRejected):
    """Larger than the feed's ``max_bytes`` (from the listing, before any download), or a plaintext that grows
    past the size its signed manifest states (decryption stops there)."""

    code = "data_too_large"
    advice = "Larger than this feed takes: split the extract by period, or ask us to raise the limit."


class SizeMismatch(DropRejected):
    code = "size_mismatch"
    advice = (
        "The file we received is not the size the manifest states: usually an upload cut short or the file "
        "re-encrypted after the manifest; drop again."
    )


class ChecksumMismatch(DropRejected):
    code = "checksum_mismatch"
    advice = (
        "The file's sha256 differs from the manifest's: the file changed after the manifest was written; drop again."
    )


class SchemaViolation(DropRejected):
    code = "schema_violation"
    advice = (
        "The CSV does not fit the schema (the reason names the columns and problems): fix the extract; "
        "`drop.sh --check` finds header problems before you send."
    )


class EmptyExtract(DropRejected):
    code = "empty_extract"
    advice = "A header but no rows: send the extract with its rows."


# Drops not loaded although nothing was wrong with them: a skip, not a quarantine.
SKIP_CODES = {
    "duplicate_content": "The same extract (byte for byte, once decrypted) as a batch already staged: nothing to fix."
}


def partner_reason_codes() -> dict[str, str]:
    """Every reason code a partner can meet in a receipt or a feedback file, with what to do about it: the
    closed list docs/partners.md and the partner pack's guide show."""

    def walk(cls: type[DropRejected]):
        yield cls
        for sub in cls.__subclasses__():
            yield from walk(sub)

    return {c.code: c.advice for c in walk(DropRejected) if c is not DropRejected} | SKIP_CODES


class EgressRefused(FatalError):
    """The agreement does not allow this extract to leave, as built."""


class HostKeyRejected(FatalError):
    """The SFTP server did not present a pinned host key. Never retried: it may be an attack."""

    def __init__(self, message: str, presented: str | None = None) -> None:
        self.presented = presented  # "<type> SHA256:<fingerprint>" of the key the server showed, when known
        super().__init__(message)


class WorkRootFull(RetryableError):
    """Not enough free space in the work root for what a step must write: free space, then retry."""


class UnexpectedFailure(RetryableError):
    """What Airflow is given in place of an exception we did not raise on purpose: its message could quote a value
    (a database's duplicate-key error does), so only our account of it (the exception's type, what to do)."""


class TransferError(RetryableError):
    """A network or server failure while moving a file."""


class AreaObstructed(FatalError):
    """Something not ours is where we put a file in a partner's area (a symlink under our part file's name, a file
    where our folder goes): the partner's to clear. Never retried as an outage; the message names it as shown."""

    code = "area_obstructed"

    def __init__(self, reason: str) -> None:
        self.reason = one_line(reason)
        super().__init__(self.reason)


class DecryptFailed(DropRejected):
    """The payload could not be decrypted: wrong key, tampering or truncation. Never retried."""

    code = "decrypt_failed"
    advice = (
        "We could not decrypt it: encrypted to another key than ours (check crosswalk-recipients.txt), or "
        "damaged on the way."
    )


class SignatureInvalid(DropRejected):
    """A signature did not verify against the pinned key it names."""

    code = "signature_invalid"
    advice = (
        "The manifest's signature does not verify: it was changed after signing, or signed under another "
        "namespace; sign it again."
    )


class UnknownSigner(DropRejected):
    """A signature was made by a key that is not pinned for the sender."""

    code = "unknown_signer"
    advice = (
        "Signed with a key we have not pinned for you: sign with the key whose .pub you gave us, or send us "
        "the new .pub."
    )


class DropHeld(FatalError):
    """A drop could not be taken in for a cause of ours: held for an operator, the partner not blamed."""

    def __init__(self, batch_id: str, code: str) -> None:
        self.batch_id, self.code = batch_id, code
        super().__init__(
            f"{batch_id} held ({code}): the cause is ours, not the partner's; fix it, then"
            f" `crosswalk drops release {batch_id}` and run the feed again"
        )


class StagingFailed(FatalError):
    """The database refused a validated file's rows (a data or integrity error while loading).

    Names the table, the SQLSTATE, the line and the column; never the value the database quoted."""
