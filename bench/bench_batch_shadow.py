"""Batch shadow overhead: scoring a batch with the champion and one shadow version, both
outputs written to the prediction log, against the same run with the champion only.

Data: one simulated batch (default 100,000 loan applications, the simulator's numeric
features). Champion and shadow are scikit-learn logistic-regression pipelines fitted on
another simulated day. Each round times ``online.batch_shadow.score_batch`` into a fresh log
without a shadow and with one (order alternating); the ratio is with / without, median over
rounds, reported (the step alone: the shadow's scoring and its 100,000 log rows against the
champion's, so about 1.5x by construction). A third run with a shadow that raises checks the champion's
outputs are unchanged and the batch still succeeds (that check decides the exit status).

    python bench/bench_batch_shadow.py [--rows 100000] [--rounds 3] [--quick]

What is timed first is the library step the monitor calls (prepared input, scoring, log
writes). Then the monitor path itself: two models registered with ``challenger retrain`` in a
temporary project, and the monitor's check of one batch of ``--rows`` rows
(``challenger.monitor.check.check_file``: validation, acceptance, drift, concept watch,
trigger; without Prefect, whose cost is the same either way) with ``rollout.shadow.batch`` off
and on (one shadow version), each on its own copy of the store. Target: at most 1.3x.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from challenger.demo.simulator import simulate_batch
from challenger.online.batch_shadow import score_batch
from challenger.online.log import LogStore

FEATURES = ["age", "income", "loan_amount", "credit_score", "debt_to_income", "employment_years"]


class Broken:
    """A shadow version that fails on every batch."""

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        raise RuntimeError("shadow failed")


def _fit(day: int, seed: int, c: float) -> Any:
    frame = simulate_batch(day, 5_000, seed)
    return make_pipeline(StandardScaler(), LogisticRegression(C=c)).fit(
        frame[FEATURES], frame["default"]
    )


def _run(
    root: Path, name: str, X: pd.DataFrame, champion: Any, shadows: dict[int, Any]
) -> tuple[float, Any]:
    log = LogStore(root / f"{name}.sqlite")
    start = time.perf_counter()
    out = score_batch(log, "batch-1", X, "binary", (1, champion), shadows)
    return time.perf_counter() - start, out


def _monitor_pass(project: Path, batch: Path) -> float:
    """Seconds of the monitor's library check of ``batch`` in ``project`` (no Prefect)."""
    from challenger.config import load_config
    from challenger.monitor.check import check_file
    from challenger.store.registry import Registry
    from challenger.store.tracking import Tracking

    class Quiet:
        def info(self, msg: str, *args: object) -> None: ...

        def warning(self, msg: str, *args: object) -> None: ...

    settings = load_config(project / "challenger.yaml")
    start = time.perf_counter()
    stores = (Registry.from_settings(settings), Tracking.from_settings(settings))
    check_file(batch, settings, stores, "scheduled", owned=False, log=Quiet())
    return time.perf_counter() - start


def monitor_ratio(root: Path, rows: int, train_rows: int, rounds: int) -> float:
    """Median over rounds of the monitor check with one batch shadow / without."""
    import yaml

    from challenger.online.log import LogStore
    from challenger.store.registry import Registry

    base = root / "project"
    base.mkdir()
    (base / "challenger.yaml").write_text("project: {seed: 7}\n")
    cli = Path(sys.executable).with_name("challenger")
    env = {**os.environ, "DO_NOT_TRACK": "1", "GIT_PYTHON_REFRESH": "quiet"}
    for day in (0, 1):  # two registered versions: the champion and one to shadow
        data = root / f"train{day}.csv"
        simulate_batch(day, train_rows, 11 + day).to_csv(data, index=False)
        subprocess.run(
            [str(cli), "retrain", "--data", str(data), "--json"],
            cwd=base, env=env, check=True, capture_output=True,
        )  # fmt: skip
    from challenger.config import load_config

    registry = Registry.from_settings(load_config(base / "challenger.yaml"))
    champion = registry.champion()
    assert champion is not None
    other = next(v.version for v in registry.versions() if v.version != champion.version)
    batch = root / "batch.csv"
    simulate_batch(2, rows, 13).to_csv(batch, index=False)
    warm = root / "warm"
    shutil.copytree(base, warm)
    _monitor_pass(warm, batch)  # warm: first imports and GX's start-up are not the check
    ratios = []
    for r in range(rounds):
        times = {}
        order = ["without", "with"] if r % 2 == 0 else ["with", "without"]
        for name in order:
            project = root / f"{name}{r}"
            shutil.copytree(base, project)
            cfg = {"project": {"seed": 7}}
            if name == "with":
                cfg["rollout"] = {"shadow": {"batch": True, "models": [str(other)]}}
            (project / "challenger.yaml").write_text(yaml.safe_dump(cfg))
            times[name] = _monitor_pass(project, batch)
            if name == "with":
                log = LogStore(project / "data" / "predictions.db")
                if log.count("shadows") != rows:
                    raise SystemExit(f"the batch shadow wrote {log.count('shadows')} rows")
        ratios.append(times["with"] / times["without"])
        print(
            f"  monitor round {r + 1}: without shadow {times['without']:.2f}s, "
            f"with batch shadow v{other} {times['with']:.2f}s, ratio {ratios[-1]:.2f}"
        )
    return statistics.median(ratios)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows, rounds = (2_000, 1) if args.quick else (args.rows, args.rounds)
    X = simulate_batch(3, rows, 7)[FEATURES]
    champion, shadow = _fit(1, 1, 1.0), _fit(2, 2, 0.1)
    print(f"batch shadow on {rows:,} rows, {rounds} round(s)")
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for r in range(rounds):
            order = [("without", {}), ("with", {2: shadow})]
            if r % 2:
                order.reverse()
            times = {name: _run(root, f"{name}{r}", X, champion, s)[0] for name, s in order}
            ratios.append(times["with"] / times["without"])
            print(
                f"  round {r + 1}: champion only {times['without']:.2f}s, "
                f"with one shadow {times['with']:.2f}s, ratio {ratios[-1]:.2f}"
            )
        ratio = statistics.median(ratios)
        print(f"scoring step with shadow / without (median): {ratio:.2f}x (reported)")
        _, base = _run(root, "base", X, champion, {})
        _, failing = _run(root, "failing", X, champion, {2: Broken()})
        monitor = monitor_ratio(root, rows, 800 if args.quick else 5_000, rounds)
        print(
            f"monitor check with one batch shadow / without (median): {monitor:.2f}x (target <= 1.3x)"
        )
    same = bool(
        failing.scored
        and 2 in failing.shadow_errors
        and np.array_equal(failing.champion_scores, base.champion_scores)
    )
    print(f"failing shadow: batch scored, error recorded, champion outputs unchanged: {same}")
    if not same:
        return 1
    if not args.quick and monitor > 1.3:
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
