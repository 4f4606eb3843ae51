"""Orchestration overhead: the whole retrain flow against a bare scikit-learn script.

Data: 200,000 simulated loan applications with 20 features (the simulator's 12 plus 8 extra
numeric columns: 5 noise columns and 3 derived ratios, declared by the bench's own
configuration). The flow validates the data (Great Expectations), cross-validates the
candidates (5-fold time-series CV, folds as Prefect tasks), refits the best, logs and
registers it in MLflow, evaluates it against a champion on the holdout (paired bootstrap,
slices, latency, smoke test) and runs the gate. The baseline is a bare scikit-learn script
doing the same CV (same pipelines, folds and metrics) and the same final fit on the same
training rows, twice: with scikit-learn's default (folds in sequence) and with the folds as
parallel as the flow's executor (``n_jobs`` = its workers). The second is the fair one: the
flow's parallel folds are then not counted as an orchestration gain. Both are timed in this run; the ratio is printed. Target: at most 1.3x.

    python bench/bench_retrain_overhead.py [--rows 200000] [--quick]

``--quick`` runs the same code at a size that takes seconds (the test suite runs it); its
ratios are printed, not judged. The flows use ``PREFECT_API_URL`` when it is set, else a
temporary Prefect server.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
import yaml

from challenger.config import load_config
from challenger.demo.simulator import simulate_batch
from challenger.store.batches import write_table
from challenger.store.connection import create_store
from challenger.train.window import time_split

EXTRA = [f"noise_{i}" for i in range(1, 6)] + ["log_income", "loan_to_income", "credit_x_dti"]
QUICK = {"rows": 3_000, "repeats": 1, "champion_rows": 2_000}


def make_data(rows: int, day: int, seed: int) -> pd.DataFrame:
    """The simulator's batch plus 8 extra numeric columns (20 features)."""
    frame = simulate_batch(day, rows, seed)
    rng = np.random.default_rng([seed, day, 99])
    for name in EXTRA[:5]:
        frame[name] = rng.normal(0.0, 1.0, rows).round(4) * 3.0 + 10.0
    frame["log_income"] = np.log(frame["income"]).round(4)
    frame["loan_to_income"] = (frame["loan_amount"] / frame["income"]).round(4)
    frame["credit_x_dti"] = (frame["credit_score"] * frame["debt_to_income"]).round(3)
    return frame


