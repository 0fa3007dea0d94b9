"""Stream bytes from one file object to another while counting and hashing them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import IO

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Digest:
    sha256: str
    size: int


def copy_hashing(src: IO[bytes], dst: IO[bytes] | None = None, chunk: int = CHUNK) -> Digest:
    """Copy ``src`` to ``dst`` (if given) in chunks; return the sha256 and size of what passed."""
    h = hashlib.sha256()
    size = 0
    while block := src.read(chunk):
        h.update(block)
        size += len(block)
        if dst is not None:
            dst.write(block)
    return Digest(h.hexdigest(), size)


def file_digest(path) -> Digest:
    with open(path, "rb") as f:
        return copy_hashing(f)


class HashingReader:
    """Wraps a binary reader; hashes and counts what passes through (one pass, no extra read)."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f, self._h, self.size = f, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        block = self._f.read(n)
        self._h.update(block)
        self.size += len(block)
        return block

    def digest(self) -> Digest:
        return Digest(self._h.hexdigest(), self.size)


class HashingWriter:
    """Wraps a binary writer; hashes and counts what passes through."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f, self._h, self.size = f, hashlib.sha256(), 0

    def write(self, block: bytes) -> int:
        self._h.update(block)
        self.size += len(block)
        return self._f.write(block)

    def digest(self) -> Digest:
        return Digest(self._h.hexdigest(), self.size)
