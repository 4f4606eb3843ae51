"""A request's few rows through a trained pipeline: scikit-learn's Pipeline against
``challenger.train.rows`` (the same preprocessing in numpy), measured in one run.

For each task (binary logistic regression, multiclass tree, regression ridge on the
simulator's 12 features), single-row and 20-row predictions through both, alternated in
rounds; the median of each side's per-call time and their ratio. Every answer is checked to
be equal (1e-12) before anything is timed; the script exits 1 otherwise.

    python bench/bench_rows.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from challenger.config import CandidateConfig, DataConfig
from challenger.demo.simulator import Period, simulate_batch
from challenger.train.pipeline import build_pipeline
from challenger.train.rows import RowPipeline, compile_rows

D = DataConfig()
FEATURES = [*D.numeric, *D.categorical]
TASKS = {
    "binary": ("default", "sklearn.linear_model.LogisticRegression", {"max_iter": 500}),
    "multiclass": ("grade", "sklearn.tree.DecisionTreeClassifier", {"max_depth": 6}),
    "regression": ("loss", "sklearn.linear_model.Ridge", {}),
}


def per_call_ms(call: Any, frames: list[Any]) -> float:
    t0 = time.perf_counter()
    for f in frames:
        call(f)
    return (time.perf_counter() - t0) * 1000.0 / len(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls (seconds)")
    args = parser.parse_args()
    calls, rounds = (50, 2) if args.quick else (400, 5)
    ok = True
    for task, (target, estimator, params) in TASKS.items():
        data = simulate_batch(0, 3000, 3, target=target, task=task)
        cand = CandidateConfig(name=task, estimator=estimator, params=params)
        pipe = build_pipeline(cand, D.numeric, D.categorical, 7, task=task)
        pipe.fit(data[FEATURES], data[target].to_numpy())
        fast = compile_rows(pipe)
        if not isinstance(fast, RowPipeline):
            print(f"{task}: not compiled")
            ok = False
            continue
        method = "predict" if task == "regression" else "predict_proba"
        new = simulate_batch(5, calls * 20, 9, Period(1.0, 1.0))[FEATURES]
        for size in (1, 20):
            frames = [new.iloc[i * size : (i + 1) * size] for i in range(calls)]
            same = all(
                np.allclose(getattr(fast, method)(f), getattr(pipe, method)(f), 1e-12, 0.0)
                for f in frames[:20]
            )
            ok = ok and same
            slow_ms, fast_ms = [], []
            for _ in range(rounds):
                slow_ms.append(per_call_ms(getattr(pipe, method), frames))
                fast_ms.append(per_call_ms(getattr(fast, method), frames))
            slow, quick = statistics.median(slow_ms), statistics.median(fast_ms)
            print(
                f"{task}, {size} row(s) a call: Pipeline {slow:.3f} ms, train.rows {quick:.3f} ms "
                f"-> ratio {slow / quick:.1f}x (same answers: {same})"
            )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
