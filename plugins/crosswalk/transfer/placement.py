"""Every file we put in a partner's area (feedback, receipts, person-id files, quarantine copies, deliveries)
arrives by this one path, which nothing the partner plants there can redirect.

The partner writes its own inbox and may plant anything in it: a symlink under the name our next part file
will have, a file where our ``receipts`` folder goes, a folder under the name of a delivery. So:

- a part file has a name nobody can predict (:func:`part_for`: the final name, a random token, ``.part``) and is
  created exclusively (SFTP ``EXCL``: it fails if anything is there, a symlink included, and never follows one);
- only a stale part of ours is removed (our pattern for this name, and a regular file as lstat sees it);
- only the part we have just written, lstat'ed as a regular file of the size we sent, is renamed into place,
  and the result is lstat'ed again;
- a folder of ours is lstat'ed, never stat'ed: a symlink or a file where it should be is not followed.

An entry in our way that is not ours is :class:`~crosswalk.errors.AreaObstructed`: the partner's to clear, told
to the partner and to ops, never retried as an outage. The bulk transports write a data file's part under a
name from :func:`part_for` each attempt; :func:`clear_way` and :func:`check_placed` run around them.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
import secrets
import stat
from pathlib import Path
from typing import IO

import paramiko

from crosswalk.atomic import PART_SUFFIX
from crosswalk.errors import AreaObstructed, TransferError
from crosswalk.hashing import CHUNK, Digest, copy_hashing
from crosswalk.logsafety import shown_name

PART_MARK = "cw"  # our part files: <final>.cw<16 hex>.part
_NETWORK = (OSError, paramiko.SSHException, EOFError)


def part_for(final: str) -> str:
    """A fresh, unpredictable part name beside ``final`` (a partner cannot plant a link under it in advance)."""
    return f"{final}.{PART_MARK}{secrets.token_hex(8)}{PART_SUFFIX}"


def is_our_part(final_name: str, name: str) -> bool:
    """``name`` is one of our part names for the file ``final_name`` (base names both)."""
    pattern = re.escape(final_name) + rf"\.{PART_MARK}[0-9a-f]{{16}}" + re.escape(PART_SUFFIX)
    return re.fullmatch(pattern, name) is not None


def what_is(attrs) -> str:
    mode = attrs.st_mode or 0
    if stat.S_ISLNK(mode):
        return "a symlink"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISREG(mode):
        return "a file"
    return "a special file"


def _lstat(area, path: str):
    try:
        return area.lstat(path)
    except FileNotFoundError:
        return None
    except _NETWORK as exc:
        raise TransferError(f"{shown_name(posixpath.basename(path))}: cannot look: {type(exc).__name__}") from exc


def _obstructed(path: str, attrs, expected: str) -> AreaObstructed:
    return AreaObstructed(
        f"{shown_name(posixpath.basename(path))} in {posixpath.dirname(path) or '/'} is {what_is(attrs)} where"
        f" Crosswalk puts {expected}; it is not ours and is left as it is"
    )


def ensure_folder(area, path: str) -> None:
    """``path`` is a real folder (lstat: not a link to one); made if missing."""
    attrs = _lstat(area, path)
    if attrs is None:
        try:
            area.mkdir(path, 0o750)
        except _NETWORK as exc:
            attrs = _lstat(area, path)  # a parallel task may have made it first: fine if it is a folder
            if attrs is None:
                raise TransferError(f"cannot create {path}: {type(exc).__name__}") from exc
        else:
            attrs = _lstat(area, path)
    if attrs is None or not stat.S_ISDIR(attrs.st_mode or 0):
        raise _obstructed(path, attrs, "a folder") if attrs is not None else TransferError(f"{path}: vanished")


def clear_way(area, final: str) -> None:
    """Before a file goes to ``final``: its folder is a real folder, nothing but a regular file (an earlier copy,
    which the rename replaces) is at ``final``, and stale parts of ours for it (a killed attempt's) are gone."""
    folder, name = posixpath.split(final)
    ensure_folder(area, folder)
    attrs = _lstat(area, final)
    if attrs is not None and not stat.S_ISREG(attrs.st_mode or 0):
        raise _obstructed(final, attrs, "a file")
    try:
        entries = area.listdir_attr(folder)
    except _NETWORK as exc:
        raise TransferError(f"cannot list {folder}: {type(exc).__name__}") from exc
    for e in entries:
        if is_our_part(name, e.filename) and stat.S_ISREG(e.st_mode or 0):
            with contextlib.suppress(FileNotFoundError):
                area.remove(posixpath.join(folder, e.filename))  # unlink: never follows a link


def check_part(area, part: str, size: int) -> None:
    """The part we just wrote is still a regular file of the size we sent (nothing swapped it): else in our way."""
    attrs = _lstat(area, part)
    if attrs is None or not stat.S_ISREG(attrs.st_mode or 0) or attrs.st_size != size:
        raise AreaObstructed(f"{shown_name(posixpath.basename(part))}: our part file was changed before its rename")


def check_placed(area, final: str, size: int) -> None:
    """After the rename: a regular file of exactly the size sent is at ``final``."""
    attrs = _lstat(area, final)
    if attrs is None:
        raise TransferError(f"{shown_name(posixpath.basename(final))}: not there after its upload")
    if not stat.S_ISREG(attrs.st_mode or 0):
        raise _obstructed(final, attrs, "a file")
    if attrs.st_size != size:
        raise TransferError(
            f"{shown_name(posixpath.basename(final))}: remote size {attrs.st_size} after upload, sent {size}"
        )


def open_exclusive(area, part: str):
    """Open a new part file for writing; fails if anything (a planted link) is at its name."""
    try:
        return area.open(part, "wxb")  # paramiko: "w" for the write flag, "x" for EXCL
    except _NETWORK as exc:
        if _lstat(area, part) is not None:
            raise AreaObstructed(
                f"{shown_name(posixpath.basename(part))}: something is already at our new part file's name"
            ) from None
        raise TransferError(f"{shown_name(posixpath.basename(part))}: cannot create: {type(exc).__name__}") from exc


def put(area, src: Path | IO[bytes], final: str) -> Digest:
    """Upload ``src`` to ``final`` over ``area`` (a paramiko client or our session around one): clear the way,
    write an exclusive part, check it, rename it, check the result."""
    clear_way(area, final)
    part = part_for(final)
    try:
        with open_exclusive(area, part) as dst:
            dst.set_pipelined(True)
            if isinstance(src, Path):
                with src.open("rb") as f:
                    digest = copy_hashing(f, dst, CHUNK)
            else:
                digest = copy_hashing(src, dst, CHUNK)
        check_part(area, part, digest.size)
        area.posix_rename(part, final)
    except _NETWORK as exc:
        raise TransferError(f"{shown_name(posixpath.basename(final))}: upload failed: {type(exc).__name__}") from exc
    check_placed(area, final, digest.size)
    return digest


def remove_ours(area, files: list[str], parts_of: tuple[str, ...] = ()) -> int:
    """Take back files of ours (an unfinished delivery): each of ``files`` that is a regular file, and every part
    of ours for them and for ``parts_of``. Never follows a link; removes nothing else."""
    removed = 0
    by_folder: dict[str, tuple[set[str], set[str]]] = {}
    for f in files:
        whole, parts = by_folder.setdefault(posixpath.dirname(f), (set(), set()))
        whole.add(posixpath.basename(f))
        parts.add(posixpath.basename(f))
    for f in parts_of:
        by_folder.setdefault(posixpath.dirname(f), (set(), set()))[1].add(posixpath.basename(f))
    for folder, (whole, parts) in by_folder.items():
        try:
            entries = area.listdir_attr(folder)
        except FileNotFoundError:
            continue
        for e in entries:
            ours = e.filename in whole or any(is_our_part(n, e.filename) for n in parts)
            if ours and stat.S_ISREG(e.st_mode or 0):
                with contextlib.suppress(FileNotFoundError):
                    area.remove(posixpath.join(folder, e.filename))
                    removed += 1
    return removed
