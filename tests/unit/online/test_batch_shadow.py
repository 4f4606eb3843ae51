"""Batch shadow (``online.batch_shadow``): champion and shadow outputs in the prediction log,
once per batch, a failing shadow recorded not raised, labels paired with both outputs, and
each task in the form the online judges read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression, LogisticRegression

from challenger.online import batch_shadow
from challenger.online.log import LogStore, read_proba


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
    assert log.shadow_pairs(2)["label"].isna().all()  # no labels yet
    half = list(range(0, len(X), 2))
    assert batch_shadow.record_labels(log, "b1", list(y[half]), rows=half) == len(half)
    pairs = log.shadow_pairs(2).set_index("idx")
    np.testing.assert_allclose(pairs.loc[half, "label"], y[half])
    assert pairs.drop(index=half)["label"].isna().all()
    np.testing.assert_allclose(pairs["shadow_score"], shadow.predict(X))


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


def test_multiclass_logs_class_codes_and_probabilities_on_the_champions_classes(
    tmp_path: Path,
) -> None:
    X, y = _data(300)
    grades = np.where(y < -1, "a", np.where(y < 1, "b", "c"))
    log = LogStore(tmp_path / "log.sqlite")
    champion = LogisticRegression(max_iter=500).fit(X, grades)
    keep = grades != "c"  # the shadow never saw class c: probability 0 in its column
    shadow = LogisticRegression(max_iter=500).fit(X[keep], grades[keep])
    labels = batch_shadow.label_codes(pd.Series(grades), "multiclass", ["a", "b", "c"])
    batch_shadow.score_batch(log, "b", X, "multiclass", (1, champion), {2: shadow}, labels=labels)
    pairs = log.shadow_pairs(2)
    champ = read_proba(pairs["champion_proba"])
    other = read_proba(pairs["shadow_proba"])
    np.testing.assert_allclose(champ, champion.predict_proba(X))
    assert other.shape == (len(X), 3) and (other[:, 2] == 0).all()
    np.testing.assert_array_equal(pairs["champion_score"], champ.argmax(axis=1))
    codes = pd.Series(grades).map({"a": 0.0, "b": 1.0, "c": 2.0})
    np.testing.assert_array_equal(pairs["label"], codes)


def test_label_codes_follow_the_task() -> None:
    values = pd.Series(["b", None, "z", "a"])
    assert batch_shadow.label_codes(values, "multiclass", ["a", "b"]) == [1.0, None, None, 0.0]
    assert batch_shadow.label_codes(pd.Series([1, np.nan, 0]), "binary", None) == [1.0, None, 0.0]


class _Age:
    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return X["age"].to_numpy(float)


def test_a_label_file_joins_the_scored_batch_file_by_id(tmp_path: Path) -> None:
    from challenger.config import load_config
    from challenger.demo.simulator import simulate_batch
    from challenger.online.review import store_for
    from challenger.store.batches import write_table

    cfg = tmp_path / "challenger.yaml"
    cfg.write_text(
        "data: {task: regression, target: risk_score}\ntraining: {primary_metric: rmse}\n"
    )
    settings = load_config(cfg)
    d = settings.data
    frame = simulate_batch(0, 50, 1, target=d.target, task="regression")
    batch = write_table(frame.drop(columns=[d.target]), tmp_path / "day-1.parquet")
    log = store_for(settings)
    X = frame[list(d.features)]
    batch_shadow.score_batch(log, batch.stem, X, "regression", (1, _Age()), {2: _Age()})
    some = frame.iloc[[40, 3, 7]][[d.id_column, d.target]]  # out of order, three rows only
    labels = write_table(some, tmp_path / "labels.parquet")
    registry: Any = None  # a regression's labels need no model's classes
    assert batch_shadow.label_file(settings, registry, batch, labels) == 3
    pairs = log.shadow_pairs(2).set_index("idx")
    np.testing.assert_allclose(pairs.loc[[40, 3, 7], "label"], some[d.target])
    assert pairs["label"].notna().sum() == 3
    other = write_table(frame, tmp_path / "other.parquet")  # a batch never scored: nothing
    assert batch_shadow.label_file(settings, registry, other, labels) == 0


def test_scores_the_monitor_already_has_are_stored_not_computed_again(tmp_path: Path) -> None:
    X, y = _data(120)
    log = LogStore(tmp_path / "log.sqlite")
    champion = LinearRegression().fit(X, y)
    known = champion.predict(X)
    out = batch_shadow.score_batch(
        log, "b1", X, "regression", (1, _Broken()), {2: champion}, champion_scored=(known, 0.25)
    )  # the champion's model would raise if it were asked again
    assert out.scored and not out.shadow_errors
    np.testing.assert_allclose(out.champion_scores, known)
    pairs = log.shadow_pairs(2)
    np.testing.assert_allclose(pairs["champion_score"], known)
    assert (pairs["champion_ms"] == 0.25).all()
