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


class BackgroundHasher:
    """SHA-256 of a stream of blocks, computed on another thread.

    ``hashlib`` releases the GIL on large blocks, so hashing runs on the second core while the
    caller's thread encrypts: one pass over the data, no extra read, less wall time.
    """

    def __init__(self, depth: int = 32) -> None:
        import queue
        import threading

        self._q: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._h, self.size = hashlib.sha256(), 0
        self._t = threading.Thread(target=self._run, name="crosswalk-hash", daemon=True)
        self._t.start()

    def _run(self) -> None:
        while (block := self._q.get()) is not None:
            self._h.update(block)

    def feed(self, block: bytes) -> None:
        if block:
            self.size += len(block)
            self._q.put(block)

    def digest(self) -> Digest:
        self._q.put(None)
        self._t.join()
        return Digest(self._h.hexdigest(), self.size)


class TeeReader:
    """A reader that also hands every block it returns to a :class:`BackgroundHasher`."""

    def __init__(self, f: IO[bytes], hasher: BackgroundHasher) -> None:
        self._f, self.hasher = f, hasher

    def read(self, n: int = -1) -> bytes:
        block = self._f.read(n)
        self.hasher.feed(block)
        return block


class TeeWriter:
    """A writer that also hands every block it writes to a :class:`BackgroundHasher`."""

    def __init__(self, f: IO[bytes], hasher: BackgroundHasher) -> None:
        self._f, self.hasher = f, hasher

    def write(self, block: bytes) -> int:
        self.hasher.feed(bytes(block))
        return self._f.write(block)
