"""The metric catalogue: its entries, its per-task queries, and its functions against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from challenger import metrics as M
from challenger.errors import ChallengerError, MetricError, StatisticsInputError
from challenger.problem import TASKS
from challenger.stats import metric_value

RNG = np.random.default_rng(4)
Y = RNG.integers(0, 2, 200)
P = np.clip(Y * 0.3 + RNG.random(200) * 0.7, 0, 1)


def test_catalogue_is_complete_and_oriented() -> None:
    assert set(M.for_family("classification")) == {
        "accuracy", "balanced_accuracy", "precision", "recall", "f1", "f1_macro",
        "f1_weighted", "roc_auc", "pr_auc", "log_loss", "brier",
    }  # fmt: skip
    assert set(M.for_family("regression")) == {"mse", "rmse", "mae", "mape", "r2"}
    assert set(M.for_family("ranking")) == {"mrr", "hit_rate", "ndcg", "map"}
    assert set(M.for_family("similarity")) == {"euclidean", "cosine", "levenshtein", "jaccard"}
    assert M.oriented("log_loss", 0.3) == -0.3 and M.oriented("roc_auc", 0.8) == 0.8
    with pytest.raises(MetricError, match="unknown metric 'auc'"):
        M.info("auc")


def test_binary_classification_matches_sklearn() -> None:
    labels = (P >= 0.5).astype(int)
    expected = {
        "accuracy": skm.accuracy_score(Y, labels),
        "precision": skm.precision_score(Y, labels),
        "recall": skm.recall_score(Y, labels),
        "f1": skm.f1_score(Y, labels),
        "f1_macro": skm.f1_score(Y, labels, average="macro"),
        "f1_weighted": skm.f1_score(Y, labels, average="weighted"),
        "roc_auc": skm.roc_auc_score(Y, P),
        "pr_auc": skm.average_precision_score(Y, P),
        "log_loss": skm.log_loss(Y, P),
        "brier": skm.brier_score_loss(Y, P),
    }
    for name, value in expected.items():
        assert M.classification(name, Y, P) == pytest.approx(value), name


def test_multiclass_classification() -> None:
    y = np.array(["a", "b", "c", "a", "b", "c", "a", "c"])
    proba = np.array(
        [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.4, 0.5, 0.1],
         [0.3, 0.4, 0.3], [0.2, 0.2, 0.6], [0.6, 0.3, 0.1], [0.5, 0.1, 0.4]]
    )  # fmt: skip
    classes = ("a", "b", "c")
    pred = np.array(classes)[proba.argmax(1)]
    assert M.classification("accuracy", y, proba, classes) == pytest.approx(6 / 8)
    assert M.classification("f1_macro", y, proba, classes) == pytest.approx(
        skm.f1_score(y, pred, average="macro")
    )
    assert M.classification("roc_auc", y, proba, classes) == pytest.approx(
        skm.roc_auc_score(y, proba, multi_class="ovr", labels=list(classes))
    )
    assert M.classification("log_loss", y, proba, classes) == pytest.approx(
        skm.log_loss(y, proba, labels=list(classes))
    )
    onehot = (y[:, None] == np.array(classes)).astype(float)
    assert M.classification("brier", y, proba, classes) == pytest.approx(
        np.mean(((onehot - proba) ** 2).sum(1))
    )
    with pytest.raises(MetricError, match="precision is binary; use f1_macro"):
        M.classification("precision", y, proba, classes)


def test_regression() -> None:
    y, f = np.array([1.0, 2.0, 4.0, 8.0]), np.array([1.5, 2.0, 3.0, 10.0])
    assert M.regression("mse", y, f) == pytest.approx((0.25 + 0 + 1 + 4) / 4)
    assert M.regression("rmse", y, f) == pytest.approx(np.sqrt(5.25 / 4))
    assert M.regression("mae", y, f) == pytest.approx(3.5 / 4)
    assert M.regression("mape", y, f) == pytest.approx((0.5 + 0 + 0.25 + 0.25) / 4)
    assert M.regression("r2", y, f) == pytest.approx(skm.r2_score(y, f))
    with pytest.raises(MetricError, match="mape is undefined where the target is 0"):
        M.regression("mape", [0.0, 1.0], [1.0, 1.0])


def test_ranking() -> None:
    ranked = [["a", "b", "c"], ["x", "y", "z"], ["p", "q", "r"]]
    relevant = [{"b"}, {"x", "z"}, {"nope"}]
    assert M.ranking("mrr", ranked, relevant) == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert M.ranking("hit_rate", ranked, relevant, k=1) == pytest.approx(1 / 3)
    assert M.ranking("hit_rate", ranked, relevant, k=2) == pytest.approx(2 / 3)
    ndcg_q2 = (1 + 1 / np.log2(4)) / (1 + 1 / np.log2(3))
    assert M.ranking("ndcg", ranked, relevant, k=3) == pytest.approx(
        (1 / np.log2(3) + ndcg_q2 + 0) / 3
    )
    assert M.ranking("map", ranked, relevant, k=3) == pytest.approx((0.5 + (1 + 2 / 3) / 2 + 0) / 3)


def test_similarity_of_two_models_outputs() -> None:
    assert M.similarity("euclidean", [0, 0], [3, 4]) == pytest.approx(5.0)
    assert M.similarity("cosine", [1, 0], [0, 1]) == pytest.approx(0.0)
    assert M.similarity("cosine", [1, 2], [2, 4]) == pytest.approx(1.0)
    assert M.levenshtein("kitten", "sitting") == 3
    assert M.similarity("jaccard", {"a", "b", "c"}, {"b", "c", "d"}) == pytest.approx(0.5)
    assert M.mean_similarity("levenshtein", ["abc", "x"], ["abd", "x"]) == pytest.approx(0.5)
    with pytest.raises(MetricError, match="zero vector"):
        M.cosine([0, 0], [1, 1])


# ---- the table itself -------------------------------------------------------------------------

MULTI_Y = np.array([0, 1, 2, 0, 1, 2, 0, 2, 1, 0, 2, 1])
MULTI_P = np.array(
    [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.4, 0.5, 0.1],
     [0.3, 0.4, 0.3], [0.2, 0.2, 0.6], [0.6, 0.3, 0.1], [0.5, 0.1, 0.4],
     [0.1, 0.6, 0.3], [0.7, 0.2, 0.1], [0.3, 0.3, 0.4], [0.2, 0.5, 0.3]]
)  # fmt: skip
REG_Y = RNG.uniform(1.0, 5.0, 60)
REG_F = REG_Y + RNG.normal(0, 0.5, 60)

#: scikit-learn's scorer names: "neg_" marks a loss (lower is better).
SKLEARN_SCORERS = {
    "roc_auc": "roc_auc", "pr_auc": "average_precision", "accuracy": "accuracy",
    "balanced_accuracy": "balanced_accuracy", "precision": "precision", "recall": "recall",
    "f1": "f1", "f1_macro": "f1_macro", "f1_weighted": "f1_weighted",
    "log_loss": "neg_log_loss", "brier": "neg_brier_score",
    "rmse": "neg_root_mean_squared_error", "mse": "neg_mean_squared_error",
    "mae": "neg_mean_absolute_error", "r2": "r2", "mape": "neg_mean_absolute_percentage_error",
}  # fmt: skip


def _reference(name: str, task: str) -> float:
    """The catalogue's own function of a metric on small data of a task."""
    if task == "regression":
        return M.regression(name, REG_Y, REG_F)
    if task == "binary":
        return M.classification(name, Y, P)
    return M.classification(name, MULTI_Y, MULTI_P, classes=(0, 1, 2))