def bench_config(folder: Path) -> Path:
    """A challenger.yaml declaring the 20 features; everything else is the default."""
    from challenger.config import DataConfig

    cfg = {
        "data": {"numeric": [*DataConfig().numeric, *EXTRA]},
        "simulator": {"rows_per_batch": 6000},
    }
    path = folder / "challenger.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def bare_sklearn(frame: pd.DataFrame, cfg_path: Path, n_jobs: int | None) -> float:
    """The same CV and final fit in plain scikit-learn: seconds.

    ``n_jobs=None`` is what a script gets by default (folds one after the other);
    ``n_jobs=workers`` runs the folds as parallel as the flow's executor does.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import TimeSeriesSplit, cross_validate
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    from sklearn.utils import all_estimators

    s = load_config(cfg_path)
    d = s.data
    t0 = time.perf_counter()
    train, _ = time_split(frame, s.training.holdout_fraction, d.timestamp, s.project.seed)
    X, y = train[list(d.features)], train[d.target].to_numpy()
    classes = dict(all_estimators(type_filter="classifier"))
    means: dict[str, float] = {}
    pipes: dict[str, Any] = {}
    for c in s.enabled_candidates():
        params = dict(c.params)
        cls: Any = classes[c.estimator.rpartition(".")[2]]
        if "random_state" in cls().get_params():
            params.setdefault("random_state", s.project.seed)
        pipe = Pipeline(
            [
                (
                    "preprocess",
                    ColumnTransformer(
                        [
                            (
                                "numeric",
                                Pipeline(
                                    [
                                        ("i", SimpleImputer(strategy="median")),
                                        ("s", StandardScaler()),
                                    ]
                                ),
                                list(d.numeric),
                            ),
                            (
                                "categorical",
                                Pipeline(
                                    [
                                        ("i", SimpleImputer(strategy="most_frequent")),
                                        (
                                            "o",
                                            OneHotEncoder(
                                                handle_unknown="ignore", sparse_output=False
                                            ),
                                        ),
                                    ]
                                ),
                                list(d.categorical),
                            ),
                        ]
                    ),
                ),
                ("model", cls(**params)),
            ]
        )
        out = cross_validate(
            pipe,
            X,
            y,
            cv=TimeSeriesSplit(n_splits=s.training.cv.n_splits),
            scoring=["roc_auc", "accuracy", "neg_log_loss", "neg_brier_score"],
            n_jobs=n_jobs,
        )
        means[c.name] = float(np.mean(out["test_roc_auc"]))
        pipes[c.name] = pipe
    best = max(means, key=means.__getitem__)
    pipes[best].fit(X, y)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--champion-rows", type=int, default=20_000, help=argparse.SUPPRESS)
    parser.add_argument(
        "--quick", action="store_true", help=f"a size that runs in seconds ({QUICK}); not judged"
    )
    args = parser.parse_args()
    if args.quick:  # explicit options still win over the quick size
        parser.set_defaults(**QUICK)
        args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
        create_store(os.environ["MLFLOW_TRACKING_URI"])  # named explicitly: created when asked
        cfg = bench_config(folder)
        champion_data = write_table(
            make_data(args.champion_rows, 0, 7), folder / "champion.parquet"
        )
        frame = make_data(args.rows, 1, 7)
        data = write_table(frame, folder / "big.parquet")

        from flows.retrain import retrain_flow

        # Not timed: the temporary Prefect server starts, imports warm up, a champion exists.
        retrain_flow(reason="bootstrap", data=str(champion_data), config=str(cfg))

        # Alternate the two, twice, and keep each one's best: other load on the machine
        # then hurts both sides alike.
        workers = load_config(cfg).training.executor.workers or os.cpu_count() or 1
        flow_s, bare_s, seq_s = [], [], []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result = retrain_flow(reason="manual", data=str(data), config=str(cfg))
            flow_s.append(time.perf_counter() - t0)
            print(f"retrain flow: {flow_s[-1]:.1f} s", flush=True)
            bare_s.append(bare_sklearn(frame, cfg, workers))
            print(f"bare scikit-learn, {workers} parallel folds: {bare_s[-1]:.1f} s", flush=True)
            seq_s.append(bare_sklearn(frame, cfg, None))
            print(f"bare scikit-learn, folds in sequence: {seq_s[-1]:.1f} s", flush=True)
        n_features = len(load_config(cfg).data.features)
    decision = result.to_dict()["decision"]
    print(
        f"retrain flow on {args.rows:,} rows x {n_features} features: best of {args.repeats} "
        f"{min(flow_s):.1f} s wall "
        f"(best {result.candidate}, CV {result.cv_strategy}, gate {decision['outcome']}: "
        f"{decision['reason'][:160]})"
    )
    print(
        f"bare scikit-learn CV + final fit on the same rows: best of {args.repeats} "
        f"{min(bare_s):.1f} s with {workers} parallel folds, {min(seq_s):.1f} s in sequence"
    )
    print(
        f"flow / bare with folds in sequence (scikit-learn's default): "
        f"{min(flow_s) / min(seq_s):.2f}x"
    )
    print(
        f"orchestration overhead (flow / bare with {workers} parallel folds, wall clock): "
        f"{min(flow_s) / min(bare_s):.2f}x (target <= 1.3x)"
        + (" (--quick size: judged at full size only)" if args.quick else "")
    )


if __name__ == "__main__":
    main()
