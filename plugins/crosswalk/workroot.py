"""The private work root: the one place plaintext, built extracts and key material may rest, and only for
the length of the task that made them.

``CROSSWALK_WORK_DIR`` names it (a tmpfs is best: nothing then reaches a disk; see the deployment guide);
by default ``<TMPDIR>/crosswalk-work-<uid>``. It is created mode 0700 and must be a directory of ours.

Every task works in a directory of its own below it, named for its owner: host, process id and that
process's start time. A task that ends removes its directory; one that is killed cannot, so each task
first sweeps the directories whose owner is dead (same host, and that process id no longer running with
that start time) and reports what it removed (counts and bytes only). A live task's directory is never
touched, nor anything of another host's or not named by us.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from crosswalk.errors import FatalError, WorkRootFull

ENV = "CROSSWALK_WORK_DIR"
_SEP = "--"


class WorkRootUnsafe(FatalError):
    """The work root is not a private directory of ours: nothing secret is written there."""


def root() -> Path:
    path = Path(os.environ.get(ENV) or Path(tempfile.gettempdir()) / f"crosswalk-work-{os.getuid()}")
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = path.lstat()
    except OSError as exc:
        raise WorkRootUnsafe(f"work root {path}: cannot create it ({exc.strerror})") from exc
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise WorkRootUnsafe(f"work root {path}: not a directory owned by this user (uid {os.getuid()})")
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)  # ours, but readable by others: close it before anything is written
    return path


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or None if not running."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw.rsplit(")", 1)[1].split()[19]  # after the command name, which may hold spaces or ')'


@cache
def _host() -> str:
    return socket.gethostname().replace(_SEP, "-").replace(".", "_")


def owner_tag(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{_host()}.{pid}.{_start_time(pid)}"


def _owner_alive(tag: str) -> bool:
    host, _, rest = tag.partition(".")
    pid, _, started = rest.partition(".")
    if host != _host() or not pid.isdigit():
        return True  # another host's, or not ours to judge: left alone
    return _start_time(int(pid)) == started


@contextlib.contextmanager
def task_dir(kind: str) -> Iterator[Path]:
    """A private directory (0700) for one piece of work, removed when it ends, however it ends (short of a
    kill: then the next task's sweep removes it)."""
    path = Path(tempfile.mkdtemp(prefix=f"{kind}{_SEP}{owner_tag()}{_SEP}", dir=root()))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@cache
def process_dir(kind: str) -> Path:
    """A private directory for this process's lifetime (a database engine's spill files); swept once the
    process is gone."""
    return Path(tempfile.mkdtemp(prefix=f"{kind}{_SEP}{owner_tag()}{_SEP}", dir=root()))


@dataclass(frozen=True)
class Swept:
    removed: int  # directories of dead tasks removed
    files: int
    bytes: int
    live: int  # directories of live tasks, left alone


def _size(path: Path) -> tuple[int, int]:
    files = size = 0
    for dirpath, _, names in os.walk(path):
        for n in names:
            with contextlib.suppress(OSError):
                size += os.lstat(os.path.join(dirpath, n)).st_size
                files += 1
    return files, size


HELPER_SUFFIX = ".helper"


def note_helper(directory: Path, pid: int) -> None:
    """Record a helper process started for the work in ``directory`` (a key agent) that might outlive a
    killed task: the sweep stops it, if that very process (same id, same start time) still runs."""
    (directory / f"{pid}{HELPER_SUFFIX}").write_text(str(_start_time(pid) or ""))


def _stop_key_agent(directory: Path) -> None:
    """What a killed task left running for its keys: an OpenPGP agent for its keyring, a helper it noted
    (an ssh-agent). Stopped before the directory goes (what the task would have done)."""
    import signal
    import subprocess

    if directory.name.startswith("gnupg" + _SEP) and shutil.which("gpgconf"):
        subprocess.run(["gpgconf", "--homedir", str(directory), "--kill", "all"], capture_output=True, check=False)
    for note in directory.glob(f"*{HELPER_SUFFIX}"):
        pid = note.name.removesuffix(HELPER_SUFFIX)
        with contextlib.suppress(OSError, ValueError):
            started = note.read_text()
            if pid.isdigit() and started and _start_time(int(pid)) == started:
                os.kill(int(pid), signal.SIGKILL)


def sweep() -> Swept:
    """Remove what dead tasks of this host left in the work root."""
    removed = files = size = live = 0
    for entry in root().iterdir():
        parts = entry.name.split(_SEP)
        if len(parts) != 3 or entry.is_symlink() or not entry.is_dir():
            continue  # not named by us: never ours to remove
        if _owner_alive(parts[1]):
            live += 1
            continue
        f, s = _size(entry)
        _stop_key_agent(entry)
        shutil.rmtree(entry, ignore_errors=True)
        removed, files, size = removed + 1, files + f, size + s
    return Swept(removed, files, size, live)


def spool_file(key: str) -> Path:
    """Where the ciphertext of batch ``key`` is spooled across attempts (``<root>/spool/<key>``; a download's
    partial file is ``<key>.part`` beside it). Ciphertext only: safe at rest, so not swept by owner."""
    spool = root() / "spool"
    spool.mkdir(mode=0o700, exist_ok=True)
    return spool / "".join(c if c.isalnum() or c in "._-" else "_" for c in key)


def remove_spool(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".part")):
        p.unlink(missing_ok=True)


def ensure_space(needed: int, what: str) -> None:
    """Refuse to start writing ``needed`` bytes that will not fit: say where, how much is free, and how much
    is needed (a full disk mid-write helps nobody)."""
    path = root()
    free = shutil.disk_usage(path).free
    if free < needed:
        raise WorkRootFull(
            f"{what}: needs {needed} bytes in the work root {path}, which has {free} free; free space there (or"
            f" point {ENV} at a larger filesystem), then retry"
        )
