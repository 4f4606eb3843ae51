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
from typing import Any

from challenger.config import ABConfig
from challenger.errors import ConfigError


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
    return AbPlan(n_challenger=n_chal, n_champion=n_champ, days=float(days))


def sequential_stop(
    *, mde: float, sd: float, split: float, tau: float, alpha: float, max_units: int = 10_000_000
) -> int | None:
    """Units in all at which the mSPRT of ``stats.sequential.msprt`` is expected to stop.

    Deterministic approximation: the estimated difference sits at its planned value ``mde``
    and the variance at its expectation V = sd²·(1/n₁ + 1/n₀); the test stops at the first n
    where the mixture likelihood ratio Λ = √(V/(V+τ²))·exp(τ²Δ²/(2V(V+τ²))) reaches 1/α
    (the same Λ the test computes). Real runs scatter around it; None past ``max_units``.
    """
    if not 0.0 < split < 1.0 or mde == 0 or sd <= 0 or tau <= 0:
        raise ValueError("sequential_stop needs 0 < split < 1, mde != 0, sd > 0 and tau > 0")

    def crosses(n: int) -> bool:
        v = sd**2 * (1.0 / (n * split) + 1.0 / (n * (1.0 - split)))
        log_lr = 0.5 * math.log(v / (v + tau**2)) + tau**2 * mde**2 / (2 * v * (v + tau**2))
        return log_lr >= math.log(1.0 / alpha)

    hi = 16
    while not crosses(hi):
        hi *= 2
        if hi > max_units:
            return None
    lo = hi // 2
    while lo + 1 < hi:  # Λ grows with n once V < τ²: the first crossing, by bisection
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if crosses(mid) else (mid, hi)
    return hi


@dataclass(frozen=True)
class Baseline:
    """The champion arm's per-user metric and the traffic, as the prediction log saw them."""

    users: int
    mean: float | None
    sd: float | None
    users_per_day: float | None


def baseline_of(rows: Any, metric: str, experiment: str) -> Baseline:
    """Per-user metric (oriented as the A/B judge orients it) of the champion's users in the log.

    ``rows``: ``LogStore.predictions()``. Users per day: distinct users over the span of their
    first requests (None with fewer than two users).
    """
    from challenger.online.judges.ab import per_request_metric

    rows = rows[(rows["experiment"] == experiment) & rows["user_id"].notna()]
    first_ts = rows.groupby("user_id")["ts"].min()
    champ = rows[rows["arm"] == "champion"]
    outcome = champ.assign(m=per_request_metric(champ, metric))
    per_user = outcome[outcome["m"].notna()].groupby("user_id")["m"].mean()
    return baseline_from(per_user, first_ts)


def baseline_from(champion_per_user: Any, first_ts: Any) -> Baseline:
    """The baseline of the champion arm's per-user metrics and every user's first time
    (epoch seconds): their mean and sd (None under two users) and users a day."""
    span_days = (first_ts.max() - first_ts.min()) / 86_400 if len(first_ts) > 1 else 0.0
    per_day = float(len(first_ts) / span_days) if span_days > 0 else None
    n = len(champion_per_user)
    if n < 2:
        return Baseline(n, None, None, per_day)
    return Baseline(
        n, float(champion_per_user.mean()), float(champion_per_user.std(ddof=1)), per_day
    )


def plan_experiment(
    ab: ABConfig,
    baseline: Baseline | None,
    *,
    mde: float | None = None,
    sd: float | None = None,
    daily_users: float | None = None,
) -> dict[str, Any]:
    """The A/B plan of ``rollout.ab``: users per arm, days, and the sequential test's stop.

    Arguments override the configuration, which overrides what the log measured
    (``baseline``). Raises ConfigError naming what is missing.
    """
    mde = mde if mde is not None else ab.mde
    sd = sd if sd is not None else ab.planning_sd or (baseline.sd if baseline else None)
    per_day = daily_users or ab.daily_users or (baseline.users_per_day if baseline else None)
    missing = [
        why
        for value, why in (
            (mde, "the minimum detectable effect (rollout.ab.mde or --mde)"),
            (sd, "the metric's per-user sd (rollout.ab.planning_sd, --sd, or labelled "
                 "champion users in the prediction log)"),
            (per_day, "the traffic (rollout.ab.daily_users, --daily-users, or users in the "
                      "prediction log over more than one moment)"),
        )
        if not value
    ]  # fmt: skip
    if missing or mde is None or sd is None or per_day is None:
        raise ConfigError("plan-ab needs " + "; ".join(missing))
    fixed = plan_ab(
        mde=mde, daily_traffic=per_day, split=ab.split, sd=sd, alpha=ab.alpha, power=ab.power
    )
    stop = sequential_stop(mde=mde, sd=sd, split=ab.split, tau=ab.mixture_sd, alpha=ab.alpha)
    return {
        "experiment": ab.experiment,
        "metric": ab.metric,
        "mde": mde,
        "sd": sd,
        "sd_from": "configuration" if ab.planning_sd or baseline is None else "prediction log",
        "split": ab.split,
        "alpha": ab.alpha,
        "power": ab.power,
        "daily_users": per_day,
        "users_challenger": fixed.n_challenger,
        "users_champion": fixed.n_champion,
        "days": fixed.days,
        "sequential_expected_users": stop,
        "sequential_expected_days": None if stop is None else stop / per_day,
        "min_users_per_arm": ab.min_users,
        "max_users": ab.max_users,
        "max_users_enough": None
        if ab.max_users is None
        else ab.max_users >= fixed.n_challenger + fixed.n_champion,
        "log_users": None if baseline is None else baseline.users,
    }