def _paired(name: str, task: str) -> float:
    """The same metric as the paired statistics compute it."""
    if task == "regression":
        return metric_value(name, REG_Y, REG_F)
    if task == "binary":
        return metric_value(name, Y, P)
    return metric_value(name, MULTI_Y, MULTI_P)


def test_per_task_lists_are_queries_of_the_catalogue() -> None:
    """The lists the configuration, CV and the gate report read, in their order."""
    classification = ("roc_auc", "accuracy", "balanced_accuracy", "f1_macro", "log_loss", "brier")
    assert M.primary_metrics("binary") == classification
    assert M.primary_metrics("multiclass") == classification
    assert M.primary_metrics("regression") == ("rmse", "mse", "mae", "r2", "mape")
    assert set(M.primary_metrics()) == {*classification, "rmse", "mse", "mae", "r2", "mape"}
    assert M.fold_metrics("binary", "roc_auc") == (
        "roc_auc", "pr_auc", "accuracy", "f1", "log_loss", "brier",
    )  # fmt: skip
    assert M.fold_metrics("multiclass", "log_loss") == (
        "roc_auc", "accuracy", "f1_macro", "f1_weighted", "log_loss", "brier",
    )  # fmt: skip
    assert M.fold_metrics("regression", "rmse") == ("rmse", "mae", "r2")
    assert M.fold_metrics("binary", "balanced_accuracy")[0] == "balanced_accuracy"
    assert M.fold_metrics("regression", "mape") == ("mape", "rmse", "mae", "r2")
    assert M.secondary_metrics("binary") == ("roc_auc", "accuracy", "log_loss", "brier")
    assert M.secondary_metrics("multiclass") == (
        "accuracy", "balanced_accuracy", "f1_macro", "log_loss", "brier",
    )  # fmt: skip
    assert M.secondary_metrics("regression") == ("rmse", "mae", "r2")
    with pytest.raises(MetricError, match="unknown task 'ranking'"):
        M.primary_metrics("ranking")


@pytest.mark.parametrize("name", sorted(M.CATALOGUE))
def test_every_entry_is_consistent(name: str) -> None:
    m = M.info(name)
    assert m.name == name and m.description
    expected_tasks = {
        "classification": {"binary", "multiclass"},
        "regression": {"regression"},
        "ranking": set(),
        "similarity": set(),
    }[m.family]
    assert m.tasks <= expected_tasks
    assert bool(m.tasks) == (m.family in ("classification", "regression"))
    assert m.fold <= m.tasks and m.secondary <= m.tasks
    assert not m.secondary or m.primary  # a secondary metric gets a paired interval
    assert not m.needs_scores or m.family == "classification"


