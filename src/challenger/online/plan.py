"""Plan an A/B test before starting it: rows per arm and expected days (issue 14, item 3).

Pure: statsmodels' power functions. A binary metric uses Cohen's h
(:func:`statsmodels.stats.proportion.proportion_effectsize`) with
:class:`~statsmodels.stats.power.NormalIndPower`; a continuous metric uses the
standardised effect mde / sd with :class:`~statsmodels.stats.power.TTestIndPower`.
``split`` is the challenger arm's share of traffic; ``ratio`` = n_control / n_treatment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class AbPlan:
    """Rows each arm needs and the days the traffic takes to supply them."""

    n_challenger: int
    n_champion: int
    days: float


def plan_ab(
    *,
    mde: float,
    daily_traffic: float,
    split: float,
    baseline_rate: float | None = None,
    sd: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
) -> AbPlan:
    """Sample size per arm and expected duration for a two-sided two-sample test.

    Give ``baseline_rate`` (binary metric; the challenger must move it by ``mde``) or ``sd``
    (continuous metric's per-row standard deviation). Raises ValueError on bad inputs.
    """
    from statsmodels.stats.power import NormalIndPower, TTestIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    if not 0.0 < split < 1.0 or mde == 0 or daily_traffic <= 0:
        raise ValueError("plan_ab needs 0 < split < 1, mde != 0 and daily_traffic > 0")
    ratio = (1.0 - split) / split
    if baseline_rate is not None:
        effect = abs(float(proportion_effectsize(baseline_rate + mde, baseline_rate)))
        n1 = NormalIndPower().solve_power(effect_size=effect, alpha=alpha, power=power, ratio=ratio)
    elif sd is not None and sd > 0:
        n1 = TTestIndPower().solve_power(
            effect_size=abs(mde) / sd, alpha=alpha, power=power, ratio=ratio
        )
    else:
        raise ValueError("plan_ab needs baseline_rate or a positive sd")
    n_chal = math.ceil(float(n1))
    n_champ = math.ceil(float(n1) * ratio)
    days = max(n_chal / (daily_traffic * split), n_champ / (daily_traffic * (1.0 - split)))
    return AbPlan(n_challenger=n_chal, n_champion=n_champ, days=days)
