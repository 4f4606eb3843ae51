"""The detached processes ``challenger up`` starts and ``challenger down`` stops.

Each runs in its own session (so ``down`` stops it with its children) and is recorded in a
pid file under ``service.state_dir``/run with a word of its command line, so a pid the
system reused for another program is never signalled.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Proc:
    """A process ``up`` started, as recorded in its pid file."""

    name: str
    pid: int
    token: str  # a word of its command line, to tell it from a process that reused the pid
    log: Path
    popen: subprocess.Popen[bytes] | None = None  # set when this process started it


def spawn(state: Path, name: str, argv: list[str], env: dict[str, str], *, token: str) -> Proc:
    """Start a detached process in its own session; record its pid."""
    log = state / "logs" / f"{name}.log"
    with log.open("ab") as out:
        out.write(f"\n--- {datetime.now(UTC).isoformat()} {' '.join(argv)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=state,
            start_new_session=True,  # its own process group: down stops it and its children
        )
    record = {"pid": proc.pid, "token": token, "log": str(log), "argv": argv}
    (state / "run" / f"{name}.pid").write_text(json.dumps(record) + "\n", encoding="utf-8")
    return Proc(name, proc.pid, token, log, proc)


def stop(proc: Proc, timeout: float) -> bool:
    """SIGTERM the process group, SIGKILL it after ``timeout``; True if it ended politely."""
    _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group_alive(proc.pid):
            return True
        time.sleep(0.2)
    _signal_group(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _has_live_member(pgid)


def _has_live_member(pgid: int) -> bool:
    """Whether a non-zombie process is left in the group (Linux /proc; else assume so)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def recorded(state: Path) -> Iterator[Proc]:
    for pid_file in sorted((state / "run").glob("*.pid")):
        try:
            record = json.loads(pid_file.read_text(encoding="utf-8"))
            yield Proc(pid_file.stem, int(record["pid"]), str(record["token"]), Path(record["log"]))
        except (OSError, ValueError, KeyError, TypeError):
            logger.warning("Ignoring unreadable pid file %s", pid_file)


def running_named(state: Path, name: str) -> Proc | None:
    for proc in recorded(state):
        if proc.name == name and alive(proc):
            return proc
    return None


def alive(proc: Proc) -> bool:
    if proc.popen is not None:  # our own child: its command line may not be exec'd yet
        return proc.popen.poll() is None
    try:
        os.kill(proc.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # not ours: a reused pid
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    if cmdline.exists():
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return False
        return proc.token in text and stat[0] != "Z"
    return True


def tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
