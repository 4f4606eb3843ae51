"""PSI of two score distributions: fine, watch and alarm levels, constant and empty samples."""

from __future__ import annotations

import numpy as np
import pytest

from challenger.stats import psi


def test_psi_levels() -> None:
    rng = np.random.default_rng(0)
    a = rng.beta(2, 5, 20_000)
    assert psi(a, rng.beta(2, 5, 20_000)) < 0.01
    assert psi(a, rng.beta(5, 2, 20_000)) > 0.25
    assert 0.0 < psi(a, np.clip(a + 0.03, 0, 1)) < 0.25
    assert psi(np.full(100, 0.3), np.full(100, 0.3)) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="non-empty"):
        psi(np.array([]), a)
