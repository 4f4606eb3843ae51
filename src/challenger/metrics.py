"""The metric catalogue: one table that says, for every metric, what it is and who uses it.

Each :class:`Metric` entry gives its name, family, direction (``higher_is_better``), whether
it is computed from scores (probabilities, not hard labels), the ``data.task`` values it is
defined for, whether the gate may decide on it (``primary``: a paired bootstrap exists in
:mod:`challenger.stats`), on which tasks it is recorded on every CV fold and reported as a
secondary metric of the gate, and a one-line description. Everything that needs to know
about a metric reads it here: the configuration's check of ``training.primary_metric``, CV
and the search scorer (:mod:`challenger.train`), the statistics' validation
(:mod:`challenger.stats`), the gate's evidence and the monitoring windows. The queries
:func:`primary_metrics`, :func:`fold_metrics` and :func:`secondary_metrics` give the
per-task lists in catalogue order.

Four families:

* **classification** — ROC AUC, PR AUC (average precision), accuracy, balanced accuracy,
  precision, recall, F1 (binary, macro, weighted), log loss, Brier score. Inputs: true
  labels and, per row, either the positive-class probability (binary) or a matrix of class
  probabilities (multiclass, columns in ``classes`` order).
* **regression** — RMSE, MSE, MAE, R², MAPE.
* **ranking** — MRR, hit rate@k, NDCG@k, MAP@k over queries: each query has the ranked
  list of item ids a model returned and the set of relevant ids.
* **similarity** — Euclidean distance, cosine similarity, Levenshtein distance, Jaccard
  similarity: how close two models' outputs are when they are vectors, text or sets
  (e.g. champion vs challenger in a shadow comparison).

Ranking metrics and similarity measures apply to no ``data.task``: they compare outputs
rather than judge a model of a task. Every metric is a pure function; ``higher_is_better``
orients a difference the same way everywhere (:func:`sign`, :func:`oriented`: positive =
better).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import ArrayLike

from challenger.errors import MetricError
from challenger.problem import TASKS, Task

Family = Literal["classification", "regression", "ranking", "similarity"]


@dataclass(frozen=True)
class Metric:
    """A catalogue entry.

    Attributes:
        name: Catalogue key.
        family: classification, regression, ranking or similarity.
        higher_is_better: Orientation of the natural value (False for losses and distances).
        needs_scores: Computed from scores (predicted probabilities), not from hard labels
            (a threshold or argmax of the scores) or predictions.
        tasks: The ``data.task`` values it is defined for (none for ranking and similarity).
        primary: The gate may decide on it (``training.primary_metric``) for each of its
            tasks: :mod:`challenger.stats` has its paired bootstrap.
        fold: Tasks for which it is scored on every CV fold and recorded per candidate.
        secondary: Tasks for which the gate report gives it with a paired interval.
        per_row: Tasks for which it is a mean of per-row values (:func:`per_row`): what the
            online judges (A/B, canary) compare request by request.
        description: One line for reports.
    """

    name: str
    family: Family
    higher_is_better: bool
    needs_scores: bool
    tasks: frozenset[Task]
    primary: bool
    fold: frozenset[Task]
    secondary: frozenset[Task]
    description: str
    per_row: frozenset[Task] = frozenset()


_NONE: Final[frozenset[Task]] = frozenset()
_BINARY: Final[frozenset[Task]] = frozenset({"binary"})
_MULTICLASS: Final[frozenset[Task]] = frozenset({"multiclass"})
_CLS: Final[frozenset[Task]] = frozenset({"binary", "multiclass"})
_REG: Final[frozenset[Task]] = frozenset({"regression"})


def _entry(
    name: str,
    family: Family,
    higher: bool,
    text: str,
    *,
    scores: bool = False,
    tasks: frozenset[Task] = _NONE,
    primary: bool = False,
    fold: frozenset[Task] = _NONE,
    secondary: frozenset[Task] = _NONE,
    per_row: frozenset[Task] = _NONE,
) -> Metric:
    return Metric(name, family, higher, scores, tasks, primary, fold, secondary, text, per_row)


#: Every metric, in the order the per-task lists give them.
CATALOGUE: Final[dict[str, Metric]] = {
    m.name: m
    for m in (
        # classification
        _entry(
            "roc_auc", "classification", True,
            "area under the ROC curve (ties count half; multiclass: one-vs-rest macro average)",
            scores=True, tasks=_CLS, primary=True, fold=_CLS, secondary=_BINARY,
        ),
        _entry(
            "pr_auc", "classification", True,
            "average precision (area under the precision-recall curve)",
            scores=True, tasks=_CLS, fold=_BINARY,
        ),
        _entry(
            "accuracy", "classification", True,
            "share of rows classified correctly at the threshold (multiclass: argmax)",
            tasks=_CLS, primary=True, fold=_CLS, secondary=_CLS, per_row=_CLS,
        ),
        _entry(
            "balanced_accuracy", "classification", True,
            "mean of the recall of each class at the threshold (robust to class imbalance)",
            tasks=_CLS, primary=True, secondary=_MULTICLASS,
        ),
        _entry(
            "precision", "classification", True,
            "positive predictions that are right (binary)",
            tasks=_BINARY,
        ),
        _entry("recall", "classification", True, "positive rows found (binary)", tasks=_BINARY),
        _entry(
            "f1", "classification", True,
            "harmonic mean of precision and recall (binary)",
            tasks=_BINARY, fold=_BINARY,
        ),
        _entry(
            "f1_macro", "classification", True,
            "F1 averaged over classes at the threshold (multiclass: argmax)",
            tasks=_CLS, primary=True, fold=_MULTICLASS, secondary=_MULTICLASS,
        ),
        _entry(
            "f1_weighted", "classification", True,
            "F1 averaged over classes by support",
            tasks=_CLS, fold=_MULTICLASS,
        ),
        _entry(
            "log_loss", "classification", False,
            "mean negative log-likelihood of the labels (natural log)",
            scores=True, tasks=_CLS, primary=True, fold=_CLS, secondary=_CLS, per_row=_CLS,
        ),
        _entry(
            "brier", "classification", False,
            "mean squared error of the positive-class probability (multiclass: summed over classes)",
            scores=True, tasks=_CLS, primary=True, fold=_CLS, secondary=_CLS, per_row=_CLS,
        ),
        # regression
        _entry(
            "rmse", "regression", False, "root mean squared error",
            tasks=_REG, primary=True, fold=_REG, secondary=_REG,
        ),
        _entry(
            "mse", "regression", False, "mean squared error",
            tasks=_REG, primary=True, per_row=_REG,
        ),
        _entry(
            "mae", "regression", False, "mean absolute error",
            tasks=_REG, primary=True, fold=_REG, secondary=_REG, per_row=_REG,
        ),
        _entry(
            "r2", "regression", True, "coefficient of determination R²",
            tasks=_REG, primary=True, fold=_REG, secondary=_REG,
        ),
        _entry(
            "mape", "regression", False, "mean absolute percentage error (a share, not %)",
            tasks=_REG, primary=True,
        ),
        # ranking
        _entry("mrr", "ranking", True, "mean reciprocal rank of the first relevant item"),
        _entry("hit_rate", "ranking", True, "share of queries with a relevant item in the top k"),
        _entry("ndcg", "ranking", True, "normalised discounted cumulative gain at k"),
        _entry("map", "ranking", True, "mean average precision at k"),
        # similarity
        _entry("euclidean", "similarity", False, "Euclidean distance between two vectors"),
        _entry("cosine", "similarity", True, "cosine similarity of two vectors"),
        _entry("levenshtein", "similarity", False, "edit distance between two strings"),
        _entry("jaccard", "similarity", True, "intersection over union of two sets"),
    )
}  # fmt: skip


_RANGES: Final[dict[str, tuple[float, float]]] = {
    **dict.fromkeys(
        ("roc_auc", "pr_auc", "accuracy", "balanced_accuracy", "precision", "recall", "f1",
         "f1_macro", "f1_weighted", "hit_rate", "mrr", "ndcg", "map", "jaccard"),
        (0.0, 1.0),
    ),
    "brier": (0.0, 2.0),  # summed over classes: up to 2 for multiclass
    "r2": (-math.inf, 1.0),
    "cosine": (-1.0, 1.0),
}  # fmt: skip


def value_range(name: str) -> tuple[float, float]:
    """The values a metric can take, ``(lowest, highest)``: losses and distances are >= 0.

    Thresholds on a metric (a first-champion floor, a performance floor) must lie inside it.
    """
    return _RANGES.get(
        name, (0.0, math.inf) if not info(name).higher_is_better else (-math.inf, math.inf)
    )


def info(name: str) -> Metric:
    """The catalogue entry of a metric.

    Raises:
        MetricError: The name is not in the catalogue.
    """
    try:
        return CATALOGUE[name]
    except KeyError:
        raise MetricError(
            f"unknown metric {name!r}; the catalogue has {', '.join(sorted(CATALOGUE))}"
        ) from None


def for_family(family: Family) -> tuple[str, ...]:
    """Metric names of one family, in catalogue order."""
    return tuple(n for n, m in CATALOGUE.items() if m.family == family)


def _task(task: str) -> str:
    if task not in TASKS:
        raise MetricError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    return task


def primary_metrics(task: str | None = None) -> tuple[str, ...]:
    """The metrics the gate may decide on for a task (None: for any task), in catalogue order."""
    if task is None:
        return tuple(n for n, m in CATALOGUE.items() if m.primary)
    t = _task(task)
    return tuple(n for n, m in CATALOGUE.items() if m.primary and t in m.tasks)


def fold_metrics(task: str, primary: str) -> tuple[str, ...]:
    """The metrics scored on each CV fold: the task's fold metrics, plus the primary metric."""
    t = _task(task)
    base = tuple(n for n, m in CATALOGUE.items() if t in m.fold)
    return base if primary in base else (primary, *base)


