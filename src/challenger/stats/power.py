"""How many holdout rows would decide an inconclusive comparison: a power calculation.

The paired comparison is, per resampling unit (a row, or a group), a one-sample test of the
per-unit difference. Its standardised effect size is the distance of the observed Δ from the
threshold divided by the per-unit standard deviation, which the holdout tells us through the
standard error behind its bounds: σ = se · √n. statsmodels' power of the one-sample
t-test (:class:`statsmodels.stats.power.TTestPower`, one-sided at α = 1 − confidence)
then gives the units needed to reach the asked power if the observed difference holds.
"""

from __future__ import annotations

import math
import warnings
from typing import Literal

from scipy.special import ndtri

from challenger.stats.bootstrap import PairedBootstrap

#: Power the estimate is made for unless the caller asks for another (``gate.power``).
DEFAULT_POWER = 0.8


def units_for_power(effect_size: float, alpha: float, power: float) -> float:
    """Units a one-sided one-sample t-test needs to detect ``effect_size`` with ``power``.

    statsmodels' ``TTestPower.solve_power``; where its root finder does not converge (effects
    so small that millions of units are needed) the normal approximation
    ((z₁₋α + z_power) / effect)² is used, which it converges to.
    """
    from statsmodels.stats.power import TTestPower

    normal = ((float(ndtri(1.0 - alpha)) + float(ndtri(power))) / effect_size) ** 2
    if normal > 1e7:
        return normal
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            solved = float(
                TTestPower().solve_power(
                    effect_size=effect_size, alpha=alpha, power=power, alternative="larger"
                )
            )
        except (ValueError, RuntimeError, ArithmeticError):
            return normal
    return solved if math.isfinite(solved) and solved > 0 else normal


def rows_needed(
    result: PairedBootstrap,
    threshold: float,
    *,
    bound: Literal["lower", "upper"] = "lower",
    power: float = DEFAULT_POWER,
    alpha: float | None = None,
) -> int | None:
    """Holdout rows with which a one-sided test would decide, with ``power``, if Δ holds.

    ``bound="lower"``: rows for the lower bound to clear ``threshold`` (promote);
    ``"upper"``: for the upper bound to fall below it (show the challenger is not better).
    The effect size is |Δ − threshold| / (se · √units), with se the standard error behind
    the bounds (:attr:`PairedBootstrap.decision_se`). With a cluster bootstrap the units are
    groups, converted to rows at the holdout's average group size.

    It is asked only of an undecided comparison, so the answer is always more rows than the
    holdout has: when the power calculation would need fewer (possible where BCa's skewed
    bounds straddle the threshold although a symmetric test would not), it is the holdout
    plus one row.

    ``alpha`` is the one-sided level of the test (default 1 − ``result.confidence``); a test
    that is one of a Holm family of k may ask for α/k, the level of Holm's first step.

    Returns:
        Rows needed (more than ``result.n_rows``), or None when the observed Δ is on the
        wrong side of the threshold or on it, or there is no spread: then no amount of
        similar data would decide in that direction.
    """
    gap = result.delta - threshold if bound == "lower" else threshold - result.delta
    se = result.decision_se
    if not gap > 0.0 or not se > 0.0:
        return None
    units = result.n_units
    effect = gap / (se * math.sqrt(units))
    level = 1.0 - result.confidence if alpha is None else alpha
    needed_units = units_for_power(effect, level, power)
    rows = math.ceil(needed_units * result.n_rows / units)
    return max(rows, result.n_rows + 1)
