"""The promotion lock is released when its holder is killed, and waits name the holder.

Real processes: a child takes the lock of a SQLite store and is killed with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from challenger.errors import LockTimeout
from challenger.store.lock import promotion_lock

HOLD = """
import sys, time
from challenger.store.lock import promotion_lock
with promotion_lock(sys.argv[1], "m", timeout=5):
    print("held", flush=True)
    time.sleep(120)
"""


def _holder(uri: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, uri], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_killed_holder_releases_the_lock_at_once(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = _holder(uri)
    try:
        lock = promotion_lock(uri, "m", timeout=0.3)
        assert lock is not None
        with pytest.raises(LockTimeout, match=rf"held after 0 s by pid {proc.pid}"), lock:
            pass
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        started = time.monotonic()
        again = promotion_lock(uri, "m", timeout=5)
        assert again is not None
        with again:
            waited = time.monotonic() - started
        assert waited < 5, "the lock outlived its killed holder"
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_each_model_has_its_own_lock_and_servers_get_none(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first, second = promotion_lock(uri, "a", 1), promotion_lock(uri, "b", 1)
    assert first is not None and second is not None
    with first, second:  # different models never wait for each other
        pass
    assert promotion_lock("http://127.0.0.1:5000", "a") is None