def secondary_metrics(task: str) -> tuple[str, ...]:
    """The secondary metrics of the gate report (with paired bootstrap intervals) for a task."""
    t = _task(task)
    return tuple(n for n, m in CATALOGUE.items() if t in m.secondary)


def sign(name: str) -> float:
    """+1 where higher is better, -1 for losses: a difference times this is positive when better."""
    return 1.0 if info(name).higher_is_better else -1.0


# ---- classification ------------------------------------------------------------------------


def _labels_from(proba: np.ndarray, classes: Sequence[Any], threshold: float) -> np.ndarray:
    if proba.ndim == 1:
        return np.asarray(np.where(proba >= threshold, classes[1], classes[0]))
    return np.asarray(np.asarray(classes)[np.argmax(proba, axis=1)])


def classification(
    name: str,
    y_true: ArrayLike,
    proba: ArrayLike,
    classes: Sequence[Any] = (0, 1),
    threshold: float = 0.5,
) -> float:
    """A classification metric from predicted probabilities.

    Args:
        name: A classification metric of the catalogue.
        y_true: True labels.
        proba: Positive-class probability per row (binary), or an (n, n_classes) matrix.
        classes: Class labels in the order of ``proba``'s columns (binary: negative first).
        threshold: Binary label rule: positive when the probability is at least this.
    """
    if info(name).family != "classification":
        raise MetricError(f"{name!r} is not a classification metric")
    from sklearn import metrics as skm  # here, not at import: the catalogue loads with the config

    y = np.asarray(y_true)
    p = np.asarray(proba, dtype=float)
    binary = p.ndim == 1
    if not binary and p.shape[1] == 2 and len(classes) == 2:
        p, binary = p[:, 1], True
    labels = _labels_from(p, classes, threshold)
    pos = classes[1] if binary else None
    if name == "accuracy":
        return float(skm.accuracy_score(y, labels))
    if name == "balanced_accuracy":
        return float(skm.balanced_accuracy_score(y, labels))
    if name in ("precision", "recall", "f1"):
        if not binary:
            raise MetricError(f"{name} is binary; use f1_macro or f1_weighted for multiclass")
        fn = {"precision": skm.precision_score, "recall": skm.recall_score, "f1": skm.f1_score}[
            name
        ]
        return float(fn(y, labels, pos_label=pos, zero_division=0))
    if name in ("f1_macro", "f1_weighted"):
        avg = name.removeprefix("f1_")
        return float(skm.f1_score(y, labels, average=avg, labels=list(classes), zero_division=0))
    if name == "roc_auc":
        if binary:
            return float(skm.roc_auc_score(y == pos, p))
        return float(
            skm.roc_auc_score(y, p, multi_class="ovr", average="macro", labels=list(classes))
        )
    if name == "pr_auc":
        if binary:
            return float(skm.average_precision_score(y == pos, p))
        onehot = (y[:, None] == np.asarray(classes)[None, :]).astype(int)
        return float(skm.average_precision_score(onehot, p, average="macro"))
    if name == "log_loss":
        matrix = np.column_stack([1 - p, p]) if binary else p
        return float(skm.log_loss(y, matrix, labels=list(classes)))
    # brier: the multiclass form sums squared errors over classes (binary: positive class only)
    if binary:
        return float(np.mean(((y == pos).astype(float) - p) ** 2))
    onehot = (y[:, None] == np.asarray(classes)[None, :]).astype(float)
    return float(np.mean(np.sum((onehot - p) ** 2, axis=1)))