@pytest.mark.parametrize("name", sorted(SKLEARN_SCORERS))
def test_direction_agrees_with_sklearn_scorers(name: str) -> None:
    assert M.info(name).higher_is_better == (not SKLEARN_SCORERS[name].startswith("neg_"))
    assert M.sign(name) == (1.0 if M.info(name).higher_is_better else -1.0)
    assert M.oriented(name, 2.0) == M.sign(name) * 2.0


def test_sklearn_scorers_cover_every_task_metric() -> None:
    assert set(SKLEARN_SCORERS) == {n for n, m in M.CATALOGUE.items() if m.tasks}


@pytest.mark.parametrize("name", sorted(SKLEARN_SCORERS))
@pytest.mark.parametrize("task", TASKS)
def test_each_metric_is_computed_on_exactly_its_tasks(name: str, task: str) -> None:
    """``tasks``: the catalogue's function computes it there and refuses it elsewhere;
    ``primary``: the paired statistics compute the same value, and refuse the others."""
    m = M.info(name)
    if task not in m.tasks:
        with pytest.raises(MetricError):
            _reference(name, task)
        return
    value = _reference(name, task)
    assert np.isfinite(value)
    if m.primary:
        assert _paired(name, task) == pytest.approx(value, rel=1e-9)
    else:
        with pytest.raises(StatisticsInputError, match="Unknown metric"):
            _paired(name, task)


@pytest.mark.parametrize("name", M.for_family("classification"))
def test_needs_scores_means_the_value_depends_on_more_than_the_labels(name: str) -> None:
    # Reverse the order of the scores on each side of the 0.5 threshold: every hard label
    # stays the same, every ranking and probability changes.
    shuffled = np.where(P >= 0.5, 1.5 - P, 0.49 - 0.98 * P)
    assert np.array_equal(shuffled >= 0.5, P >= 0.5)
    same = M.classification(name, Y, shuffled) == pytest.approx(M.classification(name, Y, P))
    assert same is not M.info(name).needs_scores


def test_ranking_and_similarity_directions() -> None:
    """A perfect ranking beats a poor one, and a model's outputs are closest to themselves."""
    for name in M.for_family("ranking"):
        good = M.ranking(name, [["a", "b", "c"]], [{"a"}], k=2)
        poor = M.ranking(name, [["c", "b", "a"]], [{"a"}], k=2)
        assert M.oriented(name, good) > M.oriented(name, poor), name
    pairs = {
        "euclidean": ([1.0, 2.0], [3.0, 1.0]),
        "cosine": ([1.0, 2.0], [3.0, 1.0]),
        "levenshtein": ("kitten", "sitting"),
        "jaccard": ({"a", "b"}, {"b", "c"}),
    }
    assert set(pairs) == set(M.for_family("similarity"))
    for name, (a, b) in pairs.items():
        assert M.oriented(name, M.similarity(name, a, a)) > M.oriented(
            name, M.similarity(name, a, b)
        )


def test_metric_errors_are_user_errors_and_value_errors() -> None:
    with pytest.raises(MetricError) as caught:
        M.info("auc")
    assert isinstance(caught.value, ChallengerError) and isinstance(caught.value, ValueError)


def test_per_row_values_average_to_the_catalogue_metric() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200).astype(float)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 200), 0, 1)
    for name in M.per_row_metrics("binary"):
        rows = M.per_row(name, y, p)
        assert rows.shape == (200,)
        assert np.mean(rows) == pytest.approx(M.classification(name, y, p, (0, 1)))
    t, f = rng.normal(5, 2, 200), rng.normal(5, 2, 200)
    assert M.per_row_metrics("regression") == ("mse", "mae")
    for name in M.per_row_metrics("regression"):
        assert np.mean(M.per_row(name, t, f)) == pytest.approx(M.regression(name, t, f))
    y[0] = np.nan
    assert np.isnan(M.per_row("brier", y, p)[0])
    with pytest.raises(M.MetricError, match="no per-row form"):
        M.per_row("roc_auc", y, p)


def test_multiclass_per_row_values_average_to_the_catalogue_metric() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 3, 300)
    p = rng.dirichlet([1.0, 1.0, 1.0], 300)
    p[np.arange(300), y] += 0.5
    p /= p.sum(axis=1, keepdims=True)
    assert M.per_row_metrics("multiclass") == ("accuracy", "log_loss", "brier")
    for name in M.per_row_metrics("multiclass"):
        rows = M.per_row(name, y.astype(float), np.argmax(p, axis=1), proba=p)
        assert np.mean(rows) == pytest.approx(M.classification(name, y, p, (0, 1, 2)))
    missing = M.per_row("log_loss", np.array([np.nan, 1.0]), [0, 0], proba=p[:2])
    assert np.isnan(missing[0]) and np.isfinite(missing[1])
