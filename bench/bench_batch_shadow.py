"""Batch shadow overhead: scoring a batch with the champion and one shadow version, both
outputs written to the prediction log, against the same run with the champion only.

Data: one simulated batch (default 100,000 loan applications, the simulator's numeric
features). Champion and shadow are scikit-learn logistic-regression pipelines fitted on
another simulated day. Each round times ``online.batch_shadow.score_batch`` into a fresh log
without a shadow and with one (order alternating); the ratio is with / without, median over
rounds. Target: at most 1.3x. A third run with a shadow that raises checks the champion's
outputs are unchanged and the batch still succeeds (that check decides the exit status).

    python bench/bench_batch_shadow.py [--rows 100000] [--rounds 3] [--quick]

What is timed is the library step the monitor calls (prepared input, scoring, log writes),
not the surrounding Prefect flow, whose cost is the same with and without a shadow.
"""

from __future__ import annotations

import argparse
import statistics
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


def _run(root: Path, name: str, X: pd.DataFrame, champion: Any, shadows: dict[int, Any]) -> tuple[float, Any]:
    log = LogStore(root / f"{name}.sqlite")
    start = time.perf_counter()
    out = score_batch(log, "batch-1", X, "binary", (1, champion), shadows)
    return time.perf_counter() - start, out


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
        print(f"with shadow / without (median): {ratio:.2f}x (target <= 1.3x)")
        _, base = _run(root, "base", X, champion, {})
        _, failing = _run(root, "failing", X, champion, {2: Broken()})
    same = bool(
        failing.scored
        and 2 in failing.shadow_errors
        and np.array_equal(failing.champion_scores, base.champion_scores)
    )
    print(f"failing shadow: batch scored, error recorded, champion outputs unchanged: {same}")
    if not same:
        return 1
    if not args.quick and ratio > 1.3:
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
