"""The manifest that travels with every extract: what the file is and how to check it.

A drop is three files, uploaded in this order:

1. the encrypted data file, ``<extract>.csv.age``;
2. its manifest, ``<extract>.csv.age.manifest.json``;
3. the manifest's SSH signature, ``<extract>.csv.age.manifest.json.sig`` (last).

A drop is consumed only when all three are there. The manifest names the ciphertext's sha256 and
size (checked before decrypting) and the plaintext's sha256, size and row count (checked after).
"""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime
from itertools import accumulate
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from crosswalk.errors import (
    ManifestDuplicateKey,
    ManifestInvalid,
    ManifestNotJson,
    ManifestOutOfRange,
    ManifestTooDeep,
    ManifestUnknownVersion,
    ManifestWrongType,
)
from crosswalk.hashing import file_digest
from crosswalk.logsafety import shown_name

MANIFEST_SUFFIX = ".manifest.json"
SIGNATURE_SUFFIX = ".sig"
ENCRYPTED_SUFFIX = {"age": ".age", "openpgp": ".gpg"}
MANIFEST_VERSION = 1
MAX_MANIFEST_BYTES = 64 * 1024
MAX_DEPTH = 2  # an object whose values are scalars, lists of strings, or one flat object (transforms)
# The format's own ceiling on any size it states (1 TiB); a feed's `max_bytes` is the working limit.
MAX_STATED_BYTES = 1 << 40

Name = Annotated[str, StringConstraints(min_length=1, max_length=120)]


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    manifest_version: int = MANIFEST_VERSION
    feed: Name
    schema_id: Name
    sender: Name
    created_at: datetime
    # The file as it travels (encrypted).
    file_name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=1, le=MAX_STATED_BYTES)  # an encrypted file is never empty
    encryption: Literal["age", "openpgp"]
    recipients: list[Annotated[str, StringConstraints(min_length=1, max_length=4096)]] = Field(
        min_length=1,
        max_length=64,
        description="What the file was encrypted to: age recipients, or OpenPGP key fingerprints.",
    )
    # What it holds.
    plaintext_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    plaintext_size: int = Field(ge=0, le=MAX_STATED_BYTES)
    rows: int = Field(ge=0, le=MAX_STATED_BYTES)
    # Set on extracts we send: the agreement that allowed them and what left.
    agreement_id: Name | None = None
    agreement_version: int | None = Field(None, ge=1)
    level: int | None = Field(None, ge=1, le=4)
    fields: list[Name] | None = Field(None, max_length=2000)
    transforms: dict[Name, Name] | None = Field(
        None, description="Fields sent other than as held, and how (for example generalise:month)."
    )

    def to_json(self) -> bytes:
        return (self.model_dump_json(indent=2, exclude_none=True) + "\n").encode()


def manifest_name(data_file: str) -> str:
    return data_file + MANIFEST_SUFFIX


def signature_name(manifest_file: str) -> str:
    return manifest_file + SIGNATURE_SUFFIX


def extract_name(data_file: str) -> str:
    """The extract's own name, without the encryption suffix (what feed patterns match)."""
    for suffix in ENCRYPTED_SUFFIX.values():
        if data_file.endswith(suffix):
            return data_file[: -len(suffix)]
    return data_file


def data_name(manifest_file: str) -> str:
    return manifest_file[: -len(MANIFEST_SUFFIX)]


# Pydantic error types that mean "a limit", as opposed to "the wrong JSON type" or "missing/unknown".
_RANGE_ERRORS = {
    "greater_than_equal",
    "less_than_equal",
    "too_short",
    "too_long",
    "string_too_short",
    "string_too_long",
}
_STRING = re.compile(rb'"(?:\\.|[^"\\])*"')


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ManifestDuplicateKey(f"key(s) given twice: {_known(k for k in keys if keys.count(k) > 1)}")
    return dict(pairs)


def _known(keys) -> list[str]:
    """Key names fit to repeat: the format's own. Anything else a partner typed is counted, never quoted."""
    keys = set(keys)
    shown = sorted(k for k in keys if k in Manifest.model_fields)
    unknown = len(keys) - len(shown)
    return shown + ([f"{unknown} key(s) not in the format"] if unknown else [])


def _not_a_json_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _depth(raw: bytes) -> int:
    """How deeply the JSON text nests, counted without parsing it (a parser recurses, and can be made to
    overflow its stack): brackets outside strings."""
    brackets = _STRING.sub(b"", raw)
    return max(accumulate((c in b"[{") - (c in b"]}") for c in brackets), default=0)


