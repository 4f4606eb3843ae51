"""Holm's adjustment against statsmodels' (the oracle)."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from challenger.stats import holm


@pytest.mark.parametrize("seed", range(5))
def test_holm_is_statsmodels_holm(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 0.2, size=int(rng.integers(1, 12)))
    p[rng.random(p.size) < 0.2] = p[0]  # ties
    reject, adjusted = holm(p, 0.05)
    oracle_reject, oracle_adjusted, _, _ = multipletests(p, alpha=0.05, method="holm")
    np.testing.assert_allclose(adjusted, oracle_adjusted)
    np.testing.assert_array_equal(reject, oracle_reject)


def test_holm_of_nothing_is_nothing() -> None:
    reject, adjusted = holm([], 0.05)
    assert reject.size == 0 and adjusted.size == 0
