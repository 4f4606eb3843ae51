"""The metric catalogue against scikit-learn and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from challenger import metrics as M
from challenger.errors import ChallengerError, MetricError

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


def test_gate_and_cv_share_one_catalogue() -> None:
    """Every metric the gate can decide on is defined once, with one orientation."""
    from challenger.problem import FOLD_METRICS, GATE_METRICS, SECONDARY_METRICS
    from challenger.stats import METRICS, metric_task_support

    for task, names in GATE_METRICS.items():
        assert all(task in metric_task_support(n) for n in (*names, *SECONDARY_METRICS[task]))
        for name in (*names, *FOLD_METRICS[task], *SECONDARY_METRICS[task]):
            entry = M.info(name)
            assert entry.family == ("regression" if task == "regression" else "classification")
            if name in names or name in SECONDARY_METRICS[task]:
                assert METRICS[name].higher_is_better == entry.higher_is_better, name


def test_metric_errors_are_user_errors_and_value_errors() -> None:
    with pytest.raises(MetricError) as caught:
        M.info("auc")
    assert isinstance(caught.value, ChallengerError) and isinstance(caught.value, ValueError)
