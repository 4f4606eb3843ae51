from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from challenger.errors import DataError
from challenger.store.batches import (
    Period,
    accept_batch,
    assemble_window,
    corrupt,
    fingerprint,
    join_labels,
    read_table,
    simulate_batch,
    split_labels,
    time_split,
    write_table,
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


def test_time_split_never_validates_on_the_past() -> None:
    df = simulate_batch(0, 1000, seed=1).sample(frac=1.0, random_state=0)
    train, hold = time_split(df, 0.3, "ts", seed=0)
    assert len(hold) == 300 and len(train) == 700
    assert hold["ts"].min() >= train["ts"].max()


def test_time_split_without_timestamp_is_seeded() -> None:
    df = simulate_batch(0, 200, seed=1).drop(columns=["ts"])
    a = time_split(df, 0.25, None, seed=4)[1]
    b = time_split(df, 0.25, None, seed=4)[1]
    pd.testing.assert_frame_equal(a, b)


def test_read_table_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "x.txt").write_text("a")
    with pytest.raises(DataError, match="suffix"):
        read_table(tmp_path / "x.txt")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="cannot be read"):
        read_table(tmp_path / "broken.parquet")
    (tmp_path / "empty.csv").write_text("")
    assert read_table(tmp_path / "empty.csv").empty


def test_round_trip_and_window(tmp_path: Path) -> None:
    for day in (0, 1, 2):
        accept_batch(simulate_batch(day, 100, seed=1), f"day-{day:03d}", tmp_path)
    frame, ids = assemble_window(tmp_path, 2, "ts")
    assert ids == ["day-001", "day-002"]
    assert len(frame) == 200 and frame["ts"].is_monotonic_increasing
    path = write_table(frame, tmp_path / "out.csv")
    assert len(read_table(path)) == 200
    with pytest.raises(DataError, match="no accepted batches"):
        assemble_window(tmp_path / "empty", 1, "ts")


def test_delayed_labels_join_back() -> None:
    batch = simulate_batch(0, 100, seed=1)
    features, labels = split_labels(batch, "default", "application_id")
    assert "default" not in features.columns
    joined = join_labels(features, labels.iloc[:60], "default", "application_id")
    assert int(joined["default"].notna().sum()) == 60
    np.testing.assert_array_equal(
        joined["default"].iloc[:60].to_numpy(), batch["default"].iloc[:60].to_numpy()
    )
    stranger = labels.assign(application_id=labels["application_id"] + 10**9)
    with pytest.raises(DataError, match="none of the 100 labels match"):
        join_labels(features, stranger, "default", "application_id")
