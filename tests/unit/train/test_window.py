"""The holdout split of the training window."""

from __future__ import annotations

import pandas as pd

from challenger.demo.simulator import simulate_batch
from challenger.train.window import time_split


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