# ---- regression ------------------------------------------------------------------------------


def per_row_metrics(task: str) -> tuple[str, ...]:
    """The metrics that are a mean of per-row values for a task (what the online judges
    compare per request), in catalogue order: accuracy, Brier, log loss for binary and
    multiclass, MSE and MAE for a regression."""
    t = _task(task)
    return tuple(n for n, m in CATALOGUE.items() if t in m.per_row)


PER_ROW: Final = tuple(n for n, m in CATALOGUE.items() if m.per_row)
"""Every metric with a per-row form for some task (see :func:`per_row_metrics`)."""


def per_row(
    name: str,
    y_true: ArrayLike,
    score: ArrayLike,
    threshold: float = 0.5,
    proba: ArrayLike | None = None,
) -> np.ndarray:
    """Each row's value of a per-row metric (:func:`per_row_metrics`), in the metric's own
    direction: 1/0 correctness for accuracy, the squared error for Brier and MSE, the log
    loss, the absolute error for MAE.

    Args:
        name: A metric of :data:`PER_ROW`.
        y_true: The truth: 0/1, class codes (multiclass) or values.
        score: P(class 1) (binary), the prediction (regression); unused with ``proba``.
        threshold: Binary accuracy: class 1 at and above it.
        proba: Multiclass: the (n, k) class probabilities, columns in code order (accuracy
            is then the argmax's, Brier summed over classes, as :func:`classification`).

    Rows without a label or a score give NaN.

    Raises:
        MetricError: The metric is not a mean of per-row values.
    """
    if name not in PER_ROW:
        raise MetricError(f"metric {name!r} has no per-row form; use one of {', '.join(PER_ROW)}")
    y = np.asarray(y_true, dtype=float)
    if proba is not None:
        return _per_row_multiclass(name, y, np.asarray(proba, dtype=float))
    s = np.asarray(score, dtype=float)
    missing = np.isnan(y) | np.isnan(s)
    with np.errstate(invalid="ignore"):
        if name == "accuracy":
            out = ((s >= threshold).astype(float) == y).astype(float)
        elif name in ("brier", "mse"):
            out = (s - y) ** 2
        elif name == "mae":
            out = np.abs(s - y)
        else:
            p = np.clip(s, 1e-15, 1 - 1e-15)
            out = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    return np.where(missing, np.nan, out)


