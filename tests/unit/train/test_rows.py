"""A served pipeline's numpy preprocessing answers exactly what scikit-learn's does, and is
used only where it can."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from challenger.config import CandidateConfig, DataConfig
from challenger.demo.simulator import Period, simulate_batch
from challenger.train.pipeline import build_pipeline
from challenger.train.rows import RowPipeline, compile_rows

D = DataConfig()
FEATURES = [*D.numeric, *D.categorical]
CANDIDATES = {
    "binary": CandidateConfig(
        name="lr", estimator="sklearn.linear_model.LogisticRegression", params={"max_iter": 300}
    ),
    "multiclass": CandidateConfig(
        name="tree", estimator="sklearn.tree.DecisionTreeClassifier", params={"max_depth": 4}
    ),
    "regression": CandidateConfig(name="ridge", estimator="sklearn.linear_model.Ridge"),
}


def _fitted(task: str, frame: pd.DataFrame, numeric: tuple[str, ...] = D.numeric) -> Any:
    target = {"binary": "default", "multiclass": "grade", "regression": "loss"}[task]
    data = simulate_batch(0, 600, 3, target=target, task=task) if frame is None else frame
    pipe = build_pipeline(CANDIDATES[task], numeric, D.categorical, 7, task=task)
    return pipe.fit(data[[*numeric, *D.categorical]], data[target].to_numpy()), data


def _hostile(rows: int, seed: int) -> pd.DataFrame:
    """Rows of another regime, with missing numbers and categories never seen in training."""
    frame = simulate_batch(9, rows, seed, Period(1.0, 1.0))[FEATURES].copy()
    rng = np.random.default_rng(seed)
    for col in D.numeric[:3]:
        frame.loc[rng.random(rows) < 0.2, col] = np.nan
    frame["region"] = frame["region"].astype(object)
    frame.loc[rng.random(rows) < 0.3, "region"] = "atlantis"
    return frame


def _answers(model: Any, X: pd.DataFrame, task: str) -> np.ndarray:
    return np.asarray(model.predict(X) if task == "regression" else model.predict_proba(X))


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
@pytest.mark.parametrize("rows", [1, 7, 300])
def test_compiled_rows_answer_what_the_pipeline_answers(task: str, rows: int) -> None:
    pipe, _ = _fitted(task, None)
    compiled = compile_rows(pipe)
    assert isinstance(compiled, RowPipeline)
    X = _hostile(rows, rows)
    np.testing.assert_allclose(_answers(compiled, X, task), _answers(pipe, X, task), 1e-12, 0)
    if task != "regression":
        assert list(compiled.classes_) == list(pipe.classes_)


def test_a_missing_category_is_left_to_scikit_learn() -> None:
    pipe, _ = _fitted("binary", None)
    compiled = compile_rows(pipe)
    X = _hostile(5, 1)
    X.loc[2, "channel"] = None
    assert compiled.transform(X) is None  # not guessed: the pipeline answers
    np.testing.assert_allclose(compiled.predict_proba(X), pipe.predict_proba(X), 1e-12, 0)


def test_pipelines_of_another_shape_are_served_as_they_are() -> None:
    _, data = _fitted("binary", None)
    bare = DecisionTreeClassifier(max_depth=2).fit(data[list(D.numeric)], data["default"])
    assert compile_rows(bare) is bare
    other = Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(
        data[list(D.numeric)], data["default"]
    )
    assert compile_rows(other) is other
    unfitted = build_pipeline(CANDIDATES["binary"], D.numeric, D.categorical, 7)
    assert compile_rows(unfitted) is unfitted


def test_a_numeric_column_empty_in_training_keeps_scikit_learns_path() -> None:
    data = simulate_batch(0, 400, 3)
    data["income"] = np.nan  # SimpleImputer drops it: the compiled columns would not line up
    pipe, _ = _fitted("binary", data)
    assert compile_rows(pipe) is pipe


def test_integer_categories_are_encoded_like_the_encoder_does() -> None:
    data = simulate_batch(0, 500, 5)
    data["region"] = data["region"].astype("category").cat.codes.astype("int64")
    pipe, _ = _fitted("binary", data)
    compiled = compile_rows(pipe)
    assert isinstance(compiled, RowPipeline)
    X = data[FEATURES].head(40).copy()
    X.loc[X.index[:5], "region"] = 99  # an unseen code: all zeros, as handle_unknown="ignore"
    np.testing.assert_allclose(compiled.predict_proba(X), pipe.predict_proba(X), 1e-12, 0)


def test_the_gate_times_a_model_the_way_serving_calls_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from challenger.gate.latency import measure_latency

    pipe, data = _fitted("binary", None)
    calls: list[int] = []
    original = RowPipeline.predict_proba

    def counted(self: RowPipeline, X: pd.DataFrame) -> np.ndarray:
        calls.append(len(X))
        return original(self, X)

    monkeypatch.setattr(RowPipeline, "predict_proba", counted)
    ops = measure_latency(pipe, data[FEATURES].head(50), repeats=12, batch_rows=40)
    assert calls.count(1) == 13 and calls.count(40) == 3  # warm-up + 12 single rows, 3 batches
    assert ops.latency_p50_ms is not None and ops.latency_p50_ms > 0
