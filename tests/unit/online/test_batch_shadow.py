"""Batch shadow (``online.batch_shadow``): champion and shadow outputs in the prediction log,
once per batch, a failing shadow recorded not raised, and the paired comparison on labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from challenger.online import batch_shadow
from challenger.online.log import LogStore


class _Broken:
    def predict(self, X: pd.DataFrame) -> np.ndarray:
        raise RuntimeError("shadow exploded")


def _data(n: int = 300) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    y = 3.0 * X["a"].to_numpy() + rng.normal(scale=0.5, size=n)
    return X, y


def test_regression_batch_logged_once_and_compared(tmp_path: Path) -> None:
    X, y = _data()
    log = LogStore(tmp_path / "log.sqlite")
    champion = LinearRegression().fit(X[["b"]].assign(a=0.0)[["a", "b"]], y)  # ignores a
    shadow = LinearRegression().fit(X, y)
    first = batch_shadow.score_batch(log, "b1", X, "regression", (1, champion), {2: shadow})
    assert first.scored and not first.shadow_errors
    assert log.count("predictions") == len(X) and log.count("shadows") == len(X)
    again = batch_shadow.score_batch(log, "b1", X, "regression", (1, champion), {2: shadow})
    assert not again.scored
    assert log.count("predictions") == len(X) and log.count("shadows") == len(X)
    assert batch_shadow.compare(log, 2, "mse") is None  # no labels yet
    batch_shadow.record_labels(log, "b1", y)
    result = batch_shadow.compare(log, 2, "mse", n_resamples=200)
    assert result is not None and result.n_rows == len(X)
    assert result.lower > 0  # the shadow uses the informative feature: clearly better


def test_failing_shadow_never_fails_the_batch(tmp_path: Path) -> None:
    X, y = _data(100)
    log = LogStore(tmp_path / "log.sqlite")
    champion = LinearRegression().fit(X, y)
    out = batch_shadow.score_batch(log, "b1", X, "regression", (1, champion), {2: _Broken()})
    assert out.scored and "shadow exploded" in out.shadow_errors[2]
    np.testing.assert_allclose(out.champion_scores, champion.predict(X))
    pairs = log.shadow_pairs(2)
    assert len(pairs) == len(X) and pairs["shadow_score"].isna().all()
    assert pairs["shadow_error"].str.contains("shadow exploded").all()


def test_binary_scores_are_positive_class_probabilities(tmp_path: Path) -> None:
    X, y = _data(200)
    labels = (y > 0).astype(int)
    log = LogStore(tmp_path / "log.sqlite")
    model = LogisticRegression().fit(X, labels)
    out = batch_shadow.score_batch(log, "b", X, "binary", (1, model), {})
    assert out.champion_scores is not None
    np.testing.assert_allclose(out.champion_scores, model.predict_proba(X)[:, 1])


def test_multiclass_refused(tmp_path: Path) -> None:
    X, _ = _data(10)
    with pytest.raises(ValueError, match="multiclass"):
        batch_shadow.score_batch(LogStore(tmp_path / "l.sqlite"), "b", X, "multiclass", (1, None), {})
