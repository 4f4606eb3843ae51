"""Sample-ratio mismatch and the always-valid mSPRT: valid under the null, powerful under an effect."""

from __future__ import annotations

import numpy as np
import pytest

from challenger.stats import msprt, srm_test


def test_srm_alarm_only_on_a_real_mismatch() -> None:
    assert not srm_test(5000, 5000, 0.5, 0.001).mismatch
    assert not srm_test(7000, 3000, 0.3, 0.001).mismatch
    off = srm_test(5300, 4700, 0.5, 0.001)
    assert off.mismatch and off.p_value < 1e-6


def test_msprt_is_always_valid_under_the_null_and_has_power() -> None:
    rng = np.random.default_rng(42)
    runs, n, alpha = 200, 400, 0.05
    false = 0
    for _ in range(runs):
        y = rng.normal(0.0, 1.0, n)
        arm = rng.random(n) < 0.5
        false += msprt(y, arm, tau=0.2, alpha=alpha).p_value < alpha
    # Read after every unit, yet at most alpha (plus Monte-Carlo slack): always valid.
    assert false / runs <= alpha + 2 * np.sqrt(alpha * (1 - alpha) / runs)
    hits = 0
    for _ in range(50):
        arm = rng.random(n) < 0.5
        y = rng.normal(0.0, 1.0, n) + 0.5 * arm
        r = msprt(y, arm, tau=0.2, alpha=alpha)
        hits += r.p_value < alpha and r.lower > 0
    assert hits >= 40
    r = msprt(np.array([1.0, 2.0]), np.array([True, False]), tau=0.1, alpha=0.05)
    assert r.p_value == 1.0 and r.looks == 0
    with pytest.raises(ValueError, match="same length"):
        msprt(np.zeros(3), np.zeros(2, dtype=bool), tau=0.1, alpha=0.05)
