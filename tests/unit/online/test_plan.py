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
    assert plan_ab(mde=0.25, daily_traffic=200, split=0.5, sd=2.0).n_challenger > 3 * even.n_challenger


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError):
        plan_ab(mde=0.1, daily_traffic=100, split=1.0, sd=1.0)
    with pytest.raises(ValueError):
        plan_ab(mde=0.1, daily_traffic=100, split=0.5)
