"""Parallel speed-up of cross-validation: 5-fold CV of a CPU-bound candidate, 2 workers vs 1.

Runs the same fold jobs (``challenger.train.plan.plan_training``) through the same Prefect task
runner the retrain flow uses (``flows.executor``), once with one worker and once with two,
and prints the wall-clock ratio measured in this run. Target: at least 1.6x.

    python bench/bench_cv_parallel.py [--rows 20000] [--kind threads|dask] [--quick]

``--quick`` runs the same code at a size that takes seconds (the test suite runs it); its
speed-up is printed, not judged. The flows use ``PREFECT_API_URL`` when it is set, else a
temporary Prefect server.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flows.executor import run_fold_jobs, task_runner
from prefect import flow

from challenger.config import ExecutorConfig, Settings
from challenger.demo.simulator import simulate_batch
from challenger.train.plan import plan_training
from challenger.train.selection import summarize

# CPU-bound and single-threaded inside one fold (no OpenMP, n_jobs=1): the only parallelism is
# the executor's, which is what this benchmark measures.
CANDIDATE = {
    "name": "random_forest",
    "estimator": "sklearn.ensemble.RandomForestClassifier",
    "params": {"n_estimators": 60, "min_samples_leaf": 5, "n_jobs": 1},
}
QUICK = {"rows": 2_000, "repeats": 1, "warmup_rows": 500}


@flow(name="bench-cv-parallel")
def cv_once(rows: int, kind: str, workers: int) -> tuple[float, float, float]:
    """Wall seconds of one 5-fold CV, its mean ROC AUC and the summed seconds of its folds."""
    address = "local" if kind == "dask" else None
    settings = Settings(
        training={  # type: ignore[arg-type]
            "cv": {"strategy": "stratified_kfold", "n_splits": 5},
            "executor": {"kind": kind, "workers": workers, "address": address},
            "candidates": [CANDIDATE],
        }
    )
    frame = simulate_batch(0, rows, seed=7).drop(columns=["ts"])
    plan = plan_training(frame, settings, settings.enabled_candidates())
    runner = task_runner(ExecutorConfig(kind=kind, workers=workers, address=address))  # type: ignore[arg-type]
    with runner:
        t0 = time.perf_counter()
        outcomes = run_fold_jobs(runner, plan.jobs, plan, settings)
        seconds = time.perf_counter() - t0
    (result,) = summarize(plan, outcomes, settings)
    return seconds, result.mean("roc_auc"), sum(o.seconds for o in outcomes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--kind", choices=("threads", "dask"), default="threads")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--warmup-rows", type=int, default=2_000, help=argparse.SUPPRESS)
    parser.add_argument(
        "--quick", action="store_true", help=f"a size that runs in seconds ({QUICK}); not judged"
    )
    args = parser.parse_args()
    if args.quick:  # explicit options still win over the quick size
        parser.set_defaults(**QUICK)
        args = parser.parse_args()
    cv_once(args.warmup_rows, args.kind, 2)  # warm up: the Prefect server, imports, caches
    one = min(cv_once(args.rows, args.kind, 1)[0] for _ in range(args.repeats))
    two_runs = [cv_once(args.rows, args.kind, 2) for _ in range(args.repeats)]
    two, auc, busy = min(two_runs)
    print(
        f"5-fold CV of {CANDIDATE['estimator']} on {args.rows:,} rows ({args.kind}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}): 1 worker {one:.2f} s, 2 workers {two:.2f} s; "
        f"mean ROC AUC {auc:.4f}; folds overlapped {busy / two:.2f}x with 2 workers"
    )
    judged = " (--quick size: judged at full size only)" if args.quick else ""
    print(f"parallel speed-up (2 workers vs 1): {one / two:.2f}x (target >= 1.6x){judged}")


if __name__ == "__main__":
    main()
