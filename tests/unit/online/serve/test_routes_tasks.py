"""What /predict answers and how /feedback reads a label, per task (pure parts of the routes)."""

from __future__ import annotations

import numpy as np
import pytest

from challenger.online.serve.routes import FeedbackItem, answers, truth_codes


def _items(*labels: float | str | None) -> list[FeedbackItem]:
    # a value-only item carries no label (None)
    return [
        FeedbackItem(request_id="r", index=i, label=lab, value=None if lab is not None else 1.0)
        for i, lab in enumerate(labels)
    ]


def test_answers_follow_the_task() -> None:
    assert answers(np.array([0.2, 0.7]), "binary", 0.5) == [
        {"score": 0.2, "class": 0},
        {"score": 0.7, "class": 1},
    ]
    assert answers(np.array([-3.5]), "regression", 0.5) == [{"value": -3.5}]
    (one,) = answers(np.array([[0.1, 0.6, 0.3]]), "multiclass", 0.5, ("high", "low", "medium"))
    assert one == {"class": "low", "probabilities": {"high": 0.1, "low": 0.6, "medium": 0.3}}


def test_labels_are_read_as_the_log_keeps_them() -> None:
    assert truth_codes(_items(0, 1, "1", None), "binary", None) == ([0.0, 1.0, 1.0, None], None)
    _, wrong = truth_codes(_items(1, 0.5, "x"), "binary", None)
    assert wrong is not None and "0 or 1" in wrong and "0.5" in wrong and "'x'" in wrong
    assert truth_codes(_items(-9.25, "3.5"), "regression", None) == ([-9.25, 3.5], None)
    assert "a number" in str(truth_codes(_items("nan"), "regression", None)[1])
    classes = ("high", "low", "medium")
    assert truth_codes(_items("medium", "high"), "multiclass", classes) == ([2.0, 0.0], None)
    _, wrong = truth_codes(_items("extreme", 0), "multiclass", classes)
    assert wrong is not None and "'extreme'" in wrong and "0" in wrong
    assert truth_codes(_items(2, "0"), "multiclass", (0, 1, 2)) == ([2.0, 0.0], None)


def test_a_non_finite_label_is_refused_by_the_body() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        FeedbackItem(request_id="r", label=float("nan"))
