"""Leakage guards: checks that refuse or warn, naming the column, before any training.

Cross-validated numbers are only as good as the separation between what a model learns
from and what it is scored on. These guards look for the usual ways that separation
breaks: a feature that is (nearly) the target, validation rows that also sit in the
training rows, time-series folds that validate on the past, and features that were
standardised over the whole window before the split (preprocessing outside the CV; the
candidates' own preprocessing lives inside their Pipeline and is refitted per fold).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from challenger.config import LeakageConfig
from challenger.errors import LeakageError
from challenger.problem import is_classification
from challenger.train.folds import SplitPlan, instants


@dataclass(frozen=True)
class Finding:
    """One suspected leak."""

    guard: str  # target_copy | duplicates | temporal | preprocessed
    column: str
    action: str  # refuse | warn
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


def _correlation_ratio(v: np.ndarray, labels: np.ndarray) -> float:
    """η: how much of a numeric feature's variance the class explains (1 for a copy)."""
    codes, _ = pd.factorize(labels)
    total = float(np.sum((v - v.mean()) ** 2))
    if total == 0.0:
        return 0.0
    counts = np.bincount(codes)
    means = np.bincount(codes, weights=v) / np.maximum(counts, 1)
    between = float(np.sum(counts * (means - v.mean()) ** 2))
    return float(np.sqrt(between / total))


