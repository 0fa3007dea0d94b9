"""Child processes that die with the task: the OpenSSH client and gpg hold keys and data in memory, and an
orphan left by a killed task would carry on (an upload renamed into place without its manifest, a key
held past its task). On Linux each child asks the kernel for SIGKILL when the thread that started it
dies (``PR_SET_PDEATHSIG``); elsewhere nothing changes."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _libc()


def die_with_parent() -> None:
    """A ``preexec_fn``: runs in the child between fork and exec."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:  # the parent died before the request took effect
            os._exit(1)
