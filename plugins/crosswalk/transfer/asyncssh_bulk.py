"""Bulk SFTP transfers in pure Python at near OpenSSH speed: asyncssh with many requests in flight.

The SFTP provider's sync hook (paramiko) moves ~130-200 MB/s on loopback; OpenSSH's `sftp`
~450-600 MB/s. Keeping up to ``max_requests`` reads or writes of ``block`` bytes outstanding
hides the round trips, which is what lets asyncssh approach the OpenSSH client.

The guarantees are :mod:`crosswalk.transfer.bulk`'s; here, the pinned keys become an ``SSHKnownHosts``
built from them alone, and a download resumes from its local part's length (the caller checks the whole
file's size and sha256 against the manifest).
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections import deque
from pathlib import Path

import asyncssh

from crosswalk.atomic import check_uploaded, part_path
from crosswalk.errors import AreaObstructed, HostKeyRejected, MissingDataFile, TransferError
from crosswalk.transfer.bulk import Endpoint, EndpointBulk, Tuning, retrying
from crosswalk.transfer.hostkeys import known_hosts_text
from crosswalk.transfer.placement import part_for

log = logging.getLogger(__name__)


def _known_hosts(ep: Endpoint) -> asyncssh.SSHKnownHosts:
    return asyncssh.import_known_hosts(known_hosts_text(ep.host, ep.port, ep.host_keys))


async def _connect(ep: Endpoint, t: Tuning) -> asyncssh.SSHClientConnection:
    try:
        key = asyncssh.import_private_key(ep.client_key, ep.passphrase)
        return await asyncssh.connect(
            ep.host,
            ep.port,
            username=ep.username,
            client_keys=[key],
            known_hosts=_known_hosts(ep),
            encryption_algs=list(t.encryption_algs),
            kex_algs=list(t.kex_algs),
            agent_path=None,
            config=[],
            connect_timeout=30,
        )
    except asyncssh.HostKeyNotVerifiable as exc:
        raise HostKeyRejected(
            f"{ep.host}:{ep.port} presented a host key that is not pinned; refusing to connect"
        ) from exc
    except (OSError, asyncssh.Error) as exc:
        raise TransferError(f"{ep.host}:{ep.port}: cannot connect: {type(exc).__name__}: {exc}") from exc


async def _pipelined_read(f: asyncssh.SFTPClientFile, out, start: int, size: int, t: Tuning) -> None:
    offset, pending = start, deque()
    while offset < size or pending:
        while offset < size and len(pending) < t.max_requests:
            n = min(t.block, size - offset)
            pending.append((offset, asyncio.ensure_future(f.read(n, offset))))
            offset += n
        at, fut = pending.popleft()
        data = await fut
        if not data:
            for _, p in pending:
                p.cancel()
            raise TransferError(f"remote file ended at {at} bytes, expected {size}")
        out.write(data)
        if len(data) < min(t.block, size - at):  # a short read: ask again for the rest, in order
            for _, p in pending:
                p.cancel()
            pending.clear()
            offset = at + len(data)


async def _download_once(ep: Endpoint, remote: str, part: Path, t: Tuning) -> int:
    start = part.stat().st_size if part.exists() else 0
    async with await _connect(ep, t) as conn, conn.start_sftp_client() as sftp:
        try:
            size = (await sftp.stat(remote)).size or 0
        except asyncssh.SFTPNoSuchFile as exc:
            raise MissingDataFile(f"{os.path.basename(remote)}: not found") from exc
        if start > size:
            start = 0  # the remote file shrank or changed: start over, the hash check decides
        if start:
            log.info("Resuming %s at byte %d of %d", os.path.basename(remote), start, size)
        try:
            async with sftp.open(remote, "rb") as f:
                with part.open("r+b" if start else "wb") as out:
                    out.truncate(start)
                    out.seek(start)
                    await _pipelined_read(f, out, start, size, t)
        except (OSError, asyncssh.Error) as exc:
            raise TransferError(f"{os.path.basename(remote)}: download interrupted: {type(exc).__name__}") from exc
        return size


async def _upload_once(ep: Endpoint, local: Path, remote: str, t: Tuning) -> int:
    """One attempt: a fresh part name, created exclusively (a planted link there fails it, never is followed),
    lstat'ed as our regular file of the size sent before its rename (:mod:`crosswalk.transfer.placement`)."""
    size = local.stat().st_size
    part = part_for(remote)
    async with await _connect(ep, t) as conn, conn.start_sftp_client() as sftp:
        try:
            async with sftp.open(part, "xb") as f:
                with local.open("rb") as src:
                    pending: deque = deque()
                    offset = 0
                    while block := src.read(t.block):
                        pending.append(asyncio.ensure_future(f.write(block, offset)))
                        offset += len(block)
                        if len(pending) >= t.max_requests:
                            await pending.popleft()
                    for p in pending:
                        await p
            attrs = await sftp.lstat(part)
            if not stat.S_ISREG(attrs.permissions or 0) or attrs.size != size:
                raise AreaObstructed(f"{os.path.basename(part)}: our part file was changed before its rename")
            await sftp.posix_rename(part, remote)
            remote_size = (await sftp.lstat(remote)).size
        except (OSError, asyncssh.Error) as exc:
            raise TransferError(f"{os.path.basename(remote)}: upload failed: {type(exc).__name__}") from exc
    check_uploaded(remote, size, remote_size)
    return size


def download(ep: Endpoint, remote: str, local: Path, tuning: Tuning | None = None) -> int:
    """Fetch ``remote`` to ``local``, resuming after dropped connections; return its size.

    Bytes land in ``local + '.part'`` and are renamed into place only when complete.
    """
    t = tuning or Tuning()
    part = part_path(local)
    size = retrying(f"download {remote}", lambda: asyncio.run(_download_once(ep, remote, part, t)),
                    attempts=t.attempts, backoff=t.backoff)  # fmt: skip
    part.replace(local)
    return size


def upload(ep: Endpoint, local: Path, remote: str, tuning: Tuning | None = None) -> int:
    """Send ``local`` to ``remote`` via a fresh part file of ours and a rename; check the remote size."""
    t = tuning or Tuning()
    return retrying(f"upload {remote}", lambda: asyncio.run(_upload_once(ep, local, remote, t)),
                    attempts=t.attempts, backoff=t.backoff)  # fmt: skip


class AsyncsshBulk(EndpointBulk):
    """Bulk transfers to one partner through asyncssh (a :class:`~crosswalk.transfer.bulk.Bulk`)."""

    _download = staticmethod(download)
    _upload = staticmethod(upload)
