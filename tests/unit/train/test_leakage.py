"""Leakage guards fire on planted leaks, naming the column, and stay quiet on clean data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from challenger.config import CVConfig, LeakageConfig, Settings
from challenger.demo.simulator import simulate_batch
from challenger.errors import LeakageError
from challenger.train.folds import make_splits
from challenger.train.leakage import _rank_auc, check_leakage
from challenger.train.plan import plan_training

S = Settings()


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return simulate_batch(0, 600, seed=3)


def _check(frame: pd.DataFrame, cfg: LeakageConfig, cv: CVConfig, timestamps: bool = True):  # type: ignore[no-untyped-def]
    y = frame["default"].to_numpy()
    ts = frame["ts"] if timestamps else None
    plan = make_splits(cv, y, task="binary", seed=1, timestamps=ts)
    return check_leakage(
        frame[[c for c in frame.columns if c not in ("default", "ts", "application_id")]],
        y, plan, cfg, task="binary", numeric=S.data.numeric, timestamps=ts,
    )  # fmt: skip


def test_clean_data_has_no_findings(frame: pd.DataFrame) -> None:
    assert _check(frame, LeakageConfig(), CVConfig(strategy="time_series")) == ()


def test_a_copy_of_the_target_is_refused_by_name(frame: pd.DataFrame) -> None:
    leaky = frame.assign(recovery_amount=frame["default"] * 1000.0 + np.arange(len(frame)) * 1e-3)
    with pytest.raises(
        LeakageError, match=r"feature 'recovery_amount' alone reproduces the target"
    ):
        _check(leaky, LeakageConfig(), CVConfig(strategy="time_series"))
    as_text = frame.assign(outcome=np.where(frame["default"] == 1, "charged_off", "paid"))
    with pytest.raises(LeakageError, match="'outcome'"):
        _check(as_text, LeakageConfig(), CVConfig(strategy="time_series"))
    warned = _check(leaky, LeakageConfig(target_copy="warn"), CVConfig(strategy="time_series"))
    assert [(w.guard, w.column) for w in warned] == [("target_copy", "recovery_amount")]


def test_duplicate_rows_across_folds_warn_or_refuse(frame: pd.DataFrame) -> None:
    doubled = pd.concat([frame, frame], ignore_index=True)  # every row twice
    cv = CVConfig(strategy="kfold", n_splits=3)
    found = _check(doubled, LeakageConfig(temporal="off"), cv, timestamps=False)
    assert len(found) == 1 and found[0].guard == "duplicates"
    assert "duplicate training rows on every feature column" in found[0].message
    with pytest.raises(LeakageError, match=r"training\.leakage\.duplicates: warn"):
        _check(doubled, LeakageConfig(duplicates="refuse"), cv, timestamps=False)


def test_shuffled_folds_of_timestamped_data_validate_on_the_past(frame: pd.DataFrame) -> None:
    found = _check(frame, LeakageConfig(), CVConfig(strategy="kfold"))
    assert [(f.guard, f.column) for f in found] == [("temporal", "ts")]
    assert "validating on the past" in found[0].message
    assert "+00:00" in found[0].message  # the zone-aware times are named in UTC
    with pytest.raises(LeakageError, match=r"'ts'.*use training\.cv\.strategy time_series"):
        _check(frame, LeakageConfig(temporal="refuse"), CVConfig(strategy="kfold"))


def test_features_scaled_before_the_split_warn(frame: pd.DataFrame) -> None:
    inc = frame["income"]
    scaled = frame.assign(income=(inc - inc.mean()) / inc.std(ddof=0))
    found = _check(scaled, LeakageConfig(), CVConfig(strategy="time_series"))
    assert [(f.guard, f.column) for f in found] == [("preprocessed", "income")]


def test_the_plan_refuses_before_any_training(frame: pd.DataFrame) -> None:
    leaky = frame.assign(income=frame["default"] * 50_000.0 + 1.0)
    with pytest.raises(LeakageError, match="'income'"):
        plan_training(leaky, S, S.enabled_candidates())


def test_the_rank_auc_is_sklearn_s_roc_auc_with_ties() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    for _ in range(5):
        v = rng.integers(0, 12, 400).astype(float)  # many ties
        positive = rng.random(400) < 0.3
        assert _rank_auc(positive, v) == pytest.approx(roc_auc_score(positive, v), abs=1e-12)
