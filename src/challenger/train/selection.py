"""From fold outcomes to results: one CVResult per candidate, k-sensitivity, the choice of the best and its final fit."""

from __future__ import annotations

import math
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from challenger import metrics
from challenger.config import CandidateConfig, Settings
from challenger.stats import corrected_resampled_ttest
from challenger.train.folds import SplitPlan, make_splits
from challenger.train.pipeline import build_pipeline
from challenger.train.plan import FoldJob, FoldOutcome, TrainingPlan, fold_jobs
from challenger.train.scoring import fold_classes, score_fold
from challenger.train.search import search_on


@dataclass(frozen=True)
class CVResult:
    """One candidate's cross-validated scores.

    Attributes:
        candidate: Candidate name.
        estimator: Import path of its estimator.
        params: The estimator parameters of the reported estimate (the configured ones,
            plus the best searched ones).
        strategy: The resolved CV strategy (never ``auto``).
        n_splits: Folds per repetition (1 for holdout).
        fold_scores: Metric -> one score per fold (one pooled score for leave-one-out).
        fit_seconds: Seconds spent fitting and scoring every job of this candidate.
        n_repeats: Repetitions of the folds (repeated_kfold).
        search: One row per searched parameter set (params, mean and sd of each metric,
            rank), or per outer fold for nested CV; empty without a search.
        model_size_mb: Pickled size of the pipeline fitted on the first fold.
        nested: The estimate comes from nested CV (inner search, outer folds).
    """

    candidate: str
    estimator: str
    params: dict[str, Any]
    strategy: str
    n_splits: int
    fold_scores: dict[str, tuple[float, ...]]  # metric -> one score per fold
    fit_seconds: float
    n_repeats: int = 1
    search: tuple[dict[str, Any], ...] = ()
    model_size_mb: float | None = None
    nested: bool = False

    def mean(self, metric: str) -> float:
        """Mean over folds."""
        return float(np.mean(self.fold_scores[metric]))

    def std(self, metric: str) -> float:
        """Standard deviation over folds (ddof=1); NaN with a single fold or pooled score."""
        scores = self.fold_scores[metric]
        return float(np.std(scores, ddof=1)) if len(scores) > 1 else math.nan


def _fold_scores(
    outcomes: Sequence[FoldOutcome], y: np.ndarray, pooled: bool, settings: Settings
) -> dict[str, tuple[float, ...]]:
    ordered = sorted(outcomes, key=lambda o: o.fold)
    task = settings.data.task
    names = metrics.fold_metrics(task, settings.training.primary_metric)
    if pooled:
        idx = np.concatenate([o.test_index for o in ordered if o.test_index is not None])
        proba = np.concatenate([o.test_scores for o in ordered if o.test_scores is not None])
        scored = score_fold(y[idx], proba, task, names, fold_classes(y, task))
        return {m: (v,) for m, v in scored.items()}
    return {m: tuple(o.scores[m] for o in ordered) for m in names}


def summarize(
    plan: TrainingPlan,
    outcomes: Sequence[FoldOutcome],
    settings: Settings,
    k: int | None = None,
    splits: SplitPlan | None = None,
) -> tuple[CVResult, ...]:
    """One result per candidate: the best parameter set's fold scores and the search table.

    Args:
        plan: The plan the outcomes came from.
        outcomes: Outcomes of its jobs, in any order.
        settings: The configuration (primary metric).
        k: Summarise the k-sensitivity outcomes of this k instead of the main estimate.
        splits: The folds of that k-sensitivity estimate.
    """
    metric = settings.training.primary_metric
    sign = metrics.sign(metric)
    sp = splits or plan.splits
    by: dict[tuple[str, int], list[FoldOutcome]] = defaultdict(list)
    for o in outcomes:
        if o.k == k:
            by[(o.candidate, o.param_index)].append(o)
    results = []
    for c in plan.candidates:
        sets = sorted(i for (name, i) in by if name == c.name)
        if not sets:
            continue
        rows = []
        for i in sets:
            folds = _fold_scores(by[(c.name, i)], plan.y, sp.pooled, settings)
            rows.append((i, folds))
        best_i, best_folds = max(rows, key=lambda r: sign * float(np.mean(r[1][metric])))
        all_outcomes = [o for i in sets for o in by[(c.name, i)]]
        best_outcomes = sorted(by[(c.name, best_i)], key=lambda o: o.fold)
        nested = any(o.inner_score is not None for o in all_outcomes)
        table: list[dict[str, Any]] = []
        if nested:
            table = [
                {
                    "outer_fold": o.fold,
                    **{f"param.{p}": v for p, v in o.params.items()},
                    f"inner_{metric}": o.inner_score,
                    f"outer_{metric}": o.scores.get(metric),
                }
                for o in best_outcomes
            ]
        elif c.search != "none" and k is None:
            means = {i: float(np.mean(f[metric])) for i, f in rows}
            order = sorted(means, key=lambda i: -sign * means[i])
            for i, folds in rows:
                params = by[(c.name, i)][0].params
                table.append(
                    {
                        "rank": order.index(i) + 1,
                        **{f"param.{p}": v for p, v in params.items()},
                        **{
                            f"{m}_{stat}": float(fn(v))
                            for m, v in folds.items()
                            for stat, fn in (("mean", np.mean), ("std", _sd))
                        },
                    }
                )
            table.sort(key=lambda r: int(r["rank"]))
        sizes = [o.model_bytes for o in best_outcomes if o.model_bytes is not None]
        best_params = {} if nested else best_outcomes[0].params
        results.append(
            CVResult(
                candidate=c.name,
                estimator=c.estimator,
                params={**c.params, **best_params},
                strategy=sp.strategy,
                n_splits=sp.n_splits,
                fold_scores=best_folds,
                fit_seconds=float(sum(o.seconds for o in all_outcomes)),
                n_repeats=sp.n_repeats,
                search=tuple(table),
                model_size_mb=sizes[0] / 1e6 if sizes else None,
                nested=nested,
            )
        )
    return tuple(results)


