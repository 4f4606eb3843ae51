"""Benchmark: the serving app under load, each figure a ratio measured in the same run.

Registers a champion (logistic regression) and a challenger (gradient boosting) in a
temporary MLflow store, then starts three copies of the same app as separate processes
(`python -m challenger.cli serve`) on free 127.0.0.1 ports:

    A  champion only, prediction log on
    B  shadow (the challenger sees every request in the shadow worker), log on
    C  champion only, log off

and drives them from this process (a second process, so the load generator and the app do
not share an interpreter) with httpx:

1. Shadow overhead: the same open-loop load (requests sent on a fixed schedule at
   ``--rate`` per second, by default 30 % of A's closed-loop capacity measured first, whatever
   the answers do) against A and B, in alternated rounds (A then B, B then A, ...: drifting
   load on the machine hits both arms alike); before each round B's shadow worker has
   finished the previous one, so its backlog never lands in A's round. p50 and p99 latency of
   /predict per round, their ratio B / A per round, the median of those ratios (the verdict)
   and the ratio of the pooled percentiles; CPU per request of each app process and of B's
   shadow worker. Target: median p99 ratio at most 1.1.
2. Log cost and shadow throughput: closed-loop throughput (``--concurrency`` requests in
   flight) against A, B and C, in rotated order; ratio A / C (target at least 0.9) and,
   reported, B / A.
3. Load: ``--load`` requests (default 20,000) against B with ``--concurrency`` in flight;
   zero errors, and after a clean shutdown (SIGINT) exactly as many prediction-log rows as
   answered requests.

Other work on the machine makes single rounds noisy (a burst of someone's test run puts a
few hundred milliseconds into one round's p99): compare medians over several rounds, and
look at the per-round figures before believing one. The load generator itself collects no
garbage while a latency round runs (its own full collections used to release scheduled
requests in bursts, always in the same rounds).

Everything listens on loopback only and every loop is bounded by a request count.

Usage:
    python bench/bench_serving.py [--fraction 0.3 | --rate R] [--latency-requests 600]
                                  [--rounds 16] [--throughput-requests 3000]
                                  [--throughput-rounds 5] [--concurrency 16] [--load 20000]
                                  [--only shadow|log|load] [--quick]
                                  [--task binary|multiclass|regression]

``--task multiclass`` serves a multiclass champion and challenger (answers carry the class and
its probabilities; the shadow's agreement and PSI follow the task); ``--task regression``
serves numbers.

``--quick`` runs the same code at a size that takes seconds (the test suite runs it so that a
moved module cannot break the benchmark unnoticed): the ratios are printed, not judged; the
load test's zero errors and its log rows still decide the exit status.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import yaml

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

TARGET_SHADOW_P99 = 1.1
TARGET_LOG_THROUGHPUT = 0.9
QUICK = {
    "store_rows": 1_000,
    "latency_requests": 40,
    "rounds": 2,
    "throughput_requests": 60,
    "throughput_rounds": 1,
    "concurrency": 4,
    "load": 200,
    "warmup_requests": 40,
}


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


TASKS = {  # task -> (target column, primary metric, champion, challenger)
    "binary": (
        "default",
        "roc_auc",
        ("sklearn.linear_model.LogisticRegression", {"max_iter": 1000}),
        (
            "sklearn.ensemble.HistGradientBoostingClassifier",
            {"max_iter": 150, "max_leaf_nodes": 15},
        ),
    ),
    "multiclass": (
        "risk_grade",
        "log_loss",
        ("sklearn.linear_model.LogisticRegression", {"max_iter": 1000}),
        (
            "sklearn.ensemble.HistGradientBoostingClassifier",
            {"max_iter": 150, "max_leaf_nodes": 15},
        ),
    ),
    "regression": (
        "risk_score",
        "rmse",
        ("sklearn.linear_model.Ridge", {}),
        ("sklearn.ensemble.HistGradientBoostingRegressor", {"max_iter": 150, "max_leaf_nodes": 15}),
    ),
}


def project_config(mlflow_cfg: dict[str, Any], task: str) -> dict[str, Any]:
    """The part of challenger.yaml every process of the benchmark shares."""
    target, metric, _, _ = TASKS[task]
    return {
        "mlflow": mlflow_cfg,
        "data": {"task": task, "target": target},
        "training": {"primary_metric": metric},
    }


def build_store(root: Path, n_rows: int, task: str = "binary") -> dict[str, Any]:
    """Register a champion and a challenger of ``task``; returns the shared MLflow settings."""
    from challenger.config import CandidateConfig, load_config
    from challenger.demo.simulator import Period, simulate_batch
    from challenger.store.connection import create_store
    from challenger.store.registry import Registry
    from challenger.store.tracking import Tracking
    from challenger.train.pipeline import build_pipeline

    mlflow_cfg = {
        "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
        "artifact_root": (root / "artifacts").as_uri(),
    }
    (root / "base.yaml").write_text(yaml.safe_dump(project_config(mlflow_cfg, task)))
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    s = load_config(root / "base.yaml")
    create_store(s.tracking_uri)  # a store named explicitly is created only when asked
    reg = Registry.from_settings(s)
    tracking = Tracking.from_settings(s)
    feats = list(s.data.features)
    target, _, champion, challenger = TASKS[task]

    def batch(day: int, n: int, seed: int, period: Period) -> Any:
        return simulate_batch(day, n, seed, period, target=target, task=task)

    old = batch(0, n_rows, 7, Period())
    new = batch(1, n_rows, 7, Period(1.0, 1.0))
    candidates = (
        CandidateConfig(name="champion", estimator=champion[0], params=champion[1]),
        CandidateConfig(name="challenger", estimator=challenger[0], params=challenger[1]),
    )
    versions = []
    for cand, frame in zip(candidates, (old, new), strict=True):
        model = build_pipeline(cand, s.data.numeric, s.data.categorical, 7, task=task)
        model.fit(frame[feats], frame[target].to_numpy())
        with tracking.start_run(f"bench-{cand.name}") as run_id:
            uri = tracking.log_model(model, frame[feats].head(100))
            versions.append(reg.register(uri, run_id, {}, "bench").version)
    reg.promote(versions[0], None)
    reg.mark_challenger(versions[1])
    live = batch(2, 5000, 8, Period(1.0, 1.0))
    return {"mlflow": mlflow_cfg, "records": live[feats].to_dict("records")}


@dataclass
class Server:
    """One `challenger serve` process."""

    name: str
    folder: Path
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_db(self) -> Path:
        return self.folder / "predictions.db"

    def stop(self) -> None:
        """Graceful shutdown (SIGINT): the app drains its log and shadow worker first."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(
    root: Path, name: str, mlflow_cfg: dict[str, Any], strategy: str, log: bool, task: str
) -> Server:
    folder = root / name
    folder.mkdir()
    cfg = {
        **project_config(mlflow_cfg, task),
        "rollout": {"strategy": strategy, "shadow": {"queue_size": 100_000}},
        "serving": {
            "log_enabled": log,
            "prediction_log": str(folder / "predictions.db"),
            "flags_file": str(folder / "flags.yaml"),
        },
    }
    path = folder / "challenger.yaml"
    path.write_text(yaml.safe_dump(cfg))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "challenger.cli",
            "serve",
            "--config",
            str(path),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=(folder / "server.log").open("wb"),
        env=env,
    )
    return Server(name, folder, port, proc)


