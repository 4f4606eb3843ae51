"""The champion's performance windows and the batches since its training window."""

from __future__ import annotations

from pathlib import Path

from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from challenger.config import Settings
from challenger.demo.simulator import Period, simulate_batch
from challenger.monitor.performance import (
    batches_since,
    performance_windows,
    recent_labelled,
)
from challenger.store.batches import accept_batch

SETTINGS = Settings()


FEATURES = list(SETTINGS.data.features)


def test_batches_since_the_champion() -> None:
    assert batches_since(["d0", "d1", "d2"], ["d0"]) == 2
    assert batches_since(["d0", "d1", "d2"], ["d1", "d2"]) == 0
    assert batches_since(["d0"], ["elsewhere"]) is None
    assert batches_since(["d0"], []) is None


def test_performance_windows_score_the_newest_complete_windows(tmp_path: Path) -> None:
    train = simulate_batch(0, 3000, 7)
    d = SETTINGS.data
    model = make_pipeline(
        ColumnTransformer(
            [
                ("num", StandardScaler(), list(d.numeric)),
                ("cat", OneHotEncoder(handle_unknown="ignore"), list(d.categorical)),
            ]
        ),
        LogisticRegression(max_iter=1000),
    ).fit(train[FEATURES], train["default"])

    accepted_dir = tmp_path / "accepted"
    accept_batch(simulate_batch(1, 700, 7), "day-001", accepted_dir)
    accept_batch(simulate_batch(2, 700, 7, Period(1.0, 1.0)), "day-002", accepted_dir)
    settings = Settings.model_validate(
        {"triggers": {"performance": {"window_rows": 400, "windows": 3, "breaches": 2}}}
    )

    labelled, used = recent_labelled(accepted_dir, settings, exclude={"day-000"}, max_rows=1200)
    windows = performance_windows(
        model, labelled, settings, reference_value=0.8, references={"brier": 0.12}
    )

    assert used == ["day-001", "day-002"] and len(labelled) == 1200
    assert labelled["ts"].is_monotonic_increasing
    auc = [w for w in windows if w.metric == "roc_auc"]
    brier = [w for w in windows if w.metric == "brier"]
    assert [w.metric for w in windows] == ["roc_auc"] * 3 + ["brier"] * 3  # primary first
    assert [w.n_rows for w in auc] == [400, 400, 400]
    assert auc[0].window.startswith("rows 1-400") and auc[-1].window.startswith("rows 801-1200")
    assert all(w.reference == 0.8 and w.margin is None for w in auc)
    # brier is watched by default for classification, with its own margin and reference
    assert all(w.reference == 0.12 and w.margin == 0.02 and not w.higher_is_better for w in brier)
    # the newest window is all drifted rows: the old model does worse there, on both
    assert auc[-1].value < auc[0].value and brier[-1].value > brier[0].value
    assert performance_windows(model, labelled.head(399), settings, 0.8) == []
    only_auc = Settings.model_validate(
        {"triggers": {"performance": {"window_rows": 400, "also_watch": {}}}}
    )
    assert {w.metric for w in performance_windows(model, labelled, only_auc, 0.8)} == {"roc_auc"}
