"""Where CV folds and candidates run: a Prefect task runner chosen from configuration.

``training.executor.kind`` picks threads (the default) or processes on this machine, or a
Dask cluster through prefect-dask: ``address: tcp://scheduler:8786`` connects to an
existing scheduler, ``address: local`` starts a ``distributed.LocalCluster`` for the run
and closes it afterwards.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from challenger.config import ExecutorConfig, Settings
from challenger.train.fit import run_fold
from challenger.train.plan import FoldJob, FoldOutcome, TrainingPlan

#: Most fold tasks per submission: many tiny jobs (leave-one-out) are batched into chunks, so
#: the orchestration cost per task stays small next to the fits.
MAX_TASKS = 64


def task_runner(cfg: ExecutorConfig) -> TaskRunner[Any]:
    """A fresh, unstarted task runner for the configured executor (use it in a ``with``)."""
    if cfg.kind == "threads":
        return ThreadPoolTaskRunner(max_workers=cfg.workers or os.cpu_count() or 1)
    if cfg.kind == "processes":
        return ProcessPoolTaskRunner(max_workers=cfg.workers or os.cpu_count() or 1)
    from prefect_dask.task_runners import DaskTaskRunner

    if cfg.address == "local":
        return DaskTaskRunner(
            cluster_class="distributed.LocalCluster",
            cluster_kwargs={
                "n_workers": cfg.workers or 2,
                "threads_per_worker": 1,
                "processes": cfg.dask_processes,
                "dashboard_address": None,
            },
        )
    return DaskTaskRunner(address=cfg.address)


@task(name="cross-validate-folds", cache_policy=NO_CACHE, task_run_name="cv-{label}")
def fold_task(
    label: str,
    jobs: tuple[FoldJob, ...],
    X: Any,
    y: Any,
    settings: Settings,
    strategy: str,
    pooled: bool,
    groups: Any,
    threads: int | None = None,
) -> tuple[FoldOutcome, ...]:
    """Fit and score a chunk of fold jobs (usually one: a candidate's parameter set on a fold).

    ``threads`` caps the OpenMP/BLAS threads of each fit (None: the libraries' default).
    """
    from threadpoolctl import threadpool_limits

    with contextlib.nullcontext() if threads is None else threadpool_limits(limits=threads):
        return tuple(run_fold(j, X, y, settings, strategy, pooled, groups) for j in jobs)


def fold_threads(cfg: ExecutorConfig) -> int | None:
    """Native threads per fold on this machine: its cores shared among the parallel folds.

    Without a cap, every parallel fold of a HistGradientBoosting (or any OpenMP/BLAS model)
    starts a thread per core, so 2 folds on 2 cores run 4 threads that thrash (measured:
    5.0-6.5 s against 3.8-4.1 s for 10 folds of the default candidates on 140,000 rows).
    joblib caps its workers the same way. None for Dask: its workers are other machines
    or processes with their own settings.
    """
    if cfg.kind == "dask":
        return None
    cores = os.cpu_count() or 1
    return max(1, cores // (cfg.workers or cores))


def chunks(jobs: Sequence[FoldJob], max_tasks: int = MAX_TASKS) -> list[tuple[FoldJob, ...]]:
    """Split jobs into at most ``max_tasks`` contiguous chunks of near-equal size."""
    n = len(jobs)
    if n == 0:
        return []
    size = -(-n // max_tasks)
    return [tuple(jobs[i : i + size]) for i in range(0, n, size)]


def run_fold_jobs(
    runner: TaskRunner[Any], jobs: Sequence[FoldJob], plan: TrainingPlan, settings: Settings
) -> tuple[FoldOutcome, ...]:
    """Submit every job to the started runner and wait for all of them."""
    futures = []
    for chunk in chunks(jobs):
        label = chunk[0].label + (f"+{len(chunk) - 1}" if len(chunk) > 1 else "")
        params = {
            "label": label,
            "jobs": chunk,
            "X": plan.X,
            "y": plan.y,
            "settings": settings,
            "strategy": plan.splits.strategy,
            "pooled": plan.splits.pooled,
            "groups": plan.groups,
            "threads": fold_threads(settings.training.executor),
        }
        futures.append(runner.submit(fold_task, params))
    return tuple(o for f in futures for o in f.result())