def wait_ready(server: Server, shadow: bool, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"server {server.name} exited; see {server.folder / 'server.log'}")
        try:
            health = httpx.get(f"{server.url}/health", timeout=2).json()
            if not shadow or (health["shadow"] and health["shadow"]["ready"]):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server {server.name} not ready in {timeout:.0f} s")


async def open_loop(url: str, records: list[dict[str, Any]], n: int, rate: float) -> np.ndarray:
    """Send n requests on a fixed schedule (rate per second); latency of each in ms."""
    latencies = np.full(n, np.nan)
    failures: list[str] = []
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        start = time.perf_counter() + 0.05

        async def one(i: int) -> None:
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            t0 = time.perf_counter()
            body = {"user_id": f"u{i}", "record": records[i % len(records)]}
            try:
                r = await client.post("/predict", json=body)
            except httpx.HTTPError as exc:
                failures.append(f"{type(exc).__name__}: {exc}")
                return
            if r.status_code == 200:
                latencies[i] = (time.perf_counter() - t0) * 1000.0
            else:
                failures.append(f"HTTP {r.status_code}: {r.text[:200]}")

        await asyncio.gather(*(one(i) for i in range(n)))
    if failures:
        print(f"{len(failures)} failed requests, e.g. {failures[0]}", file=sys.stderr)
    return latencies