def _rank_auc(positive: np.ndarray, v: np.ndarray) -> float:
    """ROC AUC of ``v`` for the ``positive`` rows, ties counting half (``roc_auc_score``'s
    value), from average ranks: one sort instead of a whole ROC curve."""
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    rank_sum = float(rankdata(v)[positive].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _association(x: pd.Series, y: np.ndarray, task: str) -> float:
    """How well one feature alone reproduces the target, in [0, 1]."""
    values = x.to_numpy()
    if x.dtype.kind in "biuf":
        v = values.astype(float)
        ok = np.isfinite(v)
        v, t = v[ok], y[ok]
        if v.size < 3 or np.ptp(v) == 0:
            return 0.0
        if task == "binary" and t.min() != t.max():  # both classes (at most two values)
            return abs(2.0 * _rank_auc(t == np.max(t), v) - 1.0)
        if task == "multiclass":
            return _correlation_ratio(v, t)
        if np.ptp(t.astype(float)) == 0:
            return 0.0
        return float(abs(np.corrcoef(v, t.astype(float))[0, 1]))
    # Categorical: the share of rows its per-category majority label gets right, beyond the
    # base rate, with many distinct categories (an id) not counted as a copy.
    frame = pd.DataFrame({"x": x.astype(str).to_numpy(), "y": y})
    n_cat = frame["x"].nunique()
    if not is_classification(task) or n_cat > max(20, len(frame) // 20):
        return 0.0
    # Rows of each category's most frequent label, summed over the categories.
    majority = frame.groupby(["x", "y"]).size().groupby(level=0).max().sum() / len(frame)
    base = frame["y"].value_counts().iloc[0] / len(frame)
    if base >= 1.0:
        return 0.0
    return float(max(0.0, (majority - base) / (1.0 - base)))


def target_copy(X: pd.DataFrame, y: np.ndarray, task: str, cfg: LeakageConfig) -> list[Finding]:
    """Features that alone reproduce the target at or above ``max_target_association``."""
    if cfg.target_copy == "off":
        return []
    found = []
    for col in X.columns:
        a = _association(X[col], y, task)
        if a >= cfg.max_target_association:
            found.append(
                Finding(
                    "target_copy",
                    str(col),
                    cfg.target_copy,
                    f"feature {col!r} alone reproduces the target (association {a:.3f} >= "
                    f"training.leakage.max_target_association={cfg.max_target_association:g}); "
                    "it is probably derived from the label: drop it from data.numeric/data.categorical",
                )
            )
    return found


def duplicates(X: pd.DataFrame, plan: SplitPlan, cfg: LeakageConfig) -> list[Finding]:
    """Validation rows whose every feature equals a training row of the same fold."""
    if cfg.duplicates == "off" or plan.pooled:
        return []
    hashes = pd.util.hash_pandas_object(X, index=False).to_numpy()
    worst: tuple[float, int, int] | None = None
    for s in plan.splits:
        dup = int(np.isin(hashes[s.test], hashes[s.train]).sum())
        share = dup / max(1, len(s.test))
        if share > cfg.max_duplicate_share and (worst is None or share > worst[0]):
            worst = (share, dup, s.index)
    if worst is None:
        return []
    share, dup, fold = worst
    cols = ", ".join(map(str, X.columns))
    return [
        Finding(
            "duplicates",
            cols,
            cfg.duplicates,
            f"{dup} validation rows of fold {fold} ({share:.1%}) duplicate training rows on every "
            f"feature column ({cols}), above training.leakage.max_duplicate_share={cfg.max_duplicate_share:g}; "
            "deduplicate the data or use group_kfold on the entity the duplicates share",
        )
    ]


def temporal(timestamps: pd.Series | None, plan: SplitPlan, cfg: LeakageConfig) -> list[Finding]:
    """Folds whose validation rows are older than some of their training rows.

    A time-ordered strategy (time_series, a timestamped holdout) that breaks this is always
    refused: it would be a bug. A shuffled strategy on timestamped data validates on the
    past by design; ``training.leakage.temporal`` decides whether that warns or refuses.
    """
    if timestamps is None or plan.pooled:
        return []
    ts = instants(timestamps)
    tz = (
        "UTC" if isinstance(pd.to_datetime(timestamps.iloc[:1]).dtype, pd.DatetimeTZDtype) else None
    )
    col = str(timestamps.name)
    for s in plan.splits:
        t_max, v_min = ts[s.train].max(), ts[s.test].min()
        if v_min < t_max:
            action = "refuse" if plan.time_ordered else cfg.temporal
            if action == "off":
                return []
            return [
                Finding(
                    "temporal",
                    col,
                    action,
                    f"fold {s.index} of {plan.strategy} validates on rows from {pd.Timestamp(v_min, tz=tz)} while "
                    f"training on rows up to {pd.Timestamp(t_max, tz=tz)} ({col!r}): validating on the past; "
                    "use training.cv.strategy time_series (or auto)",
                )
            ]
    return []


def preprocessed(X: pd.DataFrame, numeric: tuple[str, ...], cfg: LeakageConfig) -> list[Finding]:
    """Numeric features already standardised (mean 0, sd 1) over the whole window.

    Scaling before the split lets every fold see statistics of its validation rows; the
    candidates' Pipelines scale inside each fold instead.
    """
    if cfg.preprocessed == "off" or len(X) < 30:
        return []
    found = []
    for col in numeric:
        v = pd.to_numeric(X[col], errors="coerce").to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if v.size < 30 or np.unique(v).size < 3:
            continue
        if abs(v.mean()) < 1e-6 and abs(v.std() - 1.0) < 1e-3:
            found.append(
                Finding(
                    "preprocessed",
                    col,
                    cfg.preprocessed,
                    f"numeric feature {col!r} has mean 0 and standard deviation 1 over the whole "
                    "training window: it looks standardised before the split; pass raw values, the "
                    "candidates scale inside each fold",
                )
            )
    return found


def check_leakage(
    X: pd.DataFrame,
    y: np.ndarray,
    plan: SplitPlan,
    cfg: LeakageConfig,
    *,
    task: str,
    numeric: tuple[str, ...],
    timestamps: pd.Series | None,
) -> tuple[Finding, ...]:
    """Run every guard; refuse on the first finding whose action is ``refuse``.

    Returns:
        The findings that only warn (to log and record with the run).

    Raises:
        LeakageError: A guard configured to refuse fired; the message names the column.
    """
    findings = (
        target_copy(X, y, task, cfg)
        + temporal(timestamps, plan, cfg)
        + duplicates(X, plan, cfg)
        + preprocessed(X, numeric, cfg)
    )
    for f in findings:
        if f.action == "refuse":
            hint = (
                ""
                if f.guard == "temporal" and plan.time_ordered
                else f" (or set training.leakage.{f.guard}: warn to accept it)"
            )
            raise LeakageError(
                f"leakage guard {f.guard} refused the training data: {f.message}{hint}"
            )
    return tuple(f for f in findings if f.action == "warn")
