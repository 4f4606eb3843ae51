"""Child processes that end with their parent, even when it is killed with SIGKILL.

A killed app cannot stop its children: without help, the shadow worker (or a benchmark's
servers) would live on as orphans. Two mechanisms, both set up by the child:

- ``parent_death_signal``: Linux's ``prctl(PR_SET_PDEATHSIG)``, through ctypes: the kernel
  sends the child a signal the moment its parent dies. The "parent" is the *thread* that
  started the child, so the starter must outlive the child (``ShadowRunner`` starts its
  worker from a thread that waits until the worker has stopped). It can also be set in
  ``subprocess.Popen(preexec_fn=...)``, between fork and exec.
- ``watch_parent``: a thread that polls the parent pid and exits the process once it
  changes (the orphan is adopted by another process): the same guarantee within a second,
  on any POSIX system, and it also covers a parent that died before the signal was set.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from typing import Final

PR_SET_PDEATHSIG: Final = 1
#: Seconds between two looks at the parent pid.
WATCH_SECONDS: Final = 0.5


def parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux only).

    Returns:
        Whether the signal is set (False on other systems or when prctl is unavailable).
    """
    if not sys.platform.startswith("linux"):
        return False
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0
    return False


def watch_parent(parent_pid: int, interval: float = WATCH_SECONDS) -> None:
    """Exit this process at once (``os._exit``) when ``parent_pid`` is no longer its parent.

    Checks now (the parent may be gone already), then every ``interval`` seconds on a
    daemon thread.
    """
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def die_with_parent(parent_pid: int) -> str:
    """Both mechanisms (see the module docstring); returns which one acts first."""
    how = "pdeathsig" if parent_death_signal(signal.SIGKILL) else "watch"
    watch_parent(parent_pid)
    return how