def _sd(values: Sequence[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


@dataclass(frozen=True)
class KSensitivity:
    """The best candidate's estimate for one number of folds."""

    k: int
    mean: float
    std: float
    n_folds: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"k": self.k, "mean": self.mean, "std": self.std, "n_folds": self.n_folds}


def k_sensitivity_plan(
    plan: TrainingPlan, best: CVResult, settings: Settings
) -> tuple[dict[int, SplitPlan], tuple[FoldJob, ...]]:
    """The folds and jobs that re-estimate the best candidate for each configured k.

    The main estimate's k is not refitted; strategies without a number of folds (holdout,
    leave-one-out) have no k to vary and get no jobs.
    """
    ks = [k for k in settings.training.cv.k_sensitivity if k != best.n_splits]
    if not ks or plan.splits.strategy in ("holdout", "leave_one_out"):
        return {}, ()
    cand = next(c for c in plan.candidates if c.name == best.candidate)
    fixed = {cand.name: {p: v for p, v in best.params.items() if p not in cand.params}}
    splits: dict[int, SplitPlan] = {}
    jobs: list[FoldJob] = []
    for k in ks:
        sp = make_splits(
            settings.training.cv, plan.y, task=settings.data.task, seed=settings.project.seed,
            timestamps=plan.timestamps,
            groups=pd.Series(plan.groups, name=settings.training.cv.group_column)
            if plan.groups is not None else None,
            n_splits=k, strategy=plan.splits.strategy,
        )  # fmt: skip
        splits[k] = sp
        # A nested estimate is re-estimated nested: the search runs inside every fold.
        jobs += fold_jobs((cand,), sp, settings, k=k, fixed=None if best.nested else fixed)
    return splits, tuple(jobs)


def k_sensitivity(
    plan: TrainingPlan,
    best: CVResult,
    splits: dict[int, SplitPlan],
    outcomes: Sequence[FoldOutcome],
    settings: Settings,
) -> tuple[KSensitivity, ...]:
    """How the best candidate's estimate and its spread move with k (sorted by k)."""
    metric = settings.training.primary_metric
    rows = {
        best.n_splits: KSensitivity(
            best.n_splits, best.mean(metric), best.std(metric), len(best.fold_scores[metric])
        )
    }
    cand = next(c for c in plan.candidates if c.name == best.candidate)
    sub = replace(plan, candidates=(cand,))
    for k, sp in splits.items():
        (r,) = summarize(sub, outcomes, settings, k=k, splits=sp)
        rows[k] = KSensitivity(k, r.mean(metric), r.std(metric), len(r.fold_scores[metric]))
    if not settings.training.cv.k_sensitivity:
        return ()
    return tuple(rows[k] for k in sorted(rows))


def choose_best(results: tuple[CVResult, ...], metric: str) -> CVResult:
    """The candidate with the best mean CV score (ties: the first listed)."""
    sign = metrics.sign(metric)
    return max(results, key=lambda r: sign * r.mean(metric))


@dataclass(frozen=True)
class FittedModel:
    """The final fit of the chosen candidate, with what it cost."""

    model: Pipeline
    seconds: float
    peak_memory_mb: float
    params: dict[str, Any] = field(default_factory=dict)


def compare_best_with_runner_up(
    results: tuple[CVResult, ...],
    best: CVResult,
    metric: str,
    n_rows: int,
    fold_sizes: tuple[int, int] | None = None,
) -> dict[str, Any] | None:
    """Is the best candidate really better than the runner-up on the same folds?

    Uses the Nadeau–Bengio corrected resampled t-test (never the naive k-fold t-test,
    whose folds share training rows). None with a single candidate or fewer than two folds.

    Args:
        results: Every candidate's result, on the same folds.
        best: The chosen one.
        metric: The primary metric.
        n_rows: Training rows (fold sizes are derived from k without ``fold_sizes``).
        fold_sizes: Mean training and validation rows per fold, when known.
    """
    others = [r for r in results if r is not best]
    if not others or len(best.fold_scores[metric]) < 2:
        return None
    sign = metrics.sign(metric)
    runner = max(others, key=lambda r: sign * r.mean(metric))
    if len(runner.fold_scores[metric]) != len(best.fold_scores[metric]):
        return None
    k = best.n_splits
    n_train, n_test = fold_sizes or (max(1, n_rows * (k - 1) // k), max(1, n_rows // k))
    test = corrected_resampled_ttest(
        sign * np.asarray(runner.fold_scores[metric]),
        sign * np.asarray(best.fold_scores[metric]),
        n_train=n_train,
        n_test=n_test,
    )
    return {"runner_up": runner.candidate, **test.to_dict()}


def final_params(
    candidate: CandidateConfig,
    result: CVResult | None,
    plan: TrainingPlan | None,
    settings: Settings,
) -> dict[str, Any]:
    """The searched parameters of the final fit.

    Without nesting they are the CV winner's; with nested CV the search runs once more, on
    the whole training window, with the inner CV (the outer folds only estimated it).
    """
    if candidate.search == "none":
        return {}
    if result is not None and not result.nested:
        return {p: v for p, v in result.params.items() if p not in candidate.params}
    if plan is None:
        raise ValueError("nested CV needs the training plan to search on")
    best, _ = search_on(candidate, plan.X, plan.y, settings, plan.splits.strategy, plan.groups)
    return best


def fit_final(
    candidate: CandidateConfig,
    X: pd.DataFrame,
    y: np.ndarray,
    settings: Settings,
    params: dict[str, Any] | None = None,
) -> FittedModel:
    """Refit the chosen candidate on the whole training window, measuring time and peak memory.

    Peak memory is what the fit adds to the process at its highest (:func:`peak_memory_mb`).
    """
    pipe = clone(
        build_pipeline(
            candidate,
            settings.data.numeric,
            settings.data.categorical,
            settings.project.seed,
            params,
            task=settings.data.task,
            allowed_modules=settings.training.allowed_modules,
        )
    )
    with peak_memory_mb() as peak:
        t0 = time.perf_counter()
        try:
            pipe.fit(X, y)
        finally:
            seconds = time.perf_counter() - t0
    return FittedModel(pipe, seconds, peak.mb, dict(params or {}))


@dataclass
class PeakMemory:
    """The peak memory a block added, in MB (set when the block ends)."""

    mb: float = 0.0
    method: str = ""


_HWM = Path("/proc/self/clear_refs")


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024.0  # kB
    raise OSError(f"/proc/self/status has no {field}")


@contextmanager
def peak_memory_mb() -> Iterator[PeakMemory]:
    """Measure how far a block raises the process's memory at its highest.

    On Linux it is the resident set: the kernel's high-water mark (``VmHWM``) is reset
    before the block (``/proc/self/clear_refs``) and read after it, less the resident set
    at the start. That counts every allocation (native code's too: OpenMP buffers,
    XGBoost or LightGBM) and costs nothing while the block runs. Elsewhere it is the
    largest amount ``tracemalloc`` traces (Python and numpy allocations only), which
    slows a fit down, by about 60 % for a HistGradientBoosting fit on 140,000 rows.
    """
    out = PeakMemory()
    try:
        _HWM.write_text("5")
        base = _status_mb("VmRSS")
    except OSError:
        base = None
    if base is not None:
        try:
            yield out
        finally:
            out.mb, out.method = max(0.0, _status_mb("VmHWM") - base), "resident set"
        return
    already = tracemalloc.is_tracing()
    if not already:
        tracemalloc.start()
    tracemalloc.reset_peak()
    start, _ = tracemalloc.get_traced_memory()
    try:
        yield out
    finally:
        _, top = tracemalloc.get_traced_memory()
        if not already:
            tracemalloc.stop()
        out.mb, out.method = max(0, top - start) / 1e6, "tracemalloc"