def parse_manifest(raw: bytes, manifest_file: str) -> Manifest:
    """Parse and check a manifest strictly; the data file it names must be the one beside it.

    Strict, because a signed manifest must mean one thing to every reader: no duplicate keys (parsers
    differ on which wins), JSON types as the format states (no ``"12"`` or ``true`` for a number), no
    nesting beyond the format's, a known version, and sizes within limits. Each has its own reason code.
    """
    name_as_sent, manifest_file = manifest_file, shown_name(manifest_file)  # the partner's name: shown only if ordinary
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestOutOfRange(f"{manifest_file}: larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ManifestNotJson(f"{manifest_file}: not UTF-8 text") from None  # the cause quotes the bytes
    if (depth := _depth(raw)) > MAX_DEPTH:
        raise ManifestTooDeep(f"{manifest_file}: nested {depth} levels deep; the format has at most {MAX_DEPTH}")
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_not_a_json_constant)
    except ManifestDuplicateKey as exc:
        raise ManifestDuplicateKey(f"{manifest_file}: {exc.reason}") from None
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity
        raise ManifestNotJson(f"{manifest_file}: not valid JSON ({type(exc).__name__})") from None
    if not isinstance(obj, dict):
        raise ManifestWrongType(f"{manifest_file}: a JSON {type(obj).__name__}, not an object")
    version = obj.get("manifest_version", MANIFEST_VERSION)
    if type(version) is not int:
        raise ManifestWrongType(f"{manifest_file}: invalid field(s) ['manifest_version'] (wrong JSON type)")
    if version != MANIFEST_VERSION:
        raise ManifestUnknownVersion(
            f"{manifest_file}: manifest_version {version} is not one we read (we read {MANIFEST_VERSION})"
        )
    try:
        m = Manifest.model_validate_json(text, strict=True)
    except ValidationError as exc:
        # pydantic's error quotes the input (a key the partner wrote, its value): ours alone says what is wrong
        raise _manifest_error(manifest_file, exc) from None
    if m.file_name != data_name(name_as_sent):
        raise ManifestInvalid(f"{manifest_file}: names another data file than the one beside it")
    if m.rows > m.plaintext_size:
        raise ManifestOutOfRange(f"{manifest_file}: states {m.rows} rows in {m.plaintext_size} bytes")
    return m


def _manifest_error(manifest_file: str, exc: ValidationError) -> ManifestInvalid:
    """The most specific of our codes for pydantic's errors, naming fields only (never their values)."""
    errors = exc.errors(include_input=False)
    fields = _known(str(e["loc"][0]) if e["loc"] else "file" for e in errors)
    types = {e["type"] for e in errors}
    if all(t.endswith("_type") or t.endswith("_parsing") for t in types):
        return ManifestWrongType(f"{manifest_file}: invalid field(s) {fields} (wrong JSON type)")
    if types <= _RANGE_ERRORS:
        return ManifestOutOfRange(f"{manifest_file}: invalid field(s) {fields} (outside the format's limits)")
    return ManifestInvalid(f"{manifest_file}: invalid field(s) {fields}")


def new_manifest(**kwargs) -> Manifest:
    return Manifest(created_at=datetime.now(UTC).replace(microsecond=0), **kwargs)


_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_name(name: str) -> str:
    """A file name made safe to reuse as a path component in quarantine and local work dirs."""
    return _SAFE.sub("_", name)[:200] or "_"


def count_csv_rows(path) -> int:
    """Data rows in a CSV (records, not lines: a quoted field may hold a newline), as our validator counts
    them: a blank line is not a row (the validator refuses the file for it, by that name)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        return max(sum(1 for row in csv.reader(f) if row) - 1, 0)


def manifest_for_drop(
    plain,
    encrypted,
    *,
    feed: str,
    schema_id: str,
    sender: str,
    recipients: list[str],
    rows: int | None = None,
    plain_digest=None,
    encrypted_digest=None,
    encryption: str = "age",
    **extra,
) -> Manifest:
    """The manifest for an encrypted extract (used by us and by partners' tools).

    Pass ``rows``, ``plain_digest`` and ``encrypted_digest`` when already known (as the outbound
    pipeline does, from the encryption pass) to skip re-reading the files.
    """
    p, e = Path(plain), Path(encrypted)
    pd, ed = plain_digest or file_digest(p), encrypted_digest or file_digest(e)
    return new_manifest(
        feed=feed,
        schema_id=schema_id,
        sender=sender,
        file_name=e.name,
        sha256=ed.sha256,
        size=ed.size,
        encryption=encryption,
        recipients=recipients,
        plaintext_sha256=pd.sha256,
        plaintext_size=pd.size,
        rows=count_csv_rows(p) if rows is None else rows,
        **extra,
    )
