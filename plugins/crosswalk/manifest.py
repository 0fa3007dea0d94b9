"""The manifest that travels with every extract: what the file is and how to check it.

A drop is a data file plus ``<data file>.manifest.json``. The partner uploads the data file
first and the manifest last, so a manifest's presence means the drop is complete.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crosswalk.errors import ManifestInvalid

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_VERSION = 1
MAX_MANIFEST_BYTES = 64 * 1024


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    manifest_version: int = Field(MANIFEST_VERSION, ge=1, le=MANIFEST_VERSION)
    feed: str
    schema_id: str
    file_name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    rows: int = Field(ge=0)
    sender: str
    created_at: datetime
    # Set on extracts we send: the agreement that allowed them and what left.
    agreement_id: str | None = None
    agreement_version: int | None = None
    level: int | None = None
    fields: list[str] | None = None

    def to_json(self) -> bytes:
        return (self.model_dump_json(indent=2, exclude_none=True) + "\n").encode()


def manifest_name(data_file: str) -> str:
    return data_file + MANIFEST_SUFFIX


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
    import csv

    with open(path, encoding="utf-8-sig", newline="") as f:
        return max(sum(1 for _ in csv.reader(f)) - 1, 0)


def manifest_for_file(path, *, feed: str, schema_id: str, sender: str) -> Manifest:
    """What a partner (or a test playing one) writes beside a data file before dropping it."""
    from pathlib import Path

    from crosswalk.hashing import file_digest

    p = Path(path)
    d = file_digest(p)
    return new_manifest(
        feed=feed,
        schema_id=schema_id,
        file_name=p.name,
        sha256=d.sha256,
        size=d.size,
        rows=count_csv_rows(p),
        sender=sender,
    )
