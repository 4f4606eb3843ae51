"""The demo's simulator: deterministic days, drift, corruptions, delayed labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from challenger.demo.simulator import Period, corrupt, simulate_batch, split_labels
from challenger.store.batches import (
    fingerprint,
)


def test_simulator_is_deterministic_and_days_differ() -> None:
    a, b = simulate_batch(1, 300, seed=3), simulate_batch(1, 300, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert fingerprint(a) == fingerprint(b)
    assert fingerprint(simulate_batch(2, 300, seed=3)) != fingerprint(a)
    assert a["application_id"].is_unique
    assert set(a["default"].unique()) == {0, 1}
    assert a["ts"].is_monotonic_increasing


def test_drift_moves_population_and_risk() -> None:
    base = simulate_batch(0, 4000, seed=1)
    shifted = simulate_batch(0, 4000, seed=1, period=Period(covariate_drift=1.0, concept_drift=1.0))
    assert shifted["credit_score"].mean() < base["credit_score"].mean() - 30
    assert (shifted["channel"] == "partner").mean() > (base["channel"] == "partner").mean() + 0.2
    assert shifted["default"].mean() > base["default"].mean()


@pytest.mark.parametrize(
    "kind", ["missing_column", "nulls", "out_of_range", "wrong_type", "new_category"]
)
def test_corruptions_damage_the_batch(kind: str) -> None:
    clean = simulate_batch(0, 500, seed=1)
    bad = corrupt(clean, kind, seed=2)  # type: ignore[arg-type]
    assert not bad.equals(clean)
    if kind == "missing_column":
        assert "credit_score" not in bad.columns
    elif kind == "nulls":
        assert bad["credit_score"].isna().mean() > 0.2
    elif kind == "out_of_range":
        assert (bad["credit_score"] < 300).sum() > 0
    elif kind == "wrong_type":
        assert bad["credit_score"].dtype == object
    else:
        assert "crypto_exchange" in set(bad["channel"])


def test_delayed_labels_are_ids_and_targets_kept_apart() -> None:
    batch = simulate_batch(0, 100, seed=1)
    features, labels = split_labels(batch, "default", "application_id")
    assert "default" not in features.columns
    assert list(labels.columns) == ["application_id", "default"]
    np.testing.assert_array_equal(labels["default"].to_numpy(), batch["default"].to_numpy())