async def closed_loop(
    url: str, records: list[dict[str, Any]], n: int, concurrency: int
) -> tuple[float, int, int]:
    """n requests with `concurrency` in flight; (requests per second, answered, errors)."""
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=2.0
    )
    answered = errors = 0
    counter = iter(range(n))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def worker() -> None:
            nonlocal answered, errors
            for i in counter:
                body = {"user_id": f"u{i}", "record": records[i % len(records)]}
                try:
                    r = await client.post("/predict", json=body)
                    if r.status_code == 200:
                        answered += 1
                    else:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return answered / elapsed, answered, errors


@contextlib.contextmanager
def no_client_gc() -> Any:
    """No garbage collection in this (the load generator's) process while a round runs.

    This process holds the store's libraries and the records: a full collection takes
    100-200 ms, during which scheduled requests pile up and then leave in a burst, and its
    timing follows the allocation count, so with a fixed arm order it kept landing in the
    same rounds of the same arm (rounds 1, 7 and 13, the shadow arm, in two runs).
    """
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def cpu_split(server: Server) -> tuple[float, float]:
    """User + system CPU seconds so far of a server process (all its threads) and of its
    children (the shadow worker)."""
    proc = psutil.Process(server.proc.pid)
    t = proc.cpu_times()
    children = 0.0
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            c = child.cpu_times()
            children += c.user + c.system
    return t.user + t.system, children


def cpu_seconds(server: Server) -> float:
    """User + system CPU time of a server process, its threads and its children so far."""
    return sum(cpu_split(server))


