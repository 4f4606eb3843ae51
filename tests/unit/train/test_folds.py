"""Every CV strategy on small seeded data: fold sizes, order, groups, refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from challenger.config import CVConfig, Settings, load_config
from challenger.errors import ConfigError, DataError
from challenger.train.folds import instants, make_splits, resolve_strategy, time_order

Y = np.array([0, 1] * 30)  # 60 rows, balanced
TS = pd.Series(pd.date_range("2026-01-01", periods=60, freq="h"), name="ts")


def _covered_once(plan) -> None:  # type: ignore[no-untyped-def]
    seen = np.concatenate([s.test for s in plan.splits])
    assert sorted(seen.tolist()) == list(range(len(Y)))


def test_zone_aware_times_order_as_their_instants() -> None:
    # Three zones, shuffled, with a tie at the same instant written in two zones.
    stamps = pd.Series(
        [
            pd.Timestamp("2026-01-01 10:00", tz="Europe/Paris"),
            pd.Timestamp("2026-01-01 08:30", tz="UTC"),
            pd.Timestamp("2026-01-01 04:00", tz="America/New_York"),
            pd.Timestamp("2026-01-01 09:00", tz="UTC"),
            pd.Timestamp("2026-01-01 08:30", tz="UTC"),
        ]
    )
    aware = pd.to_datetime(stamps, utc=True)
    assert instants(aware).dtype == np.dtype("datetime64[ns]")
    expected = sorted(range(5), key=lambda i: (aware[i], i))  # Python's comparison, stable
    assert time_order(aware).tolist() == expected
    assert instants(aware)[0] == np.datetime64("2026-01-01T09:00")
    # Naive times and ISO text sort as before.
    assert time_order(TS[::-1].reset_index(drop=True)).tolist() == list(range(59, -1, -1))
    text = pd.Series(["2026-01-02T00:00:00", "2026-01-01T00:00:00"])
    assert time_order(text).tolist() == [1, 0]


def test_auto_is_time_series_with_a_timestamp() -> None:
    cv = CVConfig()
    assert resolve_strategy(cv, "ts", "binary") == "time_series"
    assert resolve_strategy(cv, None, "binary") == "stratified_kfold"
    assert resolve_strategy(cv, None, "regression") == "kfold"
    assert resolve_strategy(CVConfig(strategy="kfold"), "ts", "binary") == "kfold"


def test_kfold_and_stratified_kfold_cover_every_row_once() -> None:
    plan = make_splits(CVConfig(strategy="kfold", n_splits=4), Y, task="binary", seed=1)
    assert plan.label == "kfold(k=4)" and len(plan.splits) == 4
    _covered_once(plan)
    strat = make_splits(CVConfig(strategy="stratified_kfold", n_splits=5), Y, task="binary", seed=1)
    _covered_once(strat)
    assert all(Y[s.test].mean() == 0.5 for s in strat.splits)  # classes balanced per fold
    again = make_splits(CVConfig(strategy="stratified_kfold", n_splits=5), Y, task="binary", seed=1)
    assert all(
        np.array_equal(a.test, b.test) for a, b in zip(strat.splits, again.splits, strict=True)
    )


def test_holdout_is_one_split_and_newest_with_a_timestamp() -> None:
    cv = CVConfig(strategy="holdout", test_fraction=0.25)
    plan = make_splits(cv, Y, task="binary", seed=1)
    assert len(plan.splits) == 1 and len(plan.splits[0].test) == 15 and plan.label == "holdout"
    timed = make_splits(cv, Y, task="binary", seed=1, timestamps=TS)
    assert timed.splits[0].test.tolist() == list(range(45, 60)) and timed.time_ordered


def test_time_series_validates_on_newer_rows_with_a_gap() -> None:
    shuffled = TS.sample(frac=1, random_state=3).reset_index(drop=True)
    plan = make_splits(
        CVConfig(strategy="time_series", n_splits=3, gap=2), Y, task="binary", seed=1,
        timestamps=shuffled,
    )  # fmt: skip
    assert len(plan.splits) == 3 and plan.time_ordered
    for s in plan.splits:
        assert shuffled[s.train].max() < shuffled[s.test].min()
        # the gap: two rows in time between the newest training row and the first validation row
        assert (shuffled[s.test].min() - shuffled[s.train].max()) == pd.Timedelta(hours=3)
    assert [len(s.train) for s in plan.splits] == [13, 28, 43]  # expanding window


def test_repeated_kfold_repeats_with_new_shuffles() -> None:
    plan = make_splits(
        CVConfig(strategy="repeated_kfold", n_splits=3, n_repeats=2),
        Y,
        task="binary",
        seed=1,
    )
    assert len(plan.splits) == 6 and plan.label == "repeated_kfold(k=3x2)"
    assert [s.repeat for s in plan.splits] == [0, 0, 0, 1, 1, 1]
    assert not np.array_equal(plan.splits[0].test, plan.splits[3].test)


def test_leave_one_out_is_pooled_and_refused_above_the_limit() -> None:
    plan = make_splits(CVConfig(strategy="leave_one_out"), Y, task="binary", seed=1)
    assert len(plan.splits) == 60 and plan.pooled and all(len(s.test) == 1 for s in plan.splits)
    with pytest.raises(ConfigError, match=r"training\.cv\.max_loo_rows=50"):
        make_splits(CVConfig(strategy="leave_one_out", max_loo_rows=50), Y, task="binary", seed=1)


def test_group_kfold_keeps_groups_together() -> None:
    groups = pd.Series(np.repeat(np.arange(12), 5), name="customer")
    cv = CVConfig(strategy="group_kfold", group_column="customer", n_splits=4)
    plan = make_splits(cv, Y, task="binary", seed=1, groups=groups)
    for s in plan.splits:
        assert not set(groups[s.train]) & set(groups[s.test])
    with pytest.raises(
        ConfigError, match=r"'customer' has 12 groups, fewer than training\.cv\.n_splits=20"
    ):
        make_splits(
            CVConfig(strategy="group_kfold", group_column="customer", n_splits=20), Y,
            task="binary", seed=1, groups=groups,
        )  # fmt: skip


def test_bad_strategy_and_missing_group_column_are_config_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "c.yaml"
    cfg.write_text("training:\n  cv:\n    strategy: bootstrap632\n")
    with pytest.raises(ConfigError, match=r"training\.cv\.strategy"):
        load_config(cfg)
    cfg.write_text("training:\n  cv:\n    strategy: group_kfold\n")
    with pytest.raises(ConfigError, match=r"group_kfold needs training\.cv\.group_column"):
        load_config(cfg)
    cfg.write_text("training:\n  executor:\n    kind: dask\n")
    with pytest.raises(ConfigError, match=r"training\.executor\.kind is dask but address"):
        load_config(cfg)


def test_folds_without_a_class_are_refused() -> None:
    y = np.array([0] * 40 + [1] * 20)  # sorted in time: early folds never see class 1
    with pytest.raises(
        DataError, match=r"fold 0 of time_series trains on 1 of the target's 2 classes"
    ):
        make_splits(
            CVConfig(strategy="time_series", n_splits=3),
            y,
            task="binary",
            seed=1,
            timestamps=TS,
        )
    rare = np.array([0] * 57 + [1] * 3)
    with pytest.raises(
        DataError, match=r"class 1 of the target has 3 rows, fewer than training\.cv\.n_splits=5"
    ):
        make_splits(CVConfig(strategy="stratified_kfold"), rare, task="binary", seed=1)


def test_settings_default_is_auto() -> None:
    assert Settings().training.cv.strategy == "auto"
