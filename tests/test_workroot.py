"""The private work root: made private, each task's directory gone when it ends, and what a killed task left
swept by the next (never a live task's)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from crosswalk import workroot
from tests.conftest import REPO


@pytest.fixture
def root(tmp_path, monkeypatch):
    path = tmp_path / "work"
    monkeypatch.setenv(workroot.ENV, str(path))
    return path


def test_the_root_is_made_private_and_must_be_ours(root, tmp_path, monkeypatch):
    assert workroot.root() == root and (root.stat().st_mode & 0o777) == 0o700
    root.chmod(0o755)
    assert (workroot.root().stat().st_mode & 0o777) == 0o700
    link = tmp_path / "link"
    link.symlink_to(root)
    monkeypatch.setenv(workroot.ENV, str(link))
    with pytest.raises(workroot.WorkRootUnsafe, match="not a directory owned by this user"):
        workroot.root()


def test_a_task_directory_goes_when_the_task_ends_however_it_ends(root):
    with workroot.task_dir("in") as d:
        (d / "plaintext.csv").write_text("secret")
        assert (d.stat().st_mode & 0o777) == 0o700
    assert not d.exists()
    with pytest.raises(RuntimeError), workroot.task_dir("in") as d:
        (d / "plaintext.csv").write_text("secret")
        raise RuntimeError
    assert not d.exists() and list(root.iterdir()) == []


def test_what_a_killed_task_left_is_swept_and_a_live_tasks_is_not(root):
    code = (
        "import os, signal\n"
        "from crosswalk import workroot\n"
        "with workroot.task_dir('in') as d:\n"
        "    (d / 'plaintext.csv').write_bytes(b'x' * 1000)\n"
        "    (d / 'id').write_text('key')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'plugins'}:{REPO}"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, check=False)
    assert proc.returncode == -signal.SIGKILL
    [left] = list(root.iterdir())
    assert (left / "plaintext.csv").exists()  # the kill left it: exactly what the sweep is for

    (root / "not-ours").mkdir()  # not named by us: never removed
    with workroot.task_dir("out") as mine:
        swept = workroot.sweep()
        assert mine.exists()  # a live task's directory is left alone
    assert (swept.removed, swept.files, swept.bytes, swept.live) == (1, 2, 1003, 1)
    assert not left.exists() and (root / "not-ours").exists()


def test_a_step_that_would_not_fit_is_refused_before_writing_saying_where_and_how_much(root, monkeypatch):
    import shutil
    from collections import namedtuple

    from crosswalk.errors import WorkRootFull

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10_000, 9_000, 1_000))
    workroot.ensure_space(1_000, "clients_1.csv.age")
    with pytest.raises(WorkRootFull, match=rf"needs 5000 bytes in the work root {root}, which has 1000 free"):
        workroot.ensure_space(5_000, "clients_1.csv.age")


def test_reasons_for_failures_we_did_not_raise_say_what_to_do(root):
    import errno

    from sqlalchemy.exc import OperationalError

    from crosswalk.orchestration.resources import actionable_reason

    full = OSError(errno.ENOSPC, "No space left on device: '/secret/Jane Doe.csv'")
    assert actionable_reason(full).startswith(f"disk full (no space left on device); the work root {root} has ")
    assert "Jane" not in actionable_reason(full)
    lost = OperationalError("INSERT …", {}, Exception("server closed the connection unexpectedly"))
    assert "lost the connection to the database" in actionable_reason(lost) and "retry redoes" in actionable_reason(
        lost
    )
    assert actionable_reason(KeyError("Jane Doe")) == "unexpected KeyError"