def settle(server: Server, timeout: float = 120.0) -> None:
    """Wait until a shadow app's worker has no mirrored request waiting (others: at once).

    The worker predicts in the background at idle priority; without this, the backlog of one
    round would be predicted during the next round, possibly the other arm's.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shadow = httpx.get(f"{server.url}/health", timeout=10).json()["shadow"]
        if not shadow or shadow["pending"] == 0:
            break
        time.sleep(0.1)
    time.sleep(0.3)  # the batch the worker has taken, and its log writes


def rows(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="open-loop requests per second (default: --fraction of A's capacity)",
    )
    parser.add_argument(
        "--fraction",
        type=float,
        default=0.3,
        help="open-loop rate as a share of A's measured capacity",
    )
    parser.add_argument("--latency-requests", type=int, default=600, help="per latency round")
    parser.add_argument("--rounds", type=int, default=16, help="alternated rounds per comparison")
    parser.add_argument(
        "--throughput-requests", type=int, default=3000, help="per throughput round"
    )
    parser.add_argument("--throughput-rounds", type=int, default=5, help="rotated rounds")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="closed-loop requests in flight"
    )
    parser.add_argument("--load", type=int, default=20_000, help="requests of the load test")
    parser.add_argument(
        "--only",
        choices=("shadow", "log", "load"),
        action="append",
        help="run only these parts (repeatable; default: all)",
    )
    parser.add_argument(
        "--task",
        choices=tuple(TASKS),
        default="binary",
        help="the kind of model served (multiclass answers classes and probabilities)",
    )
    parser.add_argument("--store-rows", type=int, default=4000, help=argparse.SUPPRESS)
    parser.add_argument("--warmup-requests", type=int, default=300, help=argparse.SUPPRESS)
    parser.add_argument(
        "--quick", action="store_true", help=f"a size that runs in seconds ({QUICK}); not judged"
    )
    args = parser.parse_args(argv)
    if args.quick:  # explicit options still win over the quick size
        parser.set_defaults(**QUICK)
        args = parser.parse_args(argv)

    parts = set(args.only or ("shadow", "log", "load"))
    timings: list[bool] = []  # ratio targets: judged at full size only
    verdicts: list[bool] = []  # what the load test must get right at any size
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        store = build_store(root, args.store_rows, args.task)
        records = store["records"]
        gc.collect()
        gc.freeze()  # the libraries and records stay; collections only walk what rounds add
        champion, challenger = (TASKS[args.task][i][0].rsplit(".", 1)[1] for i in (2, 3))
        print(
            f"store ({args.task}): champion {champion}, challenger {challenger} registered in "
            f"{time.perf_counter() - t0:.0f} s"
        )
        servers = {
            "A": start_server(root, "A", store["mlflow"], "champion", True, args.task),
            "B": start_server(root, "B", store["mlflow"], "shadow", True, args.task),
            "C": start_server(root, "C", store["mlflow"], "champion", False, args.task),
        }
        try:
            for key, server in servers.items():
                wait_ready(server, shadow=key == "B")
            for server in servers.values():  # warm-up: imports, caches, first predictions
                asyncio.run(closed_loop(server.url, records, args.warmup_requests, 4))
            time.sleep(1.0)
            if "shadow" in parts:
                timings.append(shadow_overhead(servers, records, args))
            if "log" in parts:
                timings.append(throughput(servers, records, args))
            if "load" in parts:
                verdicts.append(load_test(servers["B"], records, args))
        finally:
            for server in servers.values():
                server.stop()
        if "load" in parts:
            logged = rows(servers["B"].log_db, "predictions") - LOAD["before"]
            print(
                f"after a clean shutdown: {logged:,} log rows for {LOAD['answered']:,} answers "
                f"({rows(servers['B'].log_db, 'shadows'):,} shadow rows in all)"
            )
            verdicts.append(logged == LOAD["answered"] == args.load)
    if args.quick:
        verdict = "PASS" if all(verdicts) else "FAIL"
        print(f"{verdict} (--quick size: the ratio targets are judged at full size only)")
    else:
        verdict = "PASS" if all(verdicts + timings) else "FAIL"
        print(verdict)
    return 0 if verdict == "PASS" else 1


LOAD: dict[str, int] = {"before": 0, "answered": 0}


def shadow_overhead(servers: dict[str, Server], records: list[dict[str, Any]], args: Any) -> bool:
    """Open-loop p50/p99 of champion-only (A) against shadow (B), alternated rounds."""
    capacity, _, _ = asyncio.run(
        closed_loop(servers["A"].url, records, args.throughput_requests, args.concurrency)
    )
    rate = args.rate or max(5.0, args.fraction * capacity)
    lat: dict[str, list[np.ndarray]] = {"A": [], "B": []}
    cpu: dict[str, list[tuple[float, float]]] = {"A": [], "B": []}
    for r in range(args.rounds):
        for key in ("A", "B") if r % 2 == 0 else ("B", "A"):
            settle(servers["B"])
            before = cpu_split(servers[key])
            with no_client_gc():
                got = asyncio.run(open_loop(servers[key].url, records, args.latency_requests, rate))
            if np.isnan(got).any():
                raise RuntimeError(f"server {key}: {int(np.isnan(got).sum())} failed requests")
            if key == "B":
                settle(servers["B"])  # the shadow worker's CPU for this round counts here
            after = cpu_split(servers[key])
            lat[key].append(got)
            cpu[key].append(
                (
                    (after[0] - before[0]) / len(got) * 1e3,
                    (after[1] - before[1]) / len(got) * 1e3,
                )
            )

    def pct(key: str, q: float) -> list[float]:
        return [float(np.percentile(x, q)) for x in lat[key]]

    r50 = [b / a for a, b in zip(pct("A", 50), pct("B", 50), strict=True)]
    r99 = [b / a for a, b in zip(pct("A", 99), pct("B", 99), strict=True)]
    pooled = {k: np.concatenate(v) for k, v in lat.items()}
    p50 = {k: float(np.percentile(v, 50)) for k, v in pooled.items()}
    p99 = {k: float(np.percentile(v, 99)) for k, v in pooled.items()}
    app_ms = {k: statistics.median(c[0] for c in v) for k, v in cpu.items()}
    shadow_ms = statistics.median(c[1] for c in cpu["B"])
    health = httpx.get(f"{servers['B'].url}/health", timeout=10).json()["shadow"]
    print(
        f"capacity of A (closed loop)         {capacity:.0f} req/s; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"open-loop load                      {rate:.0f} req/s × {args.latency_requests} "
        f"requests, {args.rounds} rounds, order alternated"
    )
    print("champion only  p99 per round       " + " ".join(f"{x:6.1f}" for x in pct("A", 99)))
    print("shadow         p99 per round       " + " ".join(f"{x:6.1f}" for x in pct("B", 99)))
    print("shadow / champion p50 per round     " + " ".join(f"{r:.2f}×" for r in r50))
    print("shadow / champion p99 per round     " + " ".join(f"{r:.2f}×" for r in r99))
    print(
        f"pooled p50 / p99 champion only      {p50['A']:6.2f} / {p99['A']:6.2f} ms; shadow "
        f"{p50['B']:6.2f} / {p99['B']:6.2f} ms ({p50['B'] / p50['A']:.2f}× / "
        f"{p99['B'] / p99['A']:.2f}×)"
    )
    print(
        f"CPU per request (median of rounds)  app A {app_ms['A']:.2f} ms; app B "
        f"{app_ms['B']:.2f} ms + shadow worker {shadow_ms:.2f} ms "
        f"(priority {health.get('priority')}, dropped {health['dropped']})"
    )
    print(
        f"shadow overhead p99 (median)        {statistics.median(r99):6.2f}×  "
        f"(target ≤ {TARGET_SHADOW_P99}×)  p50 {statistics.median(r50):.2f}×"
    )
    return statistics.median(r99) <= TARGET_SHADOW_P99


def throughput(servers: dict[str, Server], records: list[dict[str, Any]], args: Any) -> bool:
    """Closed-loop throughput and server CPU per request: log on (A) against log off (C), and
    shadow (B) against champion only (A); the order rotates from round to round."""
    keys = ("A", "B", "C")
    rps: dict[str, list[float]] = {k: [] for k in keys}
    cpu: dict[str, list[float]] = {k: [] for k in keys}
    for r in range(args.throughput_rounds):
        for key in keys[r % 3 :] + keys[: r % 3]:
            settle(servers["B"])
            before_cpu = cpu_seconds(servers[key])
            got, answered, errors = asyncio.run(
                closed_loop(servers[key].url, records, args.throughput_requests, args.concurrency)
            )
            if errors:
                raise RuntimeError(f"server {key}: {errors} failed requests")
            if key == "B":
                settle(servers["B"])
            rps[key].append(got)
            cpu[key].append((cpu_seconds(servers[key]) - before_cpu) / answered)
    r_log = [a / c for a, c in zip(rps["A"], rps["C"], strict=True)]
    r_shadow = [b / a for a, b in zip(rps["A"], rps["B"], strict=True)]
    r_cpu = [c / a for a, c in zip(cpu["A"], cpu["C"], strict=True)]
    med = {k: statistics.median(v) for k, v in rps.items()}
    print(
        f"throughput log on / off             {med['A']:6.0f} / {med['C']:6.0f} req/s "
        f"(concurrency {args.concurrency}); shadow {med['B']:.0f} req/s"
    )
    print("log on / off per round              " + " ".join(f"{r:.2f}×" for r in r_log))
    print("shadow / champion per round         " + " ".join(f"{r:.2f}×" for r in r_shadow))
    print(
        f"server CPU per request on / off     {statistics.median(cpu['A']) * 1e3:6.2f} / "
        f"{statistics.median(cpu['C']) * 1e3:6.2f} ms → requests per CPU-second "
        f"{statistics.median(r_cpu):.2f}× (robust to other load on the machine); shadow app "
        f"+ worker {statistics.median(cpu['B']) * 1e3:.2f} ms"
    )
    print(
        f"shadow throughput ratio (median)    {statistics.median(r_shadow):6.2f}×  (reported; "
        "the worker runs at idle priority and catches up between rounds)"
    )
    print(
        f"throughput ratio (median)           {statistics.median(r_log):6.2f}×  "
        f"(target ≥ {TARGET_LOG_THROUGHPUT}×)"
    )
    return statistics.median(r_log) >= TARGET_LOG_THROUGHPUT


def load_test(server: Server, records: list[dict[str, Any]], args: Any) -> bool:
    """A bounded closed-loop load against the shadow app; zero errors expected."""
    LOAD["before"] = rows(server.log_db, "predictions")
    t_load = time.perf_counter()
    rps, answered, errors = asyncio.run(
        closed_loop(server.url, records, args.load, args.concurrency)
    )
    seconds = time.perf_counter() - t_load
    LOAD["answered"] = answered
    health = httpx.get(f"{server.url}/health", timeout=5).json()
    print(
        f"load: {args.load:,} requests in {seconds:.1f} s ({rps:.0f} req/s, concurrency "
        f"{args.concurrency}), {errors} errors; shadow requests dropped "
        f"{health['shadow']['dropped']}"
    )
    return errors == 0 and answered == args.load


if __name__ == "__main__":
    sys.exit(main())
