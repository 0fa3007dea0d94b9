"""Stream bytes from one file object to another while counting and hashing them."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:  # the bulk helpers below import them; streaming copies need neither
    import pandas as pd

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


class BoundedWriter:
    """A writer that refuses to grow past ``limit`` bytes: ``too_large()`` is raised before the block that
    would cross it is written (so a decryption stops as soon as it produces more than it should)."""

    def __init__(self, f: IO[bytes], limit: int, too_large: Callable[[], Exception]) -> None:
        self._f, self._limit, self._too_large, self.size = f, limit, too_large, 0

    def write(self, block: bytes) -> int:
        self.size += len(block)
        if self.size > self._limit:
            raise self._too_large()
        return self._f.write(block)


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


def sha256_hex(values: pd.Series) -> pd.Series:
    """SHA-256 (hex) of each string's UTF-8 bytes, in bulk (DuckDB's ``sha256`` over the Arrow column,
    about 0.3 s per million); a missing value hashes as the empty string. Same index, same order."""
    import duckdb
    import pandas as pd
    import pyarrow as pa

    strings = pa.table({"v": pa.array(values.astype("string").fillna(""), type=pa.large_string())})
    with duckdb.connect() as db:
        db.register("strings", strings)
        hashed = db.sql("SELECT sha256(v) AS h FROM strings").to_arrow_table().column("h")
    return pd.Series(hashed.to_pandas(types_mapper=pd.ArrowDtype).astype("string").array, index=values.index)


def join_fields(frame: pd.DataFrame, sep: str) -> pd.Series:
    """Each row's fields as text joined by ``sep``, missing as empty, in bulk (Arrow, not a row loop)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    cols = [pa.array(frame[c].astype("string").fillna(""), type=pa.large_string()) for c in frame.columns]
    joined = pc.binary_join_element_wise(*cols, pa.scalar(sep, pa.large_string()))
    return pd.Series(joined.to_pandas(types_mapper=pd.ArrowDtype).astype("string").array, index=frame.index)
