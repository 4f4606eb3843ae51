"""Tests of a live experiment that may be read at any time: sample-ratio mismatch and mSPRT.

* ``srm_test``: chi-squared goodness of fit of the arms' sizes to the configured split; a
  mismatch means the assignment is broken and no comparison of the arms can be trusted.
* ``msprt``: the always-valid mixture sequential probability ratio test for a difference of
  means (Johari, Pekelis & Walsh 2017), with its confidence sequence.

Pure functions of numpy arrays; the A/B judge (``challenger.online.judges.ab``) reads them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

FloatArray = NDArray[np.float64]

__all__ = ["SRMResult", "SequentialResult", "msprt", "srm_test"]


@dataclass(frozen=True)
class SRMResult:
    """Sample-ratio-mismatch test of the arms' sizes against the configured split."""

    n_champion: int
    n_challenger: int
    expected_share: float
    observed_share: float
    p_value: float
    mismatch: bool


def srm_test(n_champion: int, n_challenger: int, split: float, alpha: float) -> SRMResult:
    """Chi-squared goodness of fit of the arm sizes to the split (alarm when p < alpha)."""
    total = n_champion + n_challenger
    if total == 0:
        return SRMResult(0, 0, split, float("nan"), 1.0, False)
    expected = np.array([total * (1.0 - split), total * split])
    p = float(stats.chisquare([n_champion, n_challenger], f_exp=expected).pvalue)
    return SRMResult(n_champion, n_challenger, split, n_challenger / total, p, p < alpha)


@dataclass(frozen=True)
class SequentialResult:
    """An always-valid comparison of two means (challenger − champion, higher is better).

    Attributes:
        delta: Difference of the arms' means at the last look.
        p_value: Always-valid p-value (running minimum over the looks).
        lower: Lower bound of the always-valid confidence sequence at level 1 − alpha.
        upper: Upper bound.
        n_champion: Units in the champion arm.
        n_challenger: Units in the challenger arm.
        looks: Looks at the data (each new unit after the first few is one look).
    """

    delta: float
    p_value: float
    lower: float
    upper: float
    n_champion: int
    n_challenger: int
    looks: int


def msprt(
    values: FloatArray,
    is_challenger: NDArray[np.bool_],
    *,
    tau: float,
    alpha: float,
    min_per_arm: int = 5,
) -> SequentialResult:
    """Mixture SPRT for a difference of means with a normal mixing distribution N(0, τ²).

    The units are in arrival order; after each unit (once each arm has ``min_per_arm``)
    the likelihood ratio of the estimated difference Δ with variance V = s²₁/n₁ + s²₀/n₀
    against H0: Δ = 0 is Λ = √(V/(V+τ²)) · exp(τ²Δ² / (2V(V+τ²))); the always-valid
    p-value is the running minimum of 1/Λ, and the confidence sequence is the running
    intersection of Δ ± √(V(V+τ²)/τ² · (2 log(1/α) + log((V+τ²)/V))). Reading it at any
    time keeps the type-I error at α (Johari, Pekelis & Walsh 2017).

    Args:
        values: One value per unit (e.g. a user's mean outcome), in arrival order.
        is_challenger: True for units in the challenger arm.
        tau: Mixing standard deviation: the effect size the test is most sensitive to.
        alpha: Significance level of the confidence sequence.
        min_per_arm: Units per arm before the first look (variance estimates need a few).

    Raises:
        ValueError: Arrays of different lengths, or a non-positive tau.
    """
    y = np.asarray(values, dtype=float)
    arm = np.asarray(is_challenger, dtype=bool)
    if y.shape != arm.shape:
        raise ValueError("values and is_challenger must have the same length")
    if tau <= 0:
        raise ValueError("tau must be positive")
    n1 = np.cumsum(arm)
    n0 = np.cumsum(~arm)
    s1 = np.cumsum(np.where(arm, y, 0.0))
    s0 = np.cumsum(np.where(arm, 0.0, y))
    q1 = np.cumsum(np.where(arm, y * y, 0.0))
    q0 = np.cumsum(np.where(arm, 0.0, y * y))
    ok = (n1 >= max(2, min_per_arm)) & (n0 >= max(2, min_per_arm))
    n_chal, n_champ = int(n1[-1]) if y.size else 0, int(n0[-1]) if y.size else 0
    if not ok.any():
        return SequentialResult(float("nan"), 1.0, -math.inf, math.inf, n_champ, n_chal, 0)
    n1, n0, s1, s0, q1, q0 = (a[ok].astype(float) for a in (n1, n0, s1, s0, q1, q0))
    m1, m0 = s1 / n1, s0 / n0
    v1 = np.maximum(q1 - n1 * m1 * m1, 0.0) / (n1 - 1)
    v0 = np.maximum(q0 - n0 * m0 * m0, 0.0) / (n0 - 1)
    var = np.maximum(v1 / n1 + v0 / n0, 1e-12)
    delta = m1 - m0
    t2 = tau * tau
    log_lr = 0.5 * np.log(var / (var + t2)) + t2 * delta * delta / (2.0 * var * (var + t2))
    p = float(min(1.0, np.exp(-np.max(log_lr))))
    half = np.sqrt(var * (var + t2) / t2 * (2.0 * math.log(1.0 / alpha) + np.log((var + t2) / var)))
    return SequentialResult(
        delta=float(delta[-1]),
        p_value=p,
        lower=float(np.max(delta - half)),
        upper=float(np.min(delta + half)),
        n_champion=n_champ,
        n_challenger=n_chal,
        looks=int(delta.size),
    )