def _per_row_multiclass(name: str, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    if name not in ("accuracy", "brier", "log_loss"):
        raise MetricError(f"{name!r} is not a classification metric")
    n, k = p.shape if p.ndim == 2 else (len(y), 0)
    missing = np.isnan(y) | (np.isnan(p).any(axis=1) if k else True)
    missing = missing | (y < 0) | (y >= k)
    codes = np.where(missing, 0, y).astype(int)
    if not k:
        return np.full(n, np.nan)
    rows = np.arange(n)
    if name == "accuracy":
        out = (np.argmax(np.nan_to_num(p), axis=1) == codes).astype(float)
    elif name == "log_loss":
        out = -np.log(np.clip(p[rows, codes], 1e-15, 1 - 1e-15))
    else:
        onehot = np.zeros((n, k))
        onehot[rows, codes] = 1.0
        out = np.sum((onehot - p) ** 2, axis=1)
    return np.where(missing, np.nan, out)


def regression(name: str, y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """A regression metric.

    Raises:
        MetricError: Not a regression metric, or MAPE with a zero target.
    """
    if info(name).family != "regression":
        raise MetricError(f"{name!r} is not a regression metric")
    from sklearn import metrics as skm

    y = np.asarray(y_true, dtype=float)
    f = np.asarray(y_pred, dtype=float)
    err = y - f
    if name == "mse":
        return float(np.mean(err**2))
    if name == "rmse":
        return float(np.sqrt(np.mean(err**2)))
    if name == "mae":
        return float(np.mean(np.abs(err)))
    if name == "mape":
        if np.any(y == 0):
            raise MetricError("mape is undefined where the target is 0; use mae or rmse")
        return float(np.mean(np.abs(err / y)))
    return float(skm.r2_score(y, f))


# ---- ranking ---------------------------------------------------------------------------------


def _per_query(
    fn: Callable[[Sequence[Hashable], set[Hashable]], float],
    ranked: Sequence[Sequence[Hashable]],
    relevant: Sequence[Iterable[Hashable]],
) -> float:
    if len(ranked) != len(relevant) or not ranked:
        raise MetricError(
            f"ranking metrics need one relevant set per ranked list; got {len(ranked)} lists and {len(relevant)} sets"
        )
    return float(np.mean([fn(list(r), set(rel)) for r, rel in zip(ranked, relevant, strict=True)]))


def ranking(
    name: str,
    ranked: Sequence[Sequence[Hashable]],
    relevant: Sequence[Iterable[Hashable]],
    k: int = 10,
) -> float:
    """A ranking metric averaged over queries (binary relevance).

    Args:
        name: mrr, hit_rate, ndcg or map.
        ranked: Per query, the item ids in the order the model ranked them.
        relevant: Per query, the ids that are relevant.
        k: Cut-off (ignored by mrr, which reads the whole list).
    """
    if info(name).family != "ranking":
        raise MetricError(f"{name!r} is not a ranking metric")
    if k < 1:
        raise MetricError(f"k must be at least 1; got {k}")

    def mrr(r: Sequence[Hashable], rel: set[Hashable]) -> float:
        return next((1.0 / (i + 1) for i, item in enumerate(r) if item in rel), 0.0)

    def hit(r: Sequence[Hashable], rel: set[Hashable]) -> float:
        return float(any(item in rel for item in r[:k]))

    def ndcg(r: Sequence[Hashable], rel: set[Hashable]) -> float:
        dcg = sum(1.0 / math.log2(i + 2) for i, item in enumerate(r[:k]) if item in rel)
        ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(rel))))
        return dcg / ideal if ideal > 0 else 0.0

    def ap(r: Sequence[Hashable], rel: set[Hashable]) -> float:
        hits, total = 0, 0.0
        for i, item in enumerate(r[:k]):
            if item in rel:
                hits += 1
                total += hits / (i + 1)
        return total / min(k, len(rel)) if rel else 0.0

    fns = {"mrr": mrr, "hit_rate": hit, "ndcg": ndcg, "map": ap}
    return _per_query(fns[name], ranked, relevant)


