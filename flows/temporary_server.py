"""Prefect's temporary server dies with the command that started it, even on kill -9.

A command run without ``PREFECT_API_URL`` (the embedded default) makes Prefect start a
temporary API server as a child process (``SubprocessASGIServer``) and stop it at exit. A
``kill -9`` of the command skips that exit, and the server lived on, orphaned, holding its
port and sqlite file. Prefect starts it without a parent-death signal and offers no hook,
so :func:`install` wraps the one method that spawns it: beside each server process it
starts a tiny watcher (its own session, so a signal to the command's process group does
not reach it first) that polls its parent; when the command is gone the watcher is
re-parented, stops the server (SIGTERM, then SIGKILL after 5 s) and exits. It exits on its
own as soon as the server does, so a normal run leaves nothing behind.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from typing import Any

_WATCH = """
import os, signal, sys, time
parent, server = int(sys.argv[1]), int(sys.argv[2])

def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True

while os.getppid() == parent and alive(server):
    time.sleep(0.5)
if alive(server):
    os.kill(server, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while alive(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(server):
        os.kill(server, signal.SIGKILL)
"""

_MARK = "_challenger_dies_with_parent"
_WATCHERS: list[subprocess.Popen[bytes]] = []  # kept, so none is reported as leaked


def install() -> None:
    """Give every temporary Prefect server started from this process a watcher (idempotent).

    Nothing happens when ``PREFECT_API_URL`` names a server: no temporary one will start,
    and importing Prefect's server code would cost the command a second or more.
    """
    from prefect.settings import get_current_settings

    if get_current_settings().api.url:
        return
    from prefect.server.api.server import SubprocessASGIServer

    spawn = SubprocessASGIServer._run_uvicorn_command
    if getattr(spawn, _MARK, False):
        return

    @functools.wraps(spawn)
    def spawn_watched(self: Any) -> subprocess.Popen[Any]:
        server = spawn(self)
        watch(server.pid)
        return server

    setattr(spawn_watched, _MARK, True)
    SubprocessASGIServer._run_uvicorn_command = spawn_watched  # type: ignore[method-assign]


def watch(pid: int) -> subprocess.Popen[bytes]:
    """Start the watcher that stops process ``pid`` once this process is gone."""
    watcher = subprocess.Popen(
        [sys.executable, "-I", "-c", _WATCH, str(os.getpid()), str(pid)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )
    _WATCHERS[:] = [w for w in _WATCHERS if w.poll() is None]
    _WATCHERS.append(watcher)
    return watcher
