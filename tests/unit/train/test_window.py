"""The holdout split of the training window: newest rows, and never a row a model trained on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from challenger.config import DataConfig
from challenger.demo.simulator import simulate_batch
from challenger.errors import ChallengerError, NoUnseenHoldout
from challenger.train.window import fingerprints, row_hashes, seen_in, split_unseen, time_split

DATA = DataConfig()
NO_TS = DataConfig(timestamp=None)


def _keys(frame: pd.DataFrame, data: DataConfig = DATA) -> set[int]:
    return set(row_hashes(frame, data).tolist())


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


def test_row_fingerprints_ignore_storage_types_ids_and_timestamps() -> None:
    df = simulate_batch(0, 50, seed=1)
    df["region"] = np.arange(50) % 3  # an integer-coded category
    as_read_from_csv = df.astype({"age": "float64", "region": "float64", "default": "float64"})
    as_read_from_parquet = df.astype({"region": str, "default": str})
    reissued = df.assign(application_id="new-id", ts=df["ts"] + pd.Timedelta(days=9))
    base = row_hashes(df, DATA)
    for other in (as_read_from_csv, as_read_from_parquet, reissued):
        np.testing.assert_array_equal(row_hashes(other, DATA), base)
    changed = df.assign(income=df["income"] + 1.0)
    assert not np.any(row_hashes(changed, DATA) == base)
    kept = fingerprints(pd.concat([df, df]), DATA)
    assert kept.dtype == np.uint64 and kept.size == 50 and np.all(np.diff(kept) > 0)
    assert seen_in(base, kept).all() and not seen_in(row_hashes(changed, DATA), kept).any()


def test_a_retrain_on_the_same_file_with_another_seed_is_judged_on_unseen_rows() -> None:
    """Issue 11 item 1: the old split scored the champion on rows it trained on."""
    df = simulate_batch(0, 1000, seed=1).drop(columns=["ts"])
    champ_train, champ_hold, _ = split_unseen(df, 0.3, NO_TS, seed=7, seen={}, source="f")
    champion = fingerprints(champ_train, NO_TS)
    _, naive = time_split(df, 0.3, None, seed=8)  # what a seeded random split does
    assert len(_keys(naive, NO_TS) & _keys(champ_train, NO_TS)) > 150
    train, hold, draw = split_unseen(df, 0.3, NO_TS, seed=8, seen={1: champion}, source="f")
    assert not _keys(hold, NO_TS) & _keys(champ_train, NO_TS)
    assert _keys(hold, NO_TS) == _keys(champ_hold, NO_TS)  # the champion's own holdout
    assert not _keys(hold, NO_TS) & _keys(train, NO_TS)
    assert draw.rows == 300 and draw.excluded == 700 and "v1 did not train on" in draw.how


def test_copies_of_training_rows_in_a_new_batch_are_never_held_out() -> None:
    """Rows reappear across batches: with a timestamp, the newest rows less the copies."""
    old = simulate_batch(0, 600, seed=1)
    champ_train, _ = time_split(old, 0.3, "ts", seed=0)
    new = simulate_batch(1, 400, seed=1)
    copies = champ_train.sample(200, random_state=0).assign(
        ts=new["ts"].max() + pd.Timedelta(1, "h")
    )
    batch = pd.concat([new, copies], ignore_index=True)
    train, hold, draw = split_unseen(
        batch, 0.3, DATA, seed=0, seen={1: fingerprints(champ_train, DATA)}, source="b"
    )
    assert not _keys(hold) & _keys(champ_train) and not _keys(hold) & _keys(train)
    assert len(hold) == 180 and len(train) == 220 and draw.excluded == 200
    assert hold["ts"].min() >= train["ts"].max()  # still never validated on the past
    assert "v1 did not train on" in draw.how and "200 such rows left out" in draw.how


def test_copies_within_a_window_fall_on_one_side() -> None:
    df = simulate_batch(0, 300, seed=2).drop(columns=["ts"])
    doubled = pd.concat([df, df.iloc[:100]], ignore_index=True)
    train, hold, _ = split_unseen(doubled, 0.3, NO_TS, seed=3, seen={}, source="f")
    assert not _keys(train, NO_TS) & _keys(hold, NO_TS)
    assert len(train) + len(hold) == 400


def test_no_unseen_row_refuses_in_one_sentence() -> None:
    df = simulate_batch(0, 200, seed=3)
    seen = {4: fingerprints(df, DATA)}
    for data in (DATA, NO_TS):
        with pytest.raises(NoUnseenHoldout) as info:
            split_unseen(df, 0.3, data, seed=0, seen=seen, source="data file day.csv")
        message = str(info.value)
        assert isinstance(info.value, ChallengerError)  # exit code 2
        assert message.startswith(
            "data file day.csv: none of its 200 labelled rows is unseen by v4"
        )
        assert message.count(". ") == 0


def test_unknown_training_rows_are_named_not_guessed() -> None:
    df = simulate_batch(0, 100, seed=3)
    _, hold, draw = split_unseen(df, 0.3, DATA, seed=0, seen={2: None}, source="f")
    assert len(hold) == 30 and draw.unknown == (2,) and draw.excluded == 0
