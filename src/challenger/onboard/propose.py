"""A configuration fitted to a profiled table: what ``challenger init`` writes.

Every choice is sized to the rows available and explained in the comment it is written with:

* the **metric** follows the task: ROC AUC for classification, RMSE for a regression;
* the **candidates** follow the size: below :data:`SMALL_ROWS` training rows, cheap and
  regularised models (a logistic regression or ridge, a random forest with leaves of a few
  rows); above, histogram gradient boosting beside the linear model;
* the **CV** fits the data: ``auto`` (time-series folds when there is a timestamp), with as
  many folds as the rarest class allows;
* the **gate** can decide on this file: the holdout share leaves enough rows, the minimum
  holdout is what the file gives, the first-champion floor is in the metric's direction
  (ROC AUC 0.6; RMSE: the error of always predicting the mean), and the regression margins
  are in the target's units (shares of its standard deviation);
* **validation** ranges are the observed values padded by :data:`RANGE_PAD` of their width,
  and the null share tolerated is what the file has, with room.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from challenger.onboard.profile import Profile, nice_bounds
from challenger.onboard.write import Document, Node

SMALL_ROWS = 2_000
"""Below this many training rows, candidates are cheap, regularised models."""
RANGE_PAD = 0.25
"""Validation ranges: the observed range widened by this share of its width on each side."""


@dataclass(frozen=True)
class Sizes:
    """The numbers the proposal is sized by."""

    rows: int
    holdout_fraction: float
    holdout_rows: int
    train_rows: int
    n_splits: int
    min_holdout_rows: int
    min_batch_rows: int
    window_rows: int


def sizes(profile: Profile) -> Sizes:
    """Holdout, folds and minimums for the labelled rows of ``profile``."""
    n = profile.target.labelled
    fraction = 0.3 if n < 2_000 else 0.2 if n < 50_000 else 0.1
    holdout = max(1, round(n * fraction))
    train = n - holdout
    if profile.target.smallest_class is not None:
        # Stratified folds need every class in every fold: the rarest class caps k.
        per_class = profile.target.smallest_class * (1 - fraction) * 0.6
        k = max(2, min(5, int(per_class)))
    else:
        k = 3 if train >= 100_000 else 5
    return Sizes(
        rows=n,
        holdout_fraction=fraction,
        holdout_rows=holdout,
        train_rows=train,
        n_splits=k,
        min_holdout_rows=max(20, min(200, holdout)),
        min_batch_rows=min(50, max(10, n // 10)),
        window_rows=max(20, min(500, n // 5)),
    )


def model_name_of(path: Path) -> str:
    """A registered-model name from a file name: ``Breast Cancer.csv`` -> ``breast-cancer``."""
    name = "".join(ch if ch.isalnum() else "-" for ch in path.stem.lower())
    name = "-".join(part for part in name.split("-") if part)
    return name or "model"


def _sig(x: float, digits: int = 2, up: bool = True) -> float:
    """``x`` rounded to ``digits`` significant digits (up or to nearest)."""
    if x == 0 or not math.isfinite(x):
        return 0.0
    d = digits - math.floor(math.log10(abs(x))) - 1
    scale = 10.0**d
    return float(round((math.ceil(x * scale) if up else round(x * scale)) / scale, max(d, 0)))


_CANDIDATES: dict[str, dict[str, tuple[str, str, dict[str, float | int]]]] = {
    # role -> (name, estimator, params), per kind of target
    "regression": {
        "linear": ("ridge", "sklearn.linear_model.Ridge", {"alpha": 1.0}),
        "forest": (
            "random_forest",
            "sklearn.ensemble.RandomForestRegressor",
            {"n_estimators": 100, "min_samples_leaf": 3},
        ),
        "boost": (
            "gradient_boosting",
            "sklearn.ensemble.HistGradientBoostingRegressor",
            {"max_iter": 200, "learning_rate": 0.1},
        ),
        "baseline": ("shallow_tree", "sklearn.tree.DecisionTreeRegressor", {"max_depth": 2}),
    },
    "classification": {
        "linear": (
            "logistic_regression",
            "sklearn.linear_model.LogisticRegression",
            {"C": 1.0, "max_iter": 1000},
        ),
        "forest": (
            "random_forest",
            "sklearn.ensemble.RandomForestClassifier",
            {"n_estimators": 100, "min_samples_leaf": 2},
        ),
        "boost": (
            "gradient_boosting",
            "sklearn.ensemble.HistGradientBoostingClassifier",
            {"max_iter": 150, "learning_rate": 0.1, "max_leaf_nodes": 15},
        ),
        "baseline": ("shallow_tree", "sklearn.tree.DecisionTreeClassifier", {"max_depth": 2}),
    },
}
"""The candidates init proposes, by role, for a regression and for a classification target."""


def _candidates(profile: Profile, sz: Sizes) -> tuple[Node, str]:
    small = sz.train_rows < SMALL_ROWS
    table = _CANDIDATES["regression" if profile.target.task == "regression" else "classification"]
    linear, forest, boost, baseline = (
        dict[str, object](name=n, estimator=e, params=dict(p))
        for n, e, p in (table[r] for r in ("linear", "forest", "boost", "baseline"))
    )
    baseline["enabled"] = False
    if small:
        chosen = (
            (linear, "regularised linear model: the safe choice on few rows"),
            (forest, "a forest with leaves of a few rows: non-linear, hard to overfit"),
        )
        why = f"{sz.train_rows} training rows (< {SMALL_ROWS:,}): cheap, regularised models"
    else:
        chosen = (
            (boost, "histogram gradient boosting: strong on tabular data of this size"),
            (linear, "a regularised linear model to compare it with"),
        )
        why = f"{sz.train_rows:,} training rows: boosting beside a linear model"
    items = (
        *chosen,
        (baseline, "a cheap model, trained only when named: --candidate shallow_tree"),
    )
    return Node("candidates", comment=why, items=items), why


def propose(profile: Profile, data_path: Path) -> Document:
    """The commented configuration for ``profile`` (the table at ``data_path``)."""
    tp, sz = profile.target, sizes(profile)
    task, regression = tp.task, tp.task == "regression"
    metric = "rmse" if regression else "roc_auc"
    name = model_name_of(data_path)
    numeric, categorical = profile.names("numeric"), profile.names("categorical")
    ids, stamps = profile.names("id"), profile.names("timestamp")
    ignored = profile.ignored

    def described(cols: tuple[str, ...]) -> tuple[tuple[Any, str], ...]:
        return tuple((c, profile.column(c).why) for c in cols)

    project = Node(
        "project",
        children=(
            Node(
                "model_name", name, "registered model in the MLflow registry (from the file name)"
            ),
            Node("experiment", name, "MLflow experiment holding its monitor and retrain runs"),
            Node("seed", 7, "every random choice (splits, folds, bootstrap) derives from it"),
        ),
    )
    data = Node(
        "data",
        comment=f"{profile.rows} rows, {len(profile.columns) + 1} columns profiled",
        children=(
            Node("task", task, f"from the target: {tp.why}"),
            Node("target", tp.name, _target_comment(profile)),
            Node(
                "timestamp",
                stamps[0] if stamps else None,
                profile.column(stamps[0]).why + ": the holdout is the newest rows"
                if stamps
                else "no date column: the holdout is a seeded random share",
            ),
            Node(
                "id_column",
                ids[0] if ids else None,
                profile.column(ids[0]).why + " (must stay unique in a batch)"
                if ids
                else "no id column (unique, named like an id); labels arriving later need one",
            ),
            Node("numeric", comment=f"{len(numeric)} numeric feature(s)", items=described(numeric)),
            Node(
                "categorical",
                comment=f"{len(categorical)} categorical feature(s)",
                items=described(categorical),
            ),
        ),
    )
    nulls = max((profile.column(c).null_share for c in numeric + categorical), default=0.0)
    max_null = 0.0 if nulls == 0 else min(1.0, _sig(nulls * 1.5 + 0.02))
    ranges = tuple(
        Node(
            c,
            list(nice_bounds(col.low, col.high, col.integer, RANGE_PAD)),
            f"seen {col.low:.4g} .. {col.high:.4g}",
        )
        for c in numeric
        if (col := profile.column(c)).low is not None and col.high is not None
    )
    validation = Node(
        "validation",
        comment="Great Expectations suite; allowed categories come from the champion's data",
        children=(
            Node(
                "max_null_fraction",
                max_null,
                "no feature has a missing value here"
                if nulls == 0
                else f"largest share of missing values in a feature here: {nulls:.1%}, with room",
            ),
            Node("min_rows", sz.min_batch_rows, "a batch with fewer rows is refused"),
            Node("allow_new_categories", False, "a category the champion never saw: quarantine"),
            Node(
                "allow_extra_columns",
                bool(ignored),
                "this file has columns the configuration ignores ("
                + ", ".join(c.name for c in ignored[:6])
                + (", ..." if len(ignored) > 6 else "")
                + "), so batches may carry them"
                if ignored
                else "a column nobody declared is a schema change: quarantine",
            ),
            Node(
                "ranges",
                comment=f"observed range widened by {RANGE_PAD:.0%} of its width "
                "(never below 0 for a column that never is)",
                children=ranges,
            ),
        ),
    )
    std = tp.std or 0.0
    perf_margin = _sig(0.05 * std) if regression else 0.03
    triggers = Node(
        "triggers",
        comment="when to retrain; `challenger retrain` always does",
        children=(
            Node(
                "performance",
                comment="the champion's metric on recent labelled windows",
                children=(
                    Node("floor", None, "no absolute floor; the margin below is relative"),
                    Node(
                        "margin",
                        perf_margin,
                        f"a window breaches when {metric} is worse than the champion's holdout "
                        + ("value by 5 % of the target's sd" if regression else "value by this"),
                    ),
                    Node("window_rows", sz.window_rows, "labelled rows per window (a fifth of this file, at most 500)"),
                    Node("windows", 3, "retrain when `breaches` of the last `windows` windows breach"),
                    Node("breaches", 2),
                ),
            ),
        ),
    )  # fmt: skip
    candidates, _ = _candidates(profile, sz)
    training = Node(
        "training",
        children=(
            Node(
                "holdout_fraction",
                sz.holdout_fraction,
                f"{sz.holdout_rows} of {sz.rows} rows judge champion against challenger",
            ),
            Node(
                "primary_metric",
                metric,
                "root mean squared error, lower is better"
                if regression
                else "ROC AUC" + (" (one-vs-rest, macro)" if task == "multiclass" else ""),
            ),
            Node(
                "cv",
                children=(
                    Node(
                        "strategy",
                        "auto",
                        "time_series (the timestamp is set)"
                        if stamps
                        else "kfold"
                        if regression
                        else "stratified_kfold",
                    ),
                    Node(
                        "n_splits",
                        sz.n_splits,
                        f"folds over {sz.train_rows} training rows"
                        + (
                            f"; the rarest class has {tp.smallest_class} rows"
                            if tp.smallest_class is not None
                            else ""
                        ),
                    ),
                ),
            ),
            candidates,
        ),
    )
    if regression:
        floor = _sig(std * math.sqrt(1 + 1 / max(1, sz.train_rows)), 3)
        floor_note = (
            f"the RMSE of always predicting the mean ({std:.4g}): a first model must beat it"
        )
        min_imp, margin = _sig(0.005 * std), _sig(0.02 * std)
        units = "in the target's units: 0.5 % of its standard deviation"
        margin_note = "non-inferiority margin: 2 % of the target's standard deviation"
    else:
        floor, floor_note = 0.6, "a first model needs ROC AUC >= 0.6 to become champion"
        min_imp, margin = 0.002, 0.01
        units = "smallest ROC AUC gain worth shipping (README: is the gate calibrated?)"
        margin_note = "non-inferiority margin in ROC AUC"
    gate = Node(
        "gate",
        children=(
            Node("rule", "superiority", "promote when the lower bound of the gain > min_improvement"),
            Node("min_improvement", min_imp, units),
            Node("margin", margin, margin_note),
            Node("confidence", 0.95, "one-sided"),
            Node("n_resamples", 2000, "paired bootstrap resamples"),
            Node("min_holdout_rows", sz.min_holdout_rows, f"this file gives {sz.holdout_rows} holdout rows"),
            Node("first_champion_floor", floor, floor_note),
            Node("slices", (), "none; e.g. [{column: C}] for a categorical column no group of which may regress"),
        ),
    )  # fmt: skip
    rollout = Node(
        "rollout",
        comment="online comparison (`challenger serve`, binary models only)",
        children=(
            Node("ab", children=(Node("experiment", f"{name}-ab", "A/B assignment salt"),)),
            Node(
                "canary",
                children=(Node("experiment", f"{name}-canary", "canary assignment salt"),),
            ),
        ),
    )
    header = (
        f"challenger configuration for {data_path.name}, written by `challenger init`.",
        "Every key below was chosen from the data; the comment says why. Keys not written here",
        "keep their defaults (the repository's challenger.yaml documents every key); unknown",
        "keys are errors. Relative paths resolve against this file's folder; the MLflow store",
        "is mlflow/mlflow.db beside it. Environment overrides: CHALLENGER_<SECTION>__<KEY>.",
    )
    footer = tuple(f"ignored: {c.name} — {c.why}" for c in ignored)
    return Document(
        header,
        (project, data, validation, triggers, training, gate, rollout),
        footer=(("Columns left out:", *footer) if footer else ()),
    )


def _target_comment(profile: Profile) -> str:
    tp = profile.target
    if tp.classes is not None:
        shown = ", ".join(map(str, tp.classes[:6])) + (", ..." if len(tp.classes) > 6 else "")
        return f"{len(tp.classes)} classes ({shown}); the rarest has {tp.smallest_class} rows"
    return f"numbers with standard deviation {tp.std:.4g}"
