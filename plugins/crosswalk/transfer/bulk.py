"""What a bulk transport is: where it logs in, how it is tuned, what it offers, how it retries.

Data files move through one of two transports with the same guarantees
(:mod:`crosswalk.transfer.openssh`, the OpenSSH client, where installed; :mod:`crosswalk.transfer.asyncssh_bulk`
otherwise): only the pinned host keys are trusted; AEAD ciphers and curve25519 key exchange only;
downloads resume from a local part file; uploads go to a fresh, exclusive part name of ours, are renamed
into place and their size checked (:mod:`crosswalk.transfer.placement`); network errors are retried with
backoff, data errors and an unpinned host key never.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol, TypeVar

from crosswalk.errors import HostKeyRejected, TransferError

log = logging.getLogger(__name__)
T = TypeVar("T")

BLOCK = 256 * 1024
MAX_REQUESTS = 64
# Modern AEAD ciphers and key exchanges only; everything else is refused at negotiation.
ENCRYPTION_ALGS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com")
KEX_ALGS = ("curve25519-sha256", "curve25519-sha256@libssh.org")


@dataclass(frozen=True)
class Endpoint:
    """Where and how to log in. ``client_key`` is the private key text (from a connection), never logged."""

    host: str
    port: int
    username: str
    host_keys: tuple[str, ...]
    client_key: str = field(repr=False)
    passphrase: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.host_keys:
            raise HostKeyRejected(f"{self.host}:{self.port}: no pinned host keys; refusing to connect")


@dataclass(frozen=True)
class Tuning:
    block: int = BLOCK
    max_requests: int = MAX_REQUESTS
    attempts: int = 4
    backoff: float = 1.0  # seconds before the 2nd attempt; doubles each time
    encryption_algs: tuple[str, ...] = ENCRYPTION_ALGS
    kex_algs: tuple[str, ...] = KEX_ALGS


class Bulk(Protocol):
    """What the pipelines call to move a data file: the SFTP transports, or a local directory in unit tests."""

    def download(self, remote: str, local: Path) -> int: ...

    def upload(self, local: Path, remote: str) -> int: ...


@dataclass(frozen=True)
class EndpointBulk:
    """A :class:`Bulk` to one endpoint through a transport module's ``download`` and ``upload`` functions
    (each subclass names its own)."""

    endpoint: Endpoint
    tuning: Tuning = field(default_factory=Tuning)
    _download: ClassVar[Callable[[Endpoint, str, Path, Tuning], int]]
    _upload: ClassVar[Callable[[Endpoint, Path, str, Tuning], int]]

    def download(self, remote: str, local: Path) -> int:
        return type(self)._download(self.endpoint, remote, local, self.tuning)

    def upload(self, local: Path, remote: str) -> int:
        return type(self)._upload(self.endpoint, local, remote, self.tuning)


def retrying(
    what: str,
    op: Callable[[], T],
    *,
    attempts: int,
    backoff: float,
    retry_on: tuple[type[BaseException], ...] = (TransferError,),
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """``op()``, run again after ``retry_on`` errors with a doubling delay, ``attempts`` times in all; the last
    error is raised as it is. Anything else (a data error, an unpinned host key) is never retried. Before each
    retry, ``on_retry(attempt, error, delay)`` (default: a warning naming ``what``)."""
    delay = backoff
    for n in range(1, attempts + 1):
        try:
            return op()
        except retry_on as exc:
            if n == attempts:
                raise
            if on_retry is None:
                log.warning("%s: attempt %d of %d failed (%s); retrying in %.1fs", what, n, attempts, exc, delay)
            else:
                on_retry(n, exc, delay)
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")
