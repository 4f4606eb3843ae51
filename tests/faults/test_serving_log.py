"""The prediction log under faults, for real: an injected write failure in the SQLite log of
a running canary, and kill -9 of a ``challenger serve`` process under load.

- A failing log is never silent: answers say ``logged: false``, /health is degraded with the
  reason, /metrics shows it, labels get 503 instead of a 202 for nothing, and the canary's
  traffic goes to the champion until the log writes again; then later rows are logged and
  the challenger gets its share back.
- Answered is logged: after kill -9 under load (single and hundred-record requests), every
  request the client got a 200 for is in the log with all its records, and the shadow
  worker died with the app.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from tests.helpers import (
    log_served_model,
    metric_value,
    register_logged,
    serving_client,
    serving_project,
    wait_until,
)

from challenger.config import Settings
from challenger.demo.simulator import Period, simulate_batch
from challenger.online.log import LogStore
from challenger.online.serve.app import create_app
from challenger.online.serve.runtime import ServingRuntime
from challenger.online.serve.server import BackgroundServer
from challenger.store.registry import Registry


def _features(s: Settings, n: int, day: int) -> list[dict[str, Any]]:
    return simulate_batch(day, n, 11, Period())[list(s.data.features)].to_dict("records")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store whose champion (v1) and challenger (v2) are the same model, logged once."""
    root = tmp_path_factory.mktemp("store")
    s = serving_project(
        tmp_path_factory.mktemp("logging"), root, "logged", {"strategy": "champion"}
    )
    logged = log_served_model(s, simulate_batch(0, 2000, 11, Period()), reference=True)
    reg = Registry.from_settings(s)
    v1 = register_logged(reg, logged)
    reg.promote(v1, None)
    reg.mark_challenger(register_logged(reg, logged))
    return {"root": root, "s": s}


# ============================================================== a write failure, injected


def _fault(db: Path, on: bool) -> None:
    """A real write failure: SQLite itself aborts every insert into predictions and feedback."""
    with sqlite3.connect(db) as conn:
        for table in ("predictions", "feedback"):
            if on:
                conn.execute(
                    f"CREATE TRIGGER fault_{table} BEFORE INSERT ON {table} "
                    "BEGIN SELECT RAISE(ABORT, 'injected write failure'); END"
                )
            else:
                conn.execute(f"DROP TRIGGER fault_{table}")


@pytest.fixture
def canary(store: dict[str, Any], tmp_path: Path) -> Iterator[dict[str, Any]]:
    s = serving_project(
        tmp_path,
        store["root"],
        "logged",
        {"strategy": "canary", "canary": {"stages": [50.0, 100.0], "guard_seconds": 600}},
    )
    runtime = ServingRuntime(s)
    with BackgroundServer(create_app(s, runtime)) as server, serving_client(server.url) as c:
        wait_until(lambda: (c.get("/health").json()["rollout"] or {}).get("status") == "running")
        yield {"client": c, "runtime": runtime, "s": s, "db": runtime.store.path}


def _traffic(c: httpx.Client, s: Settings, prefix: str, n: int = 40) -> list[dict[str, Any]]:
    out = []
    for i, rec in enumerate(_features(s, n, day=3)):
        r = c.post("/predict", json={"user_id": f"{prefix}-{i}", "record": rec})
        assert r.status_code == 200, r.text
        assert r.headers["x-logged"] == str(r.json()["logged"]).lower()
        out.append(r.json())
    return out


