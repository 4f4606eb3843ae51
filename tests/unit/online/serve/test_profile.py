"""The champion's training profile: ranges with tolerance from its training data, within the
configured validation ranges, and the categories the monitor learns from the same data."""

from __future__ import annotations

import pandas as pd
import pytest

from challenger.config import Settings
from challenger.online.serve.profile import build_profile


@pytest.fixture
def settings() -> Settings:
    return Settings.model_validate(
        {
            "data": {"numeric": ["age", "income"], "categorical": ["region"]},
            "validation": {"ranges": {"age": (18.0, 100.0)}},
            "serving": {"profile_tolerance": 0.5},
            "gate": {"slices": []},
        }
    )


REFERENCE = pd.DataFrame(
    {
        "age": [20.0, 40.0, 60.0],
        "income": [1000.0, 2000.0, 3000.0],
        "region": ["north", "south", "north"],
        "default": [0, 1, 0],
    }
)


def test_ranges_widen_the_training_range_and_stay_within_the_configured_one(
    settings: Settings,
) -> None:
    profile = build_profile(settings, REFERENCE, 3, ("age", "income"))
    age, income = profile.ranges["age"], profile.ranges["income"]
    assert (age.lo, age.hi) == (18.0, 80.0), "20-60 ± 20, floored at validation's 18"
    assert (income.lo, income.hi) == (0.0, 4000.0)
    assert "v3's training data" in income.source
    assert profile.categories == {"region": frozenset({"north", "south"})}
    columns = {
        "age": [30.0, 1e300, 85.0],
        "income": [1500.0, 2000.0, -1.0],
        "region": ["north", "east", "south"],
    }
    found = [(p.row, p.column) for p in profile.check(columns)]
    assert found == [(1, "age"), (1, "region"), (2, "age"), (2, "income")]
    first = profile.check(columns, limit=1)[0]
    assert "1e+300 is outside the champion's training profile [18, 80]" in first.msg
    assert "serving.out_of_profile: flag" in first.msg
    assert profile.check({"age": [30.0], "income": [2500.0], "region": ["south"]}) == []


def test_without_a_reference_the_configured_ranges_are_the_profile(settings: Settings) -> None:
    profile = build_profile(settings, None, 1, ("age", "income"))
    assert set(profile.ranges) == {"age"} and not profile.categories
    assert "no training data was logged with v1's run" in profile.source
    assert [p.column for p in profile.check({"age": [101.0], "income": [1e300]})] == ["age"]


def test_a_column_constant_in_training_still_has_room(settings: Settings) -> None:
    flat = REFERENCE.assign(income=5000.0)
    income = build_profile(settings, flat, 1, ("age", "income")).ranges["income"]
    assert (income.lo, income.hi) == (2500.0, 7500.0)
