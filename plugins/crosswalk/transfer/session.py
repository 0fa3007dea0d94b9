"""One owner of a partner's SFTP session for the length of a task: an outage mid-task costs a reconnect,
not the task.

:class:`SftpSession` stands where a paramiko ``SFTPClient`` is expected (attribute access goes to the live
client), and :meth:`SftpSession.run` runs one whole remote operation (an atomic upload, a listing) again on
a fresh session when the transport fails under it, a bounded number of times. Bulk data moves through the
bulk transports (:mod:`crosswalk.transfer.bulk`), which resume on their own; this covers the small files
around it (the manifest and signature after the data, the quarantine copies, the feedback files).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TypeVar

import paramiko

from crosswalk.errors import TransferError
from crosswalk.transfer.bulk import retrying

log = logging.getLogger(__name__)
T = TypeVar("T")
# What a dead session raises: paramiko's own errors, a closed socket, or our TransferError around them.
TRANSPORT_ERRORS = (paramiko.SSHException, EOFError, ConnectionError, TimeoutError, TransferError)


class SftpSession:
    def __init__(
        self, opener: Callable[[], AbstractContextManager[paramiko.SFTPClient]], attempts: int = 3, delay: float = 1.0
    ) -> None:
        self._opener, self._attempts, self._delay = opener, attempts, delay
        self._stack: contextlib.ExitStack | None = None
        self._client: paramiko.SFTPClient | None = None
        self.reopened = 0

    def __enter__(self) -> SftpSession:
        self._open()
        return self

    def __exit__(self, *exc) -> None:
        self._close()

    def _open(self) -> None:
        stack = contextlib.ExitStack()
        self._client = stack.enter_context(self._opener())
        self._stack = stack

    def _close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            with contextlib.suppress(Exception):  # a dead session may fail to close: it is gone either way
                stack.close()

    @property
    def client(self) -> paramiko.SFTPClient:
        if self._client is None:
            self._open()
        assert self._client is not None
        return self._client

    def __getattr__(self, name: str):
        return getattr(self.client, name)

    def run(self, what: str, op: Callable[[paramiko.SFTPClient], T]) -> T:
        """``op(client)``; on a transport failure, reopen the session and run it again (``attempts`` in all).
        ``op`` must be safe to repeat whole (an atomic upload is: it rewrites its ``.part``)."""

        def reopen(attempt: int, exc: BaseException, delay: float) -> None:
            log.warning("%s: the SFTP session failed (%s); reopening it (%d of %d)", what, type(exc).__name__,
                        attempt, self._attempts - 1)  # fmt: skip
            self._close()
            self.reopened += 1

        try:
            return retrying(what, lambda: op(self.client), attempts=self._attempts, backoff=self._delay,
                            retry_on=TRANSPORT_ERRORS, on_retry=reopen)  # fmt: skip
        except TRANSPORT_ERRORS as exc:
            raise TransferError(f"{what}: failed {self._attempts} times ({type(exc).__name__})") from exc


def on_session(sftp, what: str, op: Callable[[paramiko.SFTPClient], T]) -> T:
    """Run ``op`` through the session's reconnecting owner when there is one (a bare client runs it once)."""
    return sftp.run(what, op) if isinstance(sftp, SftpSession) else op(sftp)
