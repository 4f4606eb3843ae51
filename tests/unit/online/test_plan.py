import math

import pytest
from scipy.special import ndtri

from challenger.online.plan import plan_ab


def test_binary_matches_normal_formula() -> None:
    p = plan_ab(mde=0.02, daily_traffic=1000, split=0.5, baseline_rate=0.10)
    h = 2 * math.asin(math.sqrt(0.12)) - 2 * math.asin(math.sqrt(0.10))
    expected = 2 * ((ndtri(0.975) + ndtri(0.8)) / h) ** 2
    assert abs(p.n_challenger - expected) <= 1
    assert p.n_champion == p.n_challenger
    assert p.days == pytest.approx(p.n_challenger / 500)


def test_uneven_split_takes_longer_and_smaller_effect_needs_more() -> None:
    even = plan_ab(mde=0.5, daily_traffic=200, split=0.5, sd=2.0)
    uneven = plan_ab(mde=0.5, daily_traffic=200, split=0.1, sd=2.0)
    assert uneven.days > even.days
    assert uneven.n_champion > uneven.n_challenger
    assert (
        plan_ab(mde=0.25, daily_traffic=200, split=0.5, sd=2.0).n_challenger > 3 * even.n_challenger
    )


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError):
        plan_ab(mde=0.1, daily_traffic=100, split=1.0, sd=1.0)
    with pytest.raises(ValueError):
        plan_ab(mde=0.1, daily_traffic=100, split=0.5)


def test_the_expected_sequential_stop_is_where_simulated_msprt_runs_stop() -> None:
    import numpy as np

    from challenger.online.plan import sequential_stop
    from challenger.stats.sequential import msprt

    mde, sd, tau, alpha = 0.1, 1.0, 0.1, 0.05
    expected = sequential_stop(mde=mde, sd=sd, split=0.5, tau=tau, alpha=alpha)
    assert expected is not None
    rng = np.random.default_rng(0)
    stops = []
    for _ in range(20):  # where does the real test first reach alpha? (looks every 100 units)
        arm = rng.random(4 * expected) < 0.5
        y = rng.normal(0, sd, arm.size) + mde * arm
        stop = next(
            (
                n
                for n in range(100, arm.size, 100)
                if msprt(y[:n], arm[:n], tau=tau, alpha=alpha).p_value <= alpha
            ),
            arm.size,
        )
        stops.append(stop)
    median = float(np.median(stops))
    assert expected / 2 <= median <= expected * 2, (expected, median)


def test_the_plan_names_what_is_missing_and_takes_overrides() -> None:
    import pytest

    from challenger.config import ABConfig
    from challenger.errors import ConfigError
    from challenger.online.plan import Baseline, plan_experiment

    with pytest.raises(ConfigError, match=r"rollout.ab.mde.*traffic"):
        plan_experiment(ABConfig(), Baseline(50, -0.2, 0.3, None), sd=None)
    plan = plan_experiment(ABConfig(mde=0.02), Baseline(50, -0.2, 0.3, 400.0))
    assert plan["sd_from"] == "prediction log" and plan["daily_users"] == 400.0
    assert plan["users_challenger"] > 0 and plan["days"] > 0
    wider = plan_experiment(ABConfig(mde=0.02), Baseline(50, -0.2, 0.3, 400.0), sd=0.6)
    assert wider["users_challenger"] > 3 * plan["users_challenger"], "twice the sd: 4x the users"
    capped = plan_experiment(ABConfig(mde=0.02, max_users=40), None, sd=0.3, daily_users=100)
    assert capped["max_users_enough"] is False
