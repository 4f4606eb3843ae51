"""Input validation against a model's signature (clear, complete, typed errors); served
models must make the predictions of ``data.task``."""

from __future__ import annotations

import numpy as np
import pytest

from challenger.errors import InputError
from challenger.online.serve.models import (
    ColumnSpec,
    InputSchema,
    comparison_problem,
    require_task,
    task_problem,
)

SCHEMA = InputSchema(
    (
        ColumnSpec("age", "double"),
        ColumnSpec("open_accounts", "long"),
        ColumnSpec("region", "string"),
    )
)


def test_prepare_builds_typed_frame() -> None:
    frame = SCHEMA.prepare([{"age": 30, "open_accounts": 2.0, "region": "north"}])
    assert list(frame.columns) == ["age", "open_accounts", "region"]
    assert str(frame["age"].dtype) == "float64" and str(frame["open_accounts"].dtype) == "int64"


@pytest.mark.parametrize(
    ("record", "loc", "msg"),
    [
        ({"open_accounts": 1, "region": "n"}, ["records", 0, "age"], "field required"),
        ({"age": "old", "open_accounts": 1, "region": "n"}, ["records", 0, "age"], "finite number"),
        ({"age": True, "open_accounts": 1, "region": "n"}, ["records", 0, "age"], "finite number"),
        ({"age": float("nan"), "open_accounts": 1, "region": "n"}, ["records", 0, "age"], "finite"),
        (
            {"age": 1, "open_accounts": 1.5, "region": "n"},
            ["records", 0, "open_accounts"],
            "integer",
        ),
        ({"age": 1, "open_accounts": 1, "region": 7}, ["records", 0, "region"], "string"),
        ({"age": 1, "open_accounts": 1, "region": "x" * 2000}, ["records", 0, "region"], "string"),
        (
            {"age": 1, "open_accounts": 1, "region": "n", "x": 1},
            ["records", 0, "x"],
            "unknown field",
        ),
    ],
)
def test_prepare_names_the_bad_field(
    record: dict[str, object], loc: list[object], msg: str
) -> None:
    with pytest.raises(InputError) as exc:
        SCHEMA.prepare([record])
    assert exc.value.errors[0]["loc"] == loc
    assert msg in exc.value.errors[0]["msg"]


def test_every_error_is_listed_and_single_records_have_no_index() -> None:
    with pytest.raises(InputError) as exc:
        SCHEMA.prepare([{"age": "a", "open_accounts": "b"}], loc="record")
    locs = [e["loc"] for e in exc.value.errors]
    assert locs == [["record", "age"], ["record", "open_accounts"], ["record", "region"]]


def test_a_model_must_make_the_predictions_of_the_task() -> None:
    from sklearn.linear_model import LinearRegression, LogisticRegression

    from challenger.errors import ChallengerError

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    binary = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    multi = LogisticRegression().fit(X, np.digitize(X[:, 0], [-0.5, 0.5]))
    regressor = LinearRegression().fit(X, X[:, 0])
    assert task_problem(binary, "binary") is None
    assert task_problem(regressor, "regression") is None
    assert "3 classes" in str(task_problem(multi, "binary"))
    assert "regressor" in str(task_problem(regressor, "binary"))
    assert "classifier" in str(task_problem(binary, "regression"))
    with pytest.raises(ChallengerError, match=r"m v7 \(champion\) is a regressor.*'binary'"):
        require_task(regressor, "binary", "m v7 (champion)")
    with pytest.raises(ChallengerError, match=r"is a classifier.*'regression'"):
        require_task(binary, "regression", "m v8 (challenger)")


def test_multiclass_models_are_compared_only_over_the_same_classes() -> None:
    from sklearn.linear_model import LinearRegression, LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 2))
    multi = LogisticRegression().fit(
        X, np.array(["a", "b", "c"])[np.digitize(X[:, 0], [-0.5, 0.5])]
    )
    assert task_problem(multi, "multiclass") is None
    assert "regressor" in str(task_problem(LinearRegression().fit(X, X[:, 0]), "multiclass"))
    assert comparison_problem(("a", "b", "c"), ("a", "b", "c")) is None
    clash = comparison_problem(("a", "b", "c"), ("a", "b"))
    assert clash is not None and "['a', 'b']" in clash and "['a', 'b', 'c']" in clash


def test_served_scores_are_the_problem_modules_class_one_probabilities() -> None:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from challenger.online.serve.models import served_scores
    from challenger.problem import model_scores

    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(40, 2)), columns=["a", "b"])
    model = LogisticRegression().fit(X, (X["a"] > 0).astype(int))
    scores = served_scores(model, X)
    assert np.array_equal(scores, model_scores(model, X, "binary"))
    assert np.allclose(scores, model.predict_proba(X)[:, 1])
    model.coef_[:] = np.nan  # a diverged training run: predict_proba returns NaN
    with pytest.raises(ValueError, match="unusable scores for 40 rows: non-finite"):
        served_scores(model, X)


def test_served_scores_of_a_regressor_are_its_predictions() -> None:
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    from challenger.online.serve.models import served_scores

    rng = np.random.default_rng(2)
    X = pd.DataFrame(rng.normal(size=(30, 2)), columns=["a", "b"])
    model = LinearRegression().fit(X, 10 * X["a"] + 3)
    assert np.allclose(served_scores(model, X, "regression"), model.predict(X))


def test_served_scores_of_a_multiclass_model_are_its_class_probabilities() -> None:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from challenger.online.serve.models import served_scores

    rng = np.random.default_rng(3)
    X = pd.DataFrame(rng.normal(size=(60, 2)), columns=["a", "b"])
    model = LogisticRegression().fit(X, np.digitize(X["a"], [-0.5, 0.5]))
    scores = served_scores(model, X, "multiclass")
    assert scores.shape == (60, 3) and np.allclose(scores, model.predict_proba(X))


@pytest.mark.parametrize(
    ("record", "column", "msg"),
    [
        ({"age": 2**70, "open_accounts": 1, "region": "n"}, "age", "beyond 64 bits"),
        ({"age": 1.0, "open_accounts": 2**63, "region": "n"}, "open_accounts", "beyond 64 bits"),
        ({"age": 1.0, "open_accounts": 2.0**64, "region": "n"}, "open_accounts", "within 64 bits"),
        ({"age": 1.0, "open_accounts": 1, "region": "\ud800"}, "region", "valid Unicode"),
    ],
)
def test_values_the_log_could_not_carry_are_refused(
    record: dict[str, object], column: str, msg: str
) -> None:
    with pytest.raises(InputError) as exc:
        SCHEMA.validate([record], "record")
    assert exc.value.errors[0]["loc"] == ["record", column]
    assert msg in exc.value.errors[0]["msg"]


def test_the_widest_64_bit_integers_are_served() -> None:
    columns = SCHEMA.validate(
        [{"age": 2**63 - 1, "open_accounts": -(2**63), "region": "nörth"}], "record"
    )
    assert columns["open_accounts"] == [-(2**63)] and columns["age"] == [float(2**63 - 1)]
