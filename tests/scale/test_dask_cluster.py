"""CV folds on a Dask cluster of separate processes, through Prefect's task runner.

A ``dask scheduler`` and two ``dask worker --nthreads 1`` processes on loopback, each its own
process group, as a user starts them on their machines; the retrains run as `challenger
retrain` processes with ``training.executor: {kind: dask, address: tcp://...}`` and report
to the session's Prefect server (on PostgreSQL, tests/scale/conftest.py), as do the fold
tasks on the workers. The scores must equal those of the threads executor exactly, and a
worker killed with SIGKILL in the middle of a fold must cost nothing but time: the scheduler
sees the worker's connection drop and runs its folds again on the other worker.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.e2e.test_e2e_service import REPO, RUN_TIMEOUT, clean_env, free_port
from tests.scale.servers import Postgres, result, retrain

from challenger.demo.simulator import simulate_batch
from challenger.store.batches import write_table

pytestmark = pytest.mark.scale

FOLD_KEY = "fold_task-"  # prefect-dask's Dask key of a flows.executor.fold_task run
TRAINING = {
    "cv": {"n_splits": 3, "k_sensitivity": [2, 3]},
    "candidates": [
        {
            "name": "logistic_regression",
            "estimator": "sklearn.linear_model.LogisticRegression",
            "params": {"max_iter": 500},
            "search": "grid",
            "search_space": {"C": [0.01, 1.0]},
        },
        {  # a second or so per fold on one thread: long enough to be killed in the middle
            "name": "forest",
            "estimator": "sklearn.ensemble.RandomForestClassifier",
            "params": {"n_estimators": 120, "min_samples_leaf": 2},
        },
    ],
}


@dataclass
class Cluster:
    address: str
    client: Any  # distributed.Client
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def workers(self) -> dict[str, str]:
        """Worker name -> address, as the scheduler knows them now."""
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        return {str(w["name"]): address for address, w in info.items()}


def _spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, env=env, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,  # its own group: killpg ends all
        )  # fmt: skip


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"the Dask scheduler did not listen on {port}: {log}")


@pytest.fixture(scope="module")
def cluster(service: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A scheduler and two single-thread workers, each a process group of its own."""
    from distributed import Client

    logs = tmp_path_factory.mktemp("dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    # The fold tasks report their runs to the Prefect server, as the README asks of workers.
    env = clean_env(PREFECT_API_URL=service["prefect_api_url"])
    dask = [sys.executable, "-m", "dask"]
    found = Cluster(address, None)
    try:
        scheduler_log = logs / "scheduler.log"
        found.processes["scheduler"] = _spawn(
            [*dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            env,
            scheduler_log,
        )
        _wait_for_port(port, found.processes["scheduler"], scheduler_log)
        for name in ("worker-a", "worker-b"):
            found.processes[name] = _spawn(
                [
                    *dask, "worker", address,
                    "--name", name, "--nthreads", "1", "--no-dashboard",
                    "--local-directory", str(logs / name),
                ],
                env,
                logs / f"{name}.log",
            )  # fmt: skip
        found.client = Client(address, timeout=60)
        found.client.wait_for_workers(2, timeout=120)
        yield found
    finally:
        if found.client is not None:
            found.client.close()
        for proc in reversed(found.processes.values()):  # workers first
            _stop(proc)


@pytest.fixture(scope="module")
def project(service: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Training data and the session's configuration (same stores) with its own model."""
    folder = tmp_path_factory.mktemp("dask-project")
    base = yaml.safe_load(service["config"].read_text())
    base["project"]["model_name"] = "scale-dask"
    data = write_table(simulate_batch(0, 3000, seed=11), folder / "train.parquet")
    return {"folder": folder, "base": base, "data": data, "env": service["env"]}


def _retrain(project: dict[str, Any], name: str, executor: dict[str, Any]) -> subprocess.Popen[str]:
    """`challenger retrain` on the project's data with ``training.executor: executor``."""
    config = project["folder"] / f"{name}.yaml"
    training = {**TRAINING, "executor": executor}
    config.write_text(yaml.safe_dump({**project["base"], "training": training}))
    return retrain(config, project["data"], project["env"])


def _scores(retrained: dict[str, Any]) -> dict[str, Any]:
    """Everything the executor could change: every fold's score, the k-sensitivity rows."""
    return {k: retrained[k] for k in ("cv", "k_sensitivity", "candidate", "best_params")}


def _executed(cluster: Cluster, worker: str) -> int:
    return int(
        cluster.client.run(lambda dask_worker: dask_worker.state.executed_count, workers=[worker])[
            worker
        ]
    )


@pytest.fixture(scope="module")
def threads(project: dict[str, Any]) -> dict[str, Any]:
    return result(_retrain(project, "threads", {"kind": "threads", "workers": 2}))


def test_folds_on_the_cluster_score_exactly_as_on_threads(
    cluster: Cluster, project: dict[str, Any], threads: dict[str, Any]
) -> None:
    workers = cluster.workers()
    before = {name: _executed(cluster, address) for name, address in workers.items()}

    on_dask = result(_retrain(project, "dask", {"kind": "dask", "address": cluster.address}))

    assert _scores(on_dask) == _scores(threads)
    assert [len(c["folds"]) for c in on_dask["cv"]] == [3, 3]
    assert [k["k"] for k in on_dask["k_sensitivity"]] == [2, 3]
    # Every fold job ran on the cluster, and on both workers: 2 grid points + 1 forest, on 3
    # folds, then the best candidate on 2 folds for the k-sensitivity (k=3 is the CV itself).
    ran = {name: _executed(cluster, address) - before[name] for name, address in workers.items()}
    assert sum(ran.values()) == 3 * 3 + 2, ran
    assert all(n > 0 for n in ran.values()), ran


def test_a_worker_killed_in_the_middle_of_a_fold_loses_nothing(
    cluster: Cluster, project: dict[str, Any], threads: dict[str, Any], postgres: Postgres
) -> None:
    workers = cluster.workers()
    assert len(workers) == 2
    run = _retrain(project, "dask-kill", {"kind": "dask", "address": cluster.address})
    try:
        victim, key = _wait_for_an_executing_fold(cluster, workers, run)
        os.killpg(cluster.processes[victim].pid, signal.SIGKILL)  # the nanny and its worker
        cluster.processes[victim].wait(timeout=10)
        survived = result(run)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate(timeout=30)

    assert _scores(survived) == _scores(threads)
    [survivor] = [name for name in workers if name != victim]
    assert set(cluster.workers()) == {survivor}
    # The killed fold ran again, to completion, on the surviving worker.
    story = cluster.client.run(
        lambda key, dask_worker: [list(map(str, t[:3])) for t in dask_worker.state.story(key)],
        key,
        workers=[workers[survivor]],
    )[workers[survivor]]
    assert [key, "executing", "memory"] in story, story
    # Prefect (no task retries configured) saw every fold task of that retrain complete: none
    # is left running or crashed by the dead worker.
    assert _fold_task_states(postgres) == ["COMPLETED"] * (3 * 3 + 2)


def _fold_task_states(postgres: Postgres) -> list[str]:
    """The final states of the newest retrain's fold task runs, from the prefect database."""
    deadline = time.monotonic() + 60
    while True:  # the server records task runs from their events, a moment later
        rows = postgres.query(
            "prefect",
            "SELECT t.state_type FROM task_run t WHERE t.name LIKE 'cv-%%' AND t.flow_run_id = "
            "(SELECT r.id FROM flow_run r JOIN flow f ON f.id = r.flow_id "
            "WHERE f.name = 'retrain' ORDER BY r.created DESC LIMIT 1)",
        )
        states = sorted(str(state) for (state,) in rows)
        if set(states) == {"COMPLETED"} or time.monotonic() > deadline:
            return states
        time.sleep(1)


def _wait_for_an_executing_fold(
    cluster: Cluster, workers: dict[str, str], run: subprocess.Popen[str]
) -> tuple[str, str]:
    """The first worker seen running a fold task, and that task's key."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        assert run.poll() is None, "the retrain ended before a fold was seen running"
        running = cluster.client.run(
            lambda dask_worker: [str(ts.key) for ts in dask_worker.state.executing]
        )
        for name, address in workers.items():
            folds = [k for k in running.get(address, []) if k.startswith(FOLD_KEY)]
            if folds:
                return name, folds[0]
        time.sleep(0.05)
    raise AssertionError("no fold task was seen running on the cluster")
