"""Evidence: champion and challenger scored on the same frozen holdout.

This module turns two fitted models and one holdout into the numbers the gate decides on:
the primary metric's paired bootstrap bounds, secondary metrics and cross-checks, and the
hard checks that do not need statistics (the smoke test of the registered version).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from challenger.stats import METRICS, PairedBootstrap, mcnemar_midp, metric_value, paired_bootstrap

SECONDARY = ("roc_auc", "accuracy", "log_loss", "brier")


@dataclass(frozen=True)
class Check:
    """One check of the gate, with what it saw and what it needed."""

    name: str
    passed: bool
    value: str
    threshold: str
    reason: str
    hard: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


@dataclass(frozen=True)
class Evidence:
    """What the gate sees about one champion/challenger comparison."""

    primary_metric: str
    higher_is_better: bool
    n_rows: int
    champion_version: int | None
    challenger_version: int
    challenger_value: float
    champion_value: float | None
    primary: PairedBootstrap | None
    secondary: dict[str, dict[str, float]] = field(default_factory=dict)
    cross_checks: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "primary_metric": self.primary_metric,
            "higher_is_better": self.higher_is_better,
            "holdout_rows": self.n_rows,
            "champion_version": self.champion_version,
            "challenger_version": self.challenger_version,
            "champion_value": self.champion_value,
            "challenger_value": self.challenger_value,
            "bootstrap": self.primary.to_dict() if self.primary else None,
            "secondary": self.secondary,
            "cross_checks": self.cross_checks,
        }


def positive_scores(model: Any, X: pd.DataFrame) -> np.ndarray:
    """The model's predicted probability of the positive class for each row."""
    proba = np.asarray(model.predict_proba(X), dtype=float)
    return proba[:, 1] if proba.ndim == 2 else proba


def smoke_test(
    model: Any,
    sample: pd.DataFrame,
    version: int,
    expected_columns: list[str] | None,
    own_columns: list[str] | None,
) -> Check:
    """The registered version, loaded back from the registry, predicts on a sample.

    It must return one finite probability per row, and take the same input columns as the
    champion (when there is one).
    """
    try:
        scores = positive_scores(model, sample)
    except Exception as exc:
        return Check(
            "smoke_test",
            False,
            "error",
            "predicts",
            f"v{version} loaded from the registry failed to predict: {exc}",
        )
    ok_shape = scores.shape == (len(sample),)
    ok_finite = bool(np.all(np.isfinite(scores))) and bool(np.all((scores >= 0) & (scores <= 1)))
    if not (ok_shape and ok_finite):
        return Check(
            "smoke_test",
            False,
            f"shape {scores.shape}",
            f"({len(sample)},) in [0, 1]",
            f"v{version} returned {scores.shape} scores, not one probability per row",
        )
    if (
        expected_columns is not None
        and own_columns is not None
        and sorted(expected_columns) != sorted(own_columns)
    ):
        missing = sorted(set(expected_columns) - set(own_columns))
        extra = sorted(set(own_columns) - set(expected_columns))
        return Check(
            "smoke_test",
            False,
            "schema differs",
            "champion's input schema",
            f"v{version}'s input schema differs from the champion's (missing {missing}, extra {extra})",
        )
    return Check(
        "smoke_test",
        True,
        f"{len(sample)} rows",
        "finite probabilities, champion's schema",
        f"v{version} loaded back from the registry and scored {len(sample)} rows with the champion's input schema",
    )


def gather_evidence(
    y: np.ndarray,
    challenger_scores: np.ndarray,
    champion_scores: np.ndarray | None,
    *,
    primary_metric: str,
    champion_version: int | None,
    challenger_version: int,
    confidence: float,
    n_resamples: int,
    seed: int,
) -> Evidence:
    """Score both models' predictions on the same holdout rows.

    Args:
        y: Holdout labels (0/1).
        challenger_scores: The challenger's positive-class probabilities on the holdout.
        champion_scores: The champion's, on the same rows; None when there is no champion.
        primary_metric: The metric the gate decides on.
        champion_version, challenger_version: Registry versions, for the record.
        confidence: One-sided confidence level of the bootstrap bounds.
        n_resamples: Paired bootstrap resamples.
        seed: Bootstrap seed.
    """
    y = np.asarray(y)
    higher = METRICS[primary_metric].higher_is_better
    secondary: dict[str, dict[str, float]] = {}
    for m in SECONDARY:
        row = {"challenger": metric_value(m, y, challenger_scores)}
        if champion_scores is not None:
            row["champion"] = metric_value(m, y, champion_scores)
        secondary[m] = row
    chal_value = (
        secondary[primary_metric]["challenger"]
        if primary_metric in secondary
        else metric_value(primary_metric, y, challenger_scores)
    )
    if champion_scores is None:
        return Evidence(
            primary_metric,
            higher,
            len(y),
            None,
            challenger_version,
            chal_value,
            None,
            None,
            secondary,
        )
    champ_value = metric_value(primary_metric, y, champion_scores)
    boot = paired_bootstrap(
        primary_metric,
        y,
        champion_scores,
        challenger_scores,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=seed,
    )
    correct_champ = (champion_scores >= 0.5) == (y == 1)
    correct_chal = (challenger_scores >= 0.5) == (y == 1)
    mc = mcnemar_midp(correct_champ, correct_chal)
    cross = {
        "mcnemar_midp": {
            "champion_only_correct": mc.b,
            "challenger_only_correct": mc.c,
            "p_value": mc.p_value,
        }
    }
    return Evidence(
        primary_metric,
        higher,
        len(y),
        champion_version,
        challenger_version,
        chal_value,
        champ_value,
        boot,
        secondary,
        cross,
    )
