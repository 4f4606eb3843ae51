"""One fold job: fit a candidate's parameter set (or an inner search) on the training rows, score the validation rows."""

from __future__ import annotations

import pickle
import time

import numpy as np
import pandas as pd

from challenger import metrics
from challenger.config import Settings
from challenger.train.pipeline import build_pipeline
from challenger.train.plan import FoldJob, FoldOutcome
from challenger.train.scoring import fold_classes, pipeline_scores, score_fold
from challenger.train.search import search_on


def run_fold(
    job: FoldJob,
    X: pd.DataFrame,
    y: np.ndarray,
    settings: Settings,
    strategy: str = "kfold",
    pooled: bool = False,
    groups: np.ndarray | None = None,
) -> FoldOutcome:
    """Fit one job's pipeline on its training rows and score it on its validation rows.

    A pure function of its arguments (seeded), so any worker (thread, process or Dask
    worker) can run it. The pipeline is built fresh here, so its preprocessing only ever
    sees the fold's training rows.
    """
    d, seed = settings.data, settings.project.seed
    t0 = time.perf_counter()
    tr, te = job.split.train, job.split.test
    X_tr, y_tr = X.iloc[tr], y[tr]
    params, inner = job.params, None
    if job.nested:
        params, inner = search_on(
            job.candidate, X_tr, y_tr, settings, strategy,
            groups[tr] if groups is not None else None,
        )  # fmt: skip
    pipe = build_pipeline(
        job.candidate, d.numeric, d.categorical, seed, params, task=d.task,
        allowed_modules=settings.training.allowed_modules,
    )  # fmt: skip
    pipe.fit(X_tr, y_tr)
    classes = fold_classes(y, d.task)
    proba = pipeline_scores(pipe, X.iloc[te], d.task, classes)
    names = metrics.fold_metrics(d.task, settings.training.primary_metric)
    scores = {} if pooled else score_fold(y[te], proba, d.task, names, classes)
    size = len(pickle.dumps(pipe)) if job.split.index == 0 else None
    return FoldOutcome(
        job.candidate.name,
        job.param_index,
        job.split.index,
        job.k,
        dict(params),
        scores,
        time.perf_counter() - t0,
        size,
        inner,
        te if pooled else None,
        proba if pooled else None,
    )