def test_a_failing_log_is_alerted_and_the_canary_falls_back_until_it_writes_again(
    canary: dict[str, Any],
) -> None:
    c, s, runtime, db = canary["client"], canary["s"], canary["runtime"], canary["db"]
    before = _traffic(c, s, "before")
    assert all(a["logged"] for a in before)
    assert {a["arm"] for a in before} == {"champion", "challenger"}, "the canary has traffic"

    _fault(db, on=True)
    _traffic(c, s, "probe", 1)  # the request that finds the log failing
    during = _traffic(c, s, "during")
    assert not any(a["logged"] for a in during), "answers say they were not logged"
    assert {a["arm"] for a in during} == {"champion"}, "no challenger traffic unobserved"
    health = c.get("/health").json()
    assert health["status"] == "degraded" and not health["log"]["healthy"]
    assert any("injected write failure" in p for p in health["problems"]), health["problems"]
    assert health["rollout"]["status"] == "running", "a fallback, not a rollback"
    text = c.get("/metrics").text
    assert metric_value(text, "challenger_log_healthy") == 0.0
    assert metric_value(text, "challenger_log_failed") >= len(during)
    assert metric_value(text, "challenger_unlogged_answers_total") >= len(during)
    label = c.post("/feedback", json={"request_id": before[0]["request_id"], "label": 1})
    assert label.status_code == 503 and "not recorded" in label.json()["detail"]
    assert (
        c.post("/feedback", json={"request_id": during[0]["request_id"], "label": 1}).status_code
        == 404
    )
    kept = runtime.writer.rejected_path.read_text().splitlines()
    assert len(kept) >= len(during), "the rows that failed are kept aside"

    _fault(db, on=False)
    _traffic(c, s, "recovering", 1)  # served by the champion; its rows go in
    after = _traffic(c, s, "after")
    assert all(a["logged"] for a in after)
    assert {a["arm"] for a in after} == {"champion", "challenger"}, "the canary resumes"
    assert c.get("/health").json()["log"]["healthy"]
    assert (
        c.post("/feedback", json={"request_id": before[0]["request_id"], "label": 1}).status_code
        == 202
    )
    ids = [a["request_id"] for a in after]
    marks = ",".join("?" * len(ids))
    found = LogStore(db).frame(
        f"SELECT request_id FROM predictions WHERE request_id IN ({marks})", ids
    )
    assert sorted(found["request_id"]) == sorted(ids), "later rows are logged"
    assert runtime.writer.alive


# ==================================================================== kill -9 under load

SINGLE, BATCH = 1, 100


async def _load(
    url: str, records: list[dict[str, Any]], proc: subprocess.Popen[bytes]
) -> list[tuple[str, int]]:
    """Requests from 12 clients (every fourth a hundred-record batch) until the app is
    killed, which happens once 400 answers are in; (request id, records) of each 200."""
    answered: list[tuple[str, int]] = []
    not_logged: list[str] = []
    killed = asyncio.Event()

    async def client(k: int) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as c:
            i = 0
            while not killed.is_set():
                n = BATCH if (k + i) % 4 == 0 else SINGLE
                start = (k * 97 + i * n) % (len(records) - BATCH)
                body = {"records": records[start : start + n]}
                i += 1
                try:
                    r = await c.post("/predict", json=body)
                except httpx.HTTPError:
                    return  # the app is gone
                if r.status_code == 200:
                    answered.append((r.json()["request_id"], n))
                    if not r.json()["logged"]:
                        not_logged.append(r.json()["request_id"])
                if len(answered) >= 400 and not killed.is_set():
                    killed.set()
                    os.kill(proc.pid, signal.SIGKILL)  # requests of the others are in flight

    await asyncio.gather(*(client(k) for k in range(12)))
    assert not not_logged, f"{len(not_logged)} answers said logged: false on a healthy log"
    return answered


@pytest.fixture(scope="module")
def killed(store: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A `challenger serve` process (shadow strategy) killed with SIGKILL under load."""
    folder = tmp_path_factory.mktemp("killed")
    s = serving_project(
        folder,
        store["root"],
        "logged",
        {"strategy": "shadow", "shadow": {"models": ["challenger"]}},
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    log = (folder / "serve.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "challenger.cli",
            "serve",
            "--config",
            str(folder / "challenger.yaml"),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert proc.poll() is None, (folder / "serve.log").read_text()[-3000:]
            try:
                return bool(httpx.get(f"{url}/health", timeout=2).json()["shadow"]["ready"])
            except httpx.HTTPError:
                return False

        wait_until(ready, 180, "the app and its shadow worker")
        children = psutil.Process(proc.pid).children(recursive=True)
        started = time.monotonic()
        answered = asyncio.run(_load(url, _features(s, 3000, day=4), proc))
        proc.wait(30)
        seconds = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    return {
        "answered": answered,
        "children": children,
        "db": s.path(s.serving.prediction_log),
        "seconds": seconds,
    }


def test_every_answer_given_before_a_kill_9_is_in_the_log(killed: dict[str, Any]) -> None:
    answered = killed["answered"]
    assert len(answered) >= 400 and any(n == BATCH for _, n in answered)
    with sqlite3.connect(killed["db"]) as conn:
        logged = dict(conn.execute("SELECT request_id, COUNT(*) FROM predictions GROUP BY 1"))
    missing = [(rid, n) for rid, n in answered if logged.get(rid) != n]
    rows = sum(n for _, n in answered)
    assert not missing, (
        f"{len(missing)} of {len(answered)} answered requests ({rows} rows) not logged"
    )


def test_the_shadow_worker_dies_with_the_app(killed: dict[str, Any]) -> None:
    children = killed["children"]
    assert children, "the shadow worker was running"

    def gone(p: psutil.Process) -> bool:
        try:
            return p.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_until(lambda: all(gone(p) for p in children), 15, "the app's children to end")
