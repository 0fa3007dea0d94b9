"""A partner's SFTP area as a local directory: the :class:`~crosswalk.transfer.remote.RemoteArea` and the
:class:`~crosswalk.transfer.bulk.Bulk` the pipelines take, for unit tests that need no server.

It behaves as OpenSSH's sftp-server does where the pipelines can tell: listings and ``lstat`` do not follow
symlinks, a missing file raises ``FileNotFoundError``, ``posix_rename`` replaces, ``open`` is binary, and an
upload goes to a part name first and is renamed into place (the atomic-upload protocol).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import paramiko

from crosswalk.atomic import check_uploaded, part_path
from crosswalk.transfer.placement import part_for


class _File:
    """A local file with the two paramiko ``SFTPFile`` calls the pipelines make (hints, here nothing to do)."""

    def __init__(self, path: Path, mode: str) -> None:
        if "x" in mode:  # paramiko's "wx" (write, exclusive) is Python's "x"
            mode = mode.replace("w", "")
        self._f = open(path, mode if "b" in mode else mode + "b")  # noqa: SIM115 (closed by __exit__ or close)

    def set_pipelined(self, pipelined: bool = True) -> None:
        pass

    def prefetch(self, file_size: int | None = None) -> None:
        pass

    def __getattr__(self, name: str):
        return getattr(self._f, name)

    def __enter__(self) -> _File:
        return self

    def __exit__(self, *exc) -> None:
        self._f.close()


class LocalArea:
    """A partner's area rooted at ``root``: ``/outbox/x`` is ``root/outbox/x``; nothing outside is reachable."""

    def __init__(self, root: Path, dirs: tuple[str, ...] = ("inbox", "outbox", "quarantine")) -> None:
        self.root = root
        for d in dirs:
            (root / d).mkdir(parents=True, exist_ok=True)

    def path(self, inside: str) -> Path:
        resolved = (self.root / inside.lstrip("/")).resolve(strict=False)
        if resolved != self.root.resolve() and self.root.resolve() not in resolved.parents:
            raise PermissionError(f"{inside}: outside the area")
        return self.root / inside.lstrip("/")

    def listdir_attr(self, path: str = ".") -> list[paramiko.SFTPAttributes]:
        with os.scandir(self.path(path)) as entries:
            return [paramiko.SFTPAttributes.from_stat(os.lstat(e.path), e.name) for e in entries]

    def lstat(self, path: str) -> paramiko.SFTPAttributes:
        return paramiko.SFTPAttributes.from_stat(os.lstat(self.path(path)), os.path.basename(path))

    def stat(self, path: str) -> paramiko.SFTPAttributes:
        return paramiko.SFTPAttributes.from_stat(os.stat(self.path(path)), os.path.basename(path))

    def open(self, filename: str, mode: str = "r", bufsize: int = -1) -> _File:
        return _File(self.path(filename), mode)

    def posix_rename(self, oldpath: str, newpath: str) -> None:
        os.replace(self.path(oldpath), self.path(newpath))

    def remove(self, path: str) -> None:
        os.remove(self.path(path))

    def mkdir(self, path: str, mode: int = 0o777) -> None:
        os.mkdir(self.path(path), mode)


class LocalBulk:
    """Bulk transfers to and from a :class:`LocalArea`, with the transports' part-then-rename protocol."""

    def __init__(self, area: LocalArea) -> None:
        self.area = area

    def download(self, remote: str, local: Path) -> int:
        part = part_path(local)
        shutil.copyfile(self.area.path(remote), part)
        part.replace(local)
        return local.stat().st_size

    def upload(self, local: Path, remote: str) -> int:
        part = part_for(remote)
        with local.open("rb") as src, self.area.open(part, "xb") as dst:  # exclusive, as the transports create it
            shutil.copyfileobj(src, dst)
        self.area.posix_rename(part, remote)
        size = local.stat().st_size
        check_uploaded(remote, size, self.area.stat(remote).st_size or 0)
        return size
