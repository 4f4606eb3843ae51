"""kill -9 of a process running a flow: the next flow's start marks its Prefect run CRASHED.

A child process runs the real monitor flow against the test's Prefect server and is killed
(SIGKILL) while the run is RUNNING; Prefect itself would show it RUNNING forever. The next
promote run repairs at its start, as every flow that may move ``champion`` does: the killed
run (and its running task runs) become CRASHED, a run whose process is alive is left alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from tests.faults.kit import cli_env, embedded_store, write_config

from challenger.demo.simulator import simulate_batch
from challenger.errors import ChallengerError

# The monitor flow, blocked once it holds a RUNNING flow run (it waits for the store forever).
CHILD = """
import sys, time
import flows.monitor as monitor

def blocked(settings):
    print("running", flush=True)
    time.sleep(600)

monitor.stores = blocked
monitor.monitor_flow(batch=sys.argv[1], config=sys.argv[2], retrain=False)
"""


def _start(batch: Path, cfg: Path, api: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(batch), str(cfg)],
        env=cli_env(PREFECT_API_URL=api),
        stdout=subprocess.PIPE,
        text=True,
    )


def _wait_running(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "running":
        proc.kill()
        proc.wait(timeout=30)
        pytest.fail(f"the child flow did not start (exit {proc.returncode})")


def _monitor_runs(pid_of: dict[str, int]) -> dict[int, str]:
    """State of each monitor flow run, by the pid whose batch (run parameter) it checks."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    # Newest first: the session's server holds every module's monitor runs (a page is 200).
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["monitor"])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
        )
    return {
        pid_of[str(r.parameters.get("batch"))]: str(r.state_type.value)
        for r in runs
        if str(r.parameters.get("batch")) in pid_of and r.state_type is not None
    }


def test_a_killed_flow_run_is_marked_crashed_at_the_next_start(
    tmp_path: Path, store_template: Path, prefect_api: str
) -> None:
    from flows.promote import promote_flow

    cfg = write_config(tmp_path / "project")
    embedded_store(tmp_path / "project", store_template)
    batches = []
    for name in ("killed", "alive"):
        path = tmp_path / f"{name}-{uuid.uuid4().hex[:6]}.csv"
        simulate_batch(1, 50, 3).to_csv(path, index=False)
        batches.append(path)
    killed, alive = (_start(b, cfg, prefect_api) for b in batches)  # both start at once
    pid_of = {str(b): p.pid for b, p in zip(batches, (killed, alive), strict=True)}
    try:
        _wait_running(killed)
        _wait_running(alive)
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(timeout=30)
        assert _monitor_runs(pid_of) == {killed.pid: "RUNNING", alive.pid: "RUNNING"}

        with pytest.raises(ChallengerError, match="has no version 99"):
            promote_flow(version=99, config=str(cfg))  # repairs at start, then refuses

        assert _monitor_runs(pid_of) == {killed.pid: "CRASHED", alive.pid: "RUNNING"}
    finally:
        for proc in (killed, alive):
            proc.kill()
            proc.wait(timeout=30)
