"""MAPE in the gate's paired bootstrap: a per-row-decomposable regression metric."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_percentage_error

from challenger import metrics
from challenger.errors import StatisticsInputError
from challenger.stats import metric_value, paired_bootstrap

RNG = np.random.default_rng(11)
Y = RNG.uniform(50, 150, 400)
CHAMPION = Y + RNG.normal(0, 20, 400)
CHALLENGER = Y + RNG.normal(0, 5, 400)


def test_mape_agrees_with_sklearn_and_the_catalogue() -> None:
    expected = mean_absolute_percentage_error(Y, CHAMPION)
    assert metric_value("mape", Y, CHAMPION) == pytest.approx(expected)
    assert metrics.regression("mape", Y, CHAMPION) == pytest.approx(expected)


def test_paired_bootstrap_of_mape_sees_the_better_challenger() -> None:
    b = paired_bootstrap("mape", Y, CHAMPION, CHALLENGER, n_resamples=1000, seed=3)
    assert b.higher_is_better is False
    assert b.delta == pytest.approx(b.champion - b.challenger) and b.delta > 0
    assert b.lower > 0 and b.lower < b.delta < b.upper


def test_mape_refuses_a_zero_target() -> None:
    with pytest.raises(StatisticsInputError, match="mape is undefined where `y_true` is 0"):
        paired_bootstrap("mape", np.r_[0.0, Y[1:]], CHAMPION, CHALLENGER, n_resamples=200, seed=3)
