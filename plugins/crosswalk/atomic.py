"""Whole or nothing: every file we write or upload first goes under a part name and is renamed into place.

A reader (a partner listing their inbox, a web server serving a report, our own next run) sees a whole file
under its final name or none at all; a crash leaves at most a part file, which the next attempt replaces.
The local writes take their part files from here, and the three upload transports (paramiko, asyncssh, the
OpenSSH client) their part suffix and after-upload check; remote part names are
:mod:`crosswalk.transfer.placement`'s.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from crosswalk.errors import TransferError

PART_SUFFIX = ".part"  # an upload or download in progress (ours and partners')


def part_path(path: Path) -> Path:
    """The local part a download resumes from: fixed, so a retry finds what the last attempt received."""
    return path.with_name(path.name + PART_SUFFIX)


def check_uploaded(remote_path: str, sent: int, found: int) -> None:
    """After the rename: the remote file is exactly as long as what was sent, or the upload failed."""
    if found != sent:
        name = remote_path.rsplit("/", 1)[-1]
        raise TransferError(f"{name}: remote size {found} after upload, sent {sent}")


@contextlib.contextmanager
def replacing(target: Path, *, private: bool = False) -> Iterator[Path]:
    """A fresh temporary path beside ``target`` to write; renamed over ``target`` when the block ends
    without error, removed when it raises (a kill leaves a hidden ``.part`` the work-root sweep or the
    next write clears). Unique per writer, so two concurrent writers never share one. ``private`` keeps
    mode 0600 (plaintext, keys); otherwise the file is 0644, for its readers (a report, an open-data file).
    The umask is never read: reading it means setting it, process-wide, and a file another thread creates in
    that instant (a plaintext extract) would be made world-readable."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=PART_SUFFIX, dir=target.parent)  # mode 0600
    os.close(fd)
    part = Path(tmp)
    try:
        yield part
        if not private:
            part.chmod(0o644)
        os.replace(part, target)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def write_bytes(target: Path, data: bytes, *, private: bool = False) -> None:
    with replacing(target, private=private) as part:
        part.write_bytes(data)


def write_text(target: Path, text: str, *, private: bool = False) -> None:
    write_bytes(target, text.encode("utf-8"), private=private)


def copy_file(src: Path, target: Path) -> None:
    with replacing(target) as part:
        shutil.copyfile(src, part)
