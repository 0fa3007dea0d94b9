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
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crosswalk.errors import ManifestInvalid
from crosswalk.hashing import file_digest

MANIFEST_SUFFIX = ".manifest.json"
SIGNATURE_SUFFIX = ".sig"
ENCRYPTED_SUFFIX = {"age": ".age", "openpgp": ".gpg"}
MANIFEST_VERSION = 1
MAX_MANIFEST_BYTES = 64 * 1024


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    manifest_version: int = Field(MANIFEST_VERSION, ge=1, le=MANIFEST_VERSION)
    feed: str
    schema_id: str
    sender: str
    created_at: datetime
    # The file as it travels (encrypted).
    file_name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    encryption: Literal["age", "openpgp"]
    recipients: list[str] = Field(
        min_length=1, description="What the file was encrypted to: age recipients, or OpenPGP key fingerprints."
    )
    # What it holds.
    plaintext_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    plaintext_size: int = Field(ge=0)
    rows: int = Field(ge=0)
    # Set on extracts we send: the agreement that allowed them and what left.
    agreement_id: str | None = None
    agreement_version: int | None = None
    level: int | None = None
    fields: list[str] | None = None
    transforms: dict[str, str] | None = Field(
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


def parse_manifest(raw: bytes, manifest_file: str) -> Manifest:
    """Parse and check a manifest; the data file it names must be the one beside it."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestInvalid(f"{manifest_file}: larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        m = Manifest.model_validate(json.loads(raw))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestInvalid(f"{manifest_file}: not valid JSON ({type(exc).__name__})") from exc
    except ValidationError as exc:
        fields = sorted({".".join(map(str, e["loc"])) or "file" for e in exc.errors(include_input=False)})
        raise ManifestInvalid(f"{manifest_file}: invalid field(s) {fields}") from exc
    if m.file_name != data_name(manifest_file):
        raise ManifestInvalid(f"{manifest_file}: names file {m.file_name!r}, expected {data_name(manifest_file)!r}")
    return m


def new_manifest(**kwargs) -> Manifest:
    return Manifest(created_at=datetime.now(UTC).replace(microsecond=0), **kwargs)


_SAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_name(name: str) -> str:
    """A file name made safe to reuse as a path component in quarantine and local work dirs."""
    return _SAFE.sub("_", name)[:200] or "_"


def count_csv_rows(path) -> int:
    """Data rows in a CSV (records, not lines: a quoted field may hold a newline)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        return max(sum(1 for _ in csv.reader(f)) - 1, 0)


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
