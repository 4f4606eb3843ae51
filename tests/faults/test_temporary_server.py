"""kill -9 of a command that runs a flow without a Prefect server does not orphan the
temporary server Prefect started for it (flows/temporary_server.py).

The child runs the real monitor flow with no ``PREFECT_API_URL``, so Prefect starts its
temporary API server as the child's subprocess; the flow blocks once its run is RUNNING.
The test kill -9s the child and checks that the server process is gone within seconds
(it lived on, orphaned, before).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.faults.kit import cli_env, embedded_store, write_config

from challenger.demo.simulator import simulate_batch

CHILD = """
import sys, time
import flows.monitor as monitor

def blocked(settings):
    print("running", flush=True)
    time.sleep(600)

monitor.stores = blocked
monitor.monitor_flow(batch=sys.argv[1], config=sys.argv[2], retrain=False)
"""


def _servers_of(pid: int) -> list[int]:
    """Prefect API servers (uvicorn) whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
        if int(stat[1]) == pid and "prefect.server.api.server:create_app" in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_kill_9_of_the_command_stops_its_temporary_prefect_server(
    tmp_path: Path, store_template: Path
) -> None:
    cfg = write_config(tmp_path)
    embedded_store(tmp_path, store_template)
    batch = tmp_path / "b.csv"
    simulate_batch(1, 200, seed=3).to_csv(batch, index=False)
    env = {k: v for k, v in cli_env().items() if not k.startswith("PREFECT_API")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")  # its own database, not ~/.prefect
    env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = (
        "120"  # Prefect's 20 s: too short at load 7
    )
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(batch), str(cfg)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    servers: list[int] = []
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "running", "the flow never started"
        servers = _servers_of(child.pid)
        assert servers, "no temporary Prefect server was started for the flow"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        deadline = time.monotonic() + 20
        while any(_alive(s) for s in servers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(s) for s in servers), "the temporary server outlived its command"
    finally:
        child.kill()
        for pid in servers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
