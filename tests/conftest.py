"""Shared fixtures, and how the suite is spread over pytest-xdist workers.

Offline telemetry is switched off, and numerical libraries run one thread each, before
Prefect, Evidently or numpy load.

``make test`` runs the suite on two xdist workers (``-n 2``). Each test module is one unit of
work, so a module's fixtures (a trained store, a running app, `challenger up`) are built
once, on one worker, and its tests run there in file order; the modules of ``SPLIT_BY_PARAM``
are split into one unit per parameter (their parametrized worlds share nothing). Units go out
in collection order, heavy integration modules first, and the many small unit-test modules
fill in at the end. The controller also starts the one temporary Prefect API server all
workers share (``prefect_harness``). Without ``-n`` nothing of this applies, and the session
uses Prefect's own test harness.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# One OpenMP/BLAS thread per process (the servers and subprocesses tests start inherit it):
# two workers already fill the two cores, and on small data spinning OpenMP threads of
# HistGradientBoosting and OpenBLAS cost several times the work itself (measured: a quick
# benchmark's scikit-learn CV took 44 s with the default threads, 3.6 s with one, at load 9).
for _threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

# Modules whose tests of one parameter (e.g. test_x[regression]) form a unit of their own.
SPLIT_BY_PARAM = ("tests/integration/test_task_flows.py", "tests/bench/test_benchmarks.py")


def unit_of_work(nodeid: str) -> str:
    """The xdist unit a test belongs to: its module, or its module and parameter."""
    module = nodeid.split("::", 1)[0]
    if module in SPLIT_BY_PARAM and nodeid.endswith("]") and "[" in nodeid:
        return f"{module}[{nodeid[nodeid.index('[') + 1 : -1]}]"
    return module


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Schedule whole units (see the module docstring), in collection order."""
    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return unit_of_work(nodeid)

    config.option.loadscopereorder = False  # collection order: the heavy modules come first
    return UnitScheduling(config, log)


# Under xdist the controller starts one temporary Prefect API server for every worker (in
# pytest_configure, while the workers start) and names it here; each worker's harness then
# joins it instead of starting and migrating a server of its own (about 8 s of each worker).
SHARED_PREFECT = "CHALLENGER_TEST_PREFECT_API_URL"


def pytest_configure(config: pytest.Config) -> None:
    if (
        os.environ.get("PYTEST_XDIST_WORKER")
        or not getattr(config.option, "numprocesses", None)
        or os.environ.get(SHARED_PREFECT)
    ):
        return
    import socket
    import subprocess
    import sys
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="challenger-test-prefect-"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # What prefect.testing.utilities.prefect_test_harness runs (SubprocessASGIServer): the
    # API without the UI, on a fresh SQLite database in a temporary folder.
    env = {
        **os.environ,
        "PREFECT_HOME": str(folder),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{folder / 'prefect.db'}",
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
    }
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "prefect.server.api.server:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "error", "--lifespan", "on"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    log.close()
    os.environ[SHARED_PREFECT] = f"http://127.0.0.1:{port}/api"
    config.stash[_SERVER] = (proc, folder)


_SERVER = pytest.StashKey[tuple[Any, Path]]()


def pytest_unconfigure(config: pytest.Config) -> None:
    started = config.stash.get(_SERVER, None)
    if started is None:
        return
    import shutil
    import subprocess

    proc, folder = started
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=20)
    os.environ.pop(SHARED_PREFECT, None)
    shutil.rmtree(folder, ignore_errors=True)


def _wait_healthy(api_url: str, timeout: float) -> None:
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{api_url}/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the session's Prefect server at {api_url} did not start")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[str]:
    """One temporary Prefect server and database for the session; its API URL.

    Under xdist it is the one server the controller started for every worker
    (``pytest_configure``); without, Prefect's own ``prefect_test_harness``. Integration
    tests use it automatically (tests/integration/conftest.py); a subprocess joins it through
    ``PREFECT_API_URL``.
    """
    from prefect.settings import PREFECT_API_URL

    shared = os.environ.get(SHARED_PREFECT)
    if shared:
        from prefect.context import _temporary_global_settings_context, get_settings_context
        from prefect.settings import temporary_settings

        _wait_healthy(shared, 120)
        # As prefect_test_harness does: the settings also for contexts copied before them.
        with (
            temporary_settings(updates={PREFECT_API_URL: shared}),
            _temporary_global_settings_context(get_settings_context()),
        ):
            yield shared
        return
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())


@pytest.fixture(scope="session")
def mlflow_store_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An empty MLflow store created once per session; every new store of the session copies it.

    ``challenger.store.connection.STORE_TEMPLATE`` makes a new SQLite store a copy of this one
    instead of running MLflow's migrations again (about a second a store, dozens of stores).
    Copy it, never write to it.
    """
    from challenger.store import connection

    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    connection.create_store(f"sqlite:///{path}")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    connection.STORE_TEMPLATE = path
    yield path
    connection.STORE_TEMPLATE = None
