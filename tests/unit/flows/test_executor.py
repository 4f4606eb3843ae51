"""The task runner chosen from training.executor, and how fold jobs are chunked."""

from __future__ import annotations

import numpy as np
import pytest
from flows.executor import chunks, fold_threads, task_runner
from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner
from prefect_dask import DaskTaskRunner

from challenger.config import CandidateConfig, ExecutorConfig
from challenger.train.folds import Split
from challenger.train.plan import FoldJob

LR = CandidateConfig(name="lr", estimator="sklearn.linear_model.LogisticRegression")


def test_runner_follows_the_configuration() -> None:
    threads = task_runner(ExecutorConfig(workers=3))
    assert isinstance(threads, ThreadPoolTaskRunner) and threads._max_workers == 3
    assert isinstance(
        task_runner(ExecutorConfig(kind="processes", workers=2)), ProcessPoolTaskRunner
    )
    local = task_runner(
        ExecutorConfig(kind="dask", address="local", workers=2, dask_processes=False)
    )
    assert isinstance(local, DaskTaskRunner)
    assert local.cluster_kwargs["n_workers"] == 2 and local.cluster_kwargs["processes"] is False
    remote = task_runner(ExecutorConfig(kind="dask", address="tcp://10.0.0.5:8786"))
    assert isinstance(remote, DaskTaskRunner) and remote.address == "tcp://10.0.0.5:8786"


def test_many_small_jobs_are_chunked() -> None:
    split = Split(0, np.arange(3), np.arange(3, 4))
    jobs = [FoldJob(LR, 0, {}, split) for _ in range(130)]
    parts = chunks(jobs, max_tasks=64)
    assert (
        len(parts) == 44 and max(len(p) for p in parts) == 3 and sum(len(p) for p in parts) == 130
    )
    assert [len(p) for p in chunks(jobs[:10])] == [1] * 10
    assert chunks([]) == []


def test_parallel_folds_share_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    from challenger.config import ExecutorConfig

    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert fold_threads(ExecutorConfig()) == 1  # 8 folds at once, one native thread each
    assert fold_threads(ExecutorConfig(workers=2)) == 4
    assert fold_threads(ExecutorConfig(kind="processes", workers=3)) == 2
    assert fold_threads(ExecutorConfig(workers=16)) == 1
    assert fold_threads(ExecutorConfig(kind="dask", address="local")) is None
