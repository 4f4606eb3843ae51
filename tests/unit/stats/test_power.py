"""Unit tests for challenger.stats.power, checked against sklearn, scipy and statsmodels."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from challenger.stats import (
    PairedBootstrap,
    paired_bootstrap,
    rows_needed,
)

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]


def _classification(n: int, seed: int, *, gain: float = 0.2, rate: float = 0.4) -> Arrays:
    """Labels and two correlated probability scores; the champion's are rounded (ties)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rate).astype(float)
    signal, shared = 2.0 * y - 1.0, rng.normal(size=n)
    champion = 1.0 / (1.0 + np.exp(-(signal + 0.7 * shared + 0.7 * rng.normal(size=n))))
    challenger = 1.0 / (
        1.0 + np.exp(-((1.0 + gain) * signal + 0.7 * shared + 0.7 * rng.normal(size=n)))
    )
    return y, np.round(champion, 2), challenger


def _result(delta: float, se: float, n_rows: int = 1000) -> PairedBootstrap:
    return PairedBootstrap(
        "roc_auc", True, 0.8, 0.8 + delta, delta, delta - 1.645 * se, delta + 1.645 * se,
        0.95, se, n_rows, 2000, "BCa", tuple(float(q) for q in range(101)),
    )  # fmt: skip


def test_rows_needed_follows_the_square_root_law() -> None:
    z = sps.norm.ppf(0.95)
    result = _result(delta=0.01, se=0.01)
    assert rows_needed(result, 0.0) == math.ceil(1000 * z**2)
    assert rows_needed(result, 0.005) == math.ceil(1000 * (z * 0.01 / 0.005) ** 2)
    # The bound already clears at this size: the answer is below the current rows.
    already = rows_needed(_result(delta=0.05, se=0.01), 0.0)
    assert already is not None and already < 1000
    assert rows_needed(result, 0.01) is None
    assert rows_needed(result, 0.02) is None
    assert rows_needed(result, 0.02, bound="upper") == math.ceil(1000 * z**2)


def test_rows_needed_matches_a_larger_holdout() -> None:
    """Taking the estimate at its word: a holdout that big does clear the threshold."""
    y, s0, s1 = _classification(300, seed=19, gain=0.5)
    small = paired_bootstrap("roc_auc", y, s0, s1, n_resamples=500)
    assert small.delta > 0
    needed = rows_needed(small, 0.0)
    assert needed is not None
    big = paired_bootstrap("roc_auc", *_classification(3 * needed, seed=20, gain=0.5))
    assert big.lower > 0.0
