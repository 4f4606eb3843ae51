"""What a retrain logs on its MLflow run: the trigger, one nested run per candidate, the fold plan, k-sensitivity."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from challenger.store.record import TAG
from challenger.store.tracking import Tracking
from challenger.train.plan import TrainingPlan
from challenger.train.selection import CVResult, KSensitivity

MAX_LOGGED_FOLDS = 200
TRIGGER_ARTIFACT = "trigger.json"
NO_EVIDENCE = "started from the Prefect UI / command line, no monitor evidence"


def trigger_document(trigger: str, decision: Mapping[str, Any] | None) -> dict[str, Any]:
    """Why a retrain runs, as ``trigger.json`` says it and the version's record keeps it.

    Args:
        trigger: The retrain's reason (manual, interval, data_change, ...).
        decision: What the monitor saw when it fired (``TriggerDecision.to_dict``), or what a
            caller knows; None (or without reasons) for a retrain a person started from the
            Prefect UI or the command line, which is said so in the reasons.
    """
    doc: dict[str, Any] = {"trigger": trigger, "retrain": True, "reasons": [], "evidence": {}}
    doc |= dict(decision or {})
    if not doc["reasons"]:
        doc["reasons"] = [f"{trigger} retrain {NO_EVIDENCE}"]
    doc["monitor_evidence"] = bool(doc["evidence"])
    return doc


def log_candidate(tracking: Tracking, r: CVResult) -> None:
    """On the active (nested) run: fold metrics (one step per fold), mean, sd, search table."""
    summary: dict[str, float] = {}
    for m, scores in r.fold_scores.items():
        summary[f"cv_{m}_mean"] = float(np.mean(scores))
        if len(scores) > 1:
            summary[f"cv_{m}_std"] = float(np.std(scores, ddof=1))
    summary["fit_seconds"] = r.fit_seconds
    summary["n_folds"] = float(len(next(iter(r.fold_scores.values()))))
    if r.model_size_mb is not None:
        summary["model_size_mb"] = r.model_size_mb
    tracking.log_batch(
        metrics=summary,
        series={f"cv_{m}": scores for m, scores in r.fold_scores.items()},
        params={"estimator": r.estimator, "cv_strategy": r.strategy, **r.params},
        tags={f"{TAG}candidate": r.candidate, f"{TAG}cv_nested": str(r.nested)},
    )
    if r.search:
        tracking.log_text(pd.DataFrame(list(r.search)).to_csv(index=False), "search/results.csv")
        tracking.log_dict({"rows": list(r.search)}, "search/results.json")


def log_training(
    tracking: Tracking,
    params: Mapping[str, Any],
    plan: TrainingPlan,
    results: Sequence[CVResult],
    ksens: Sequence[KSensitivity],
    metric: str,
    trigger_evidence: Mapping[str, Any] | None,
) -> None:
    """On the active retrain run: its parameters, the trigger, every candidate, plan, k-sensitivity.

    ``trigger.json`` is logged for every retrain (:func:`trigger_document`): the monitor's
    evidence when it fired, else the reason (``params["trigger"]``) and that it was started
    without monitor evidence.
    """
    tracking.log_params(params)
    trigger = str(params.get("trigger") or "manual")
    tracking.log_dict(trigger_document(trigger, trigger_evidence), TRIGGER_ARTIFACT)
    for r in results:
        with tracking.start_run(f"candidate-{r.candidate}", nested=True):
            log_candidate(tracking, r)
    tracking.log_dict(
        {
            "strategy": plan.splits.label,
            "folds": [
                {"fold": sp.index, "repeat": sp.repeat, "train_rows": len(sp.train),
                 "validation_rows": len(sp.test)}
                for sp in plan.splits.splits[:MAX_LOGGED_FOLDS]
            ],
            "leakage_warnings": [w.to_dict() for w in plan.warnings],
        },
        "cv/plan.json",
    )  # fmt: skip
    if ksens:
        tracking.log_dict(
            {"metric": metric, "rows": [k.to_dict() for k in ksens]}, "cv/k_sensitivity.json"
        )
        for k in ksens:
            ks_metrics = {f"k_sensitivity_{metric}_mean": k.mean}
            if k.n_folds > 1:
                ks_metrics[f"k_sensitivity_{metric}_std"] = k.std
            tracking.log_metrics(ks_metrics, step=k.k)
