"""The latency of a model loaded back from the registry, timed as the serving app runs it.

:func:`measure_latency` gives the timed part of the gate's operational indicators
(:class:`~challenger.gate.evidence.Operational`): single-row p50 and p99 (the p99 the lowest
of :data:`LATENCY_ROUNDS` rounds', so one burst of other work cannot decide a latency
budget) and the batch time per 1,000 rows, with ``serving.model_threads`` threads.
``challenger.gate.judge`` adds the size and the training figures from the version's record.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd

from challenger.gate.evidence import Operational
from challenger.problem import predict_method

#: Rounds the single-row timings are split into; the p99 is the lowest round's.
LATENCY_ROUNDS = 3


def measure_latency(
    model: Any,
    X: pd.DataFrame,
    repeats: int,
    batch_rows: int = 1000,
    task: str = "binary",
    threads: int | None = 1,
) -> Operational:
    """Time single-row and batch predictions of a loaded model.

    Single-row latency is what an online request pays: ``repeats`` predictions of one row
    each (cycling through the holdout), in :data:`LATENCY_ROUNDS` rounds, summarised by the
    median of all and by the lowest of the rounds' p99s. Other work on the machine only ever
    adds time, so a burst of it (another process, a collection in this one) that lands in one
    round no longer decides a latency guardrail (seen: a 223 ms p99 against the champion's
    4 ms, a burst of stalled calls among 200, rejected a model during a loaded test run).
    The batch figure is the best of three predictions of up to ``batch_rows`` rows, per
    1,000 rows.

    The model is timed the way the serving app and its shadow worker call it: a pipeline of
    ``build_pipeline`` through ``challenger.train.rows`` (its preprocessing in numpy), any
    other model as it is.

    Predictions run with ``threads`` OpenMP/BLAS threads (``serving.model_threads``, as the
    serving app runs them; None: the libraries' default). Unlimited, a model such as
    HistGradientBoosting spins a thread per core on every one-row call, and its p99 then
    measures whatever else the machine is doing (seen: 10-20x the single-thread p99).
    """
    from threadpoolctl import threadpool_limits

    from challenger.train.rows import compile_rows

    if len(X) == 0:
        return Operational()
    model = compile_rows(model)
    if threads is None:
        return _time_predictions(model, X, repeats, batch_rows, task)
    with threadpool_limits(limits=threads):
        return _time_predictions(model, X, repeats, batch_rows, task)


def _time_predictions(
    model: Any, X: pd.DataFrame, repeats: int, batch_rows: int, task: str
) -> Operational:
    n = len(X)
    predict = getattr(model, predict_method(task))
    predict(X.iloc[:1])  # warm caches and lazy imports
    single = np.empty(repeats)
    for i in range(repeats):
        row = X.iloc[[i % n]]
        t0 = time.perf_counter()
        predict(row)
        single[i] = (time.perf_counter() - t0) * 1000.0
    rounds = np.array_split(single, min(LATENCY_ROUNDS, repeats))
    batch = X.iloc[: min(n, batch_rows)]
    best = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        predict(batch)
        best = min(best, time.perf_counter() - t0)
    return Operational(
        latency_p50_ms=float(np.percentile(single, 50)),
        latency_p99_ms=min(float(np.percentile(r, 99)) for r in rounds),
        batch_ms_per_1k_rows=best * 1000.0 * 1000.0 / len(batch),
    )
