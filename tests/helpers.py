"""Helpers shared by tests: sequential stand-ins for what flows spread over workers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from challenger.config import CandidateConfig, Settings
from challenger.train.fit import run_fold
from challenger.train.plan import FoldOutcome, TrainingPlan, plan_training
from challenger.train.selection import CVResult, summarize


def run_jobs(plan: TrainingPlan, settings: Settings) -> tuple[FoldOutcome, ...]:
    """Run every job of the plan here, one after the other (flows run them in parallel)."""
    return tuple(
        run_fold(j, plan.X, plan.y, settings, plan.splits.strategy, plan.splits.pooled, plan.groups)
        for j in plan.jobs
    )


def cross_validate_candidate(
    candidate: CandidateConfig, X: pd.DataFrame, y: np.ndarray, settings: Settings
) -> CVResult:
    """Cross-validate one candidate here, sequentially, on the task's fold metrics.

    The strategy is the configured one; ``auto`` resolves to time_series only when the
    frame holds the ``data.timestamp`` column.
    """
    frame = X.copy()
    frame[settings.data.target] = y
    plan = plan_training(frame, settings, (candidate,))
    return summarize(plan, run_jobs(plan, settings), settings)[0]
