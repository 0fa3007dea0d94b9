"""Small file operations on a partner's area: listing, lstat, reading manifests.

Functions take a :class:`RemoteArea`: in production a paramiko ``SFTPClient`` (what
:class:`PinnedSFTPHook` yields) or the :class:`~crosswalk.transfer.session.SftpSession` around one; in unit
tests a local directory that behaves the same. They stream: a file is never held in memory whole. Every file
we put in the area goes through :mod:`crosswalk.transfer.placement`; data files move through the bulk
transports (:mod:`crosswalk.transfer.bulk`).
"""

from __future__ import annotations

import logging
import posixpath
import stat
from typing import Protocol

from crosswalk.errors import MissingDataFile, TransferError
from crosswalk.hashing import Digest, copy_hashing
from crosswalk.logsafety import shown_name

# The SFTP clients log every request with its path at DEBUG. A partner's file name is its free text (it can
# carry a name, a line break, an escape sequence), so these channels never log below INFO, whatever level a
# deployment sets; our own lines name files as shown (ordinary, or by hash).
for _channel in ("paramiko.transport.sftp", "asyncssh.sftp"):
    logging.getLogger(_channel).setLevel(logging.INFO)


class RemoteAttributes(Protocol):
    """What a listing or a stat tells of an entry (paramiko's ``SFTPAttributes``)."""

    filename: str
    st_size: int | None
    st_mtime: int | None
    st_mode: int | None


class RemoteArea(Protocol):
    """The part of an SFTP client the pipelines use: paths are absolute POSIX paths in the partner's area."""

    def listdir_attr(self, path: str = ".") -> list: ...

    def lstat(self, path: str) -> RemoteAttributes: ...

    def stat(self, path: str) -> RemoteAttributes: ...

    def open(self, filename: str, mode: str = "r", bufsize: int = -1): ...

    def posix_rename(self, oldpath: str, newpath: str) -> None: ...

    def remove(self, path: str) -> None: ...

    def mkdir(self, path: str, mode: int = 0o777) -> None: ...


def list_files(sftp: RemoteArea, directory: str) -> dict[str, RemoteAttributes]:
    """Regular files in ``directory`` by name (not recursive)."""
    try:
        entries = sftp.listdir_attr(directory)
    except OSError as exc:
        raise TransferError(f"cannot list {directory}: {exc}") from exc
    return {e.filename: e for e in entries if e.st_mode is not None and stat.S_ISREG(e.st_mode)}


def list_entries(sftp: RemoteArea, directory: str) -> dict[str, RemoteAttributes]:
    """Every entry in ``directory`` by name, as lstat sees it (a symlink is a symlink), in one listing."""
    try:
        return {e.filename: e for e in sftp.listdir_attr(directory)}
    except OSError as exc:
        raise TransferError(f"cannot list {directory}: {exc}") from exc


def lstat_file(sftp: RemoteArea, path: str) -> RemoteAttributes | None:
    """The entry itself (a symlink is not followed), or None when there is none."""
    try:
        return sftp.lstat(path)
    except FileNotFoundError:
        return None


def is_regular(attrs: RemoteAttributes | None) -> bool:
    """A listing's or lstat's entry is a regular file (not a link, a folder or a special file)."""
    return attrs is not None and stat.S_ISREG(attrs.st_mode or 0)


def stat_file(sftp: RemoteArea, path: str) -> RemoteAttributes | None:
    try:
        return sftp.stat(path)
    except FileNotFoundError:
        return None


def read_small(sftp: RemoteArea, path: str, limit: int) -> bytes:
    """Read a small file whole (a manifest); refuse anything larger than ``limit``."""
    try:
        with sftp.open(path, "rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError as exc:
        raise MissingDataFile(f"{shown_name(posixpath.basename(path))}: not found") from exc
    return data


def remote_digest(sftp: RemoteArea, remote_path: str) -> Digest | None:
    """sha256 and size of a remote file, or None when it does not exist."""
    attrs = stat_file(sftp, remote_path)
    if attrs is None:
        return None
    with sftp.open(remote_path, "rb") as f:
        f.prefetch(attrs.st_size)
        return copy_hashing(f)