# ---- similarity of two outputs -----------------------------------------------------------------


def euclidean(a: ArrayLike, b: ArrayLike) -> float:
    """Euclidean distance of two vectors of the same length."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise MetricError(f"vectors must have the same shape; got {x.shape} and {y.shape}")
    return float(np.linalg.norm(x - y))


def cosine(a: ArrayLike, b: ArrayLike) -> float:
    """Cosine similarity of two non-zero vectors, in [-1, 1]."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise MetricError(f"vectors must have the same shape; got {x.shape} and {y.shape}")
    nx, ny = np.linalg.norm(x), np.linalg.norm(y)
    if nx == 0 or ny == 0:
        raise MetricError("cosine similarity is undefined for a zero vector")
    return float(np.dot(x, y) / (nx * ny))


def levenshtein(a: str, b: str) -> int:
    """Edit distance: the fewest insertions, deletions and substitutions turning a into b."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def jaccard(a: Iterable[Hashable], b: Iterable[Hashable]) -> float:
    """Intersection over union of two sets (1.0 for two empty sets)."""
    sa, sb = set(a), set(b)
    union = sa | sb
    return 1.0 if not union else len(sa & sb) / len(union)


def similarity(name: str, a: Any, b: Any) -> float:
    """A similarity measure between two models' outputs, by catalogue name."""
    fns: dict[str, Callable[[Any, Any], float]] = {
        "euclidean": euclidean,
        "cosine": cosine,
        "levenshtein": lambda x, y: float(levenshtein(str(x), str(y))),
        "jaccard": jaccard,
    }
    if info(name).family != "similarity":
        raise MetricError(f"{name!r} is not a similarity measure")
    return fns[name](a, b)


def mean_similarity(name: str, outputs_a: Sequence[Any], outputs_b: Sequence[Any]) -> float:
    """The mean similarity of two models' outputs on the same rows."""
    if len(outputs_a) != len(outputs_b) or not outputs_a:
        raise MetricError(
            f"compare outputs on the same non-empty rows; got {len(outputs_a)} and {len(outputs_b)}"
        )
    return float(
        np.mean([similarity(name, a, b) for a, b in zip(outputs_a, outputs_b, strict=True)])
    )


def oriented(name: str, value: float) -> float:
    """The value with losses negated, so that higher is always better."""
    return sign(name) * value
