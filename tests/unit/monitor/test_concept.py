"""The concept trigger's change detector: river on the champion's per-row errors, kept on disk."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from challenger.config import CandidateConfig, Settings
from challenger.demo.streams import CATEGORICAL, ID, NUMERIC, TARGET, TIMESTAMP, Stream
from challenger.monitor.concept import error_kind, row_errors, state_path, watch_concept
from challenger.monitor.labels import newly_labelled
from challenger.store.batches import accept_batch
from challenger.store.record import VersionRecord
from challenger.store.registry import VersionInfo
from challenger.train.pipeline import build_pipeline

LR = CandidateConfig(name="lr", estimator="sklearn.linear_model.LogisticRegression")


def settings_in(root: Path, **triggers: Any) -> Settings:
    return Settings(
        data={
            "target": TARGET, "timestamp": TIMESTAMP, "id_column": ID,
            "numeric": list(NUMERIC), "categorical": list(CATEGORICAL),
        },
        validation={"ranges": {}},
        gate={"slices": []},
        triggers=triggers,
        root=root,
    )  # fmt: skip


def champion(version: int = 1, trained_on: tuple[str, ...] = ("b000",)) -> VersionInfo:
    tags = VersionRecord(training_batches=trained_on).to_tags()
    return VersionInfo("m", version, None, ("champion",), "Production", tags, "", 0)


@pytest.fixture(scope="module")
def model() -> Any:
    first = Stream(seed=2).batch(0)
    return build_pipeline(LR, NUMERIC, CATEGORICAL, 0).fit(
        first[[*NUMERIC, *CATEGORICAL]], first[TARGET]
    )


def watch(settings: Settings, model: Any, frame: pd.DataFrame, name: str, **kwargs: Any) -> Any:
    kwargs.setdefault("champion", champion())
    return watch_concept(
        settings, kwargs.pop("champion"), model, [(name, frame)], None, source=name, **kwargs
    )


def test_a_threshold_shift_alarms_within_one_batch_and_a_quiet_stream_does_not(
    tmp_path: Path, model: Any
) -> None:
    settings = settings_in(tmp_path)
    stream = Stream("threshold", change_at=9, seed=2)
    for i in range(1, 9):
        quiet = watch(settings, model, stream.batch(i), f"b{i:03d}", once=True)
        assert quiet.alarm is False, quiet.reason()
    assert quiet.rows_seen == 8000 and quiet.mean_error < 0.05

    shifted = watch(settings, model, stream.batch(9), "b009", once=True)

    assert shifted.alarm is True
    alarm = shifted.alarms[0]
    assert 8000 < alarm.row <= 9000  # within the first changed batch of 1,000 rows
    assert alarm.recent > alarm.before
    assert "the champion's errors rose" in shifted.reason()
    assert shifted.error == "per-row Brier score" and shifted.detector == "adwin"


def test_state_is_kept_per_champion_and_rows_are_fed_once(tmp_path: Path, model: Any) -> None:
    settings = settings_in(tmp_path)
    stream = Stream(seed=3)
    first = watch(settings, model, stream.batch(1), "b001", once=True)
    again = watch(settings, model, stream.batch(1), "b001", once=True)
    second = watch(settings, model, stream.batch(2), "b002", once=True)

    assert (first.rows_fed, again.rows_fed, second.rows_fed) == (1000, 0, 1000)
    assert "b001 was fed to the detector before" in again.notes[0]
    assert second.rows_seen == 2000
    saved = json.loads(state_path(settings.path(settings.data.accepted_dir), 1).read_text())
    assert saved["champion_version"] == 1 and saved["rows"] == 2000
    assert saved["fed"] == {"b001": 1000, "b002": 1000} and saved["river"].startswith("0.26")

    fresh = watch(settings, model, stream.batch(3), "b003", champion=champion(2))
    assert fresh.rows_seen == 1000 and fresh.champion_version == 2  # a new champion: a new detector
    own = watch(settings, model, stream.batch(0), "b000", champion=champion(2))
    assert own.rows_fed == 0 and "training window" in own.notes[0]

    changed = settings_in(tmp_path, concept={"params": {"delta": 0.0005}})
    reset = watch(changed, model, stream.batch(4), "b004")
    assert reset.rows_seen == 1000 and "changed since" in reset.notes[0]
    path = state_path(settings.path(settings.data.accepted_dir), 1)
    path.write_text("{not json", encoding="utf-8")
    broken = watch(changed, model, stream.batch(5), "b005")
    assert broken.rows_seen == 1000 and "could not be read" in broken.notes[0]


def test_off_returns_nothing(tmp_path: Path, model: Any) -> None:
    off = settings_in(tmp_path, concept={"enabled": False})
    assert watch(off, model, Stream().batch(1), "b001") is None
    assert not (tmp_path / "data" / "accepted" / "concept").exists()


def test_errors_by_task_and_detector(tmp_path: Path, model: Any) -> None:
    settings = settings_in(tmp_path)
    rows = Stream(seed=4).batch(1)
    brier = row_errors(model, rows, settings, "brier", None)
    mistakes = row_errors(model, rows, settings, "mistake", None)
    proba = model.predict_proba(rows[[*NUMERIC, *CATEGORICAL]])[:, 1]

    assert brier == pytest.approx((rows[TARGET] - proba) ** 2)
    assert set(np.unique(mistakes)) <= {0.0, 1.0}
    assert mistakes.mean() == pytest.approx(((proba >= 0.5) != rows[TARGET]).mean())
    assert (error_kind("binary", "adwin"), error_kind("multiclass", "ddm")) == ("brier", "mistake")
    assert error_kind("regression", "page_hinkley") == "large_error"
    ddm = settings_in(tmp_path / "ddm", concept={"detector": "ddm"})
    result = watch(ddm, model, rows, "b001")
    assert result.error == "per-row mistakes at the operating threshold"
    assert result.rows_fed == 1000 and result.mean_error == pytest.approx(mistakes.mean())


def test_page_hinkley_alarms_on_a_rise_too(tmp_path: Path, model: Any) -> None:
    # Page-Hinkley's default threshold (50) needs about 1,100 rows for this rise; 20 fewer
    settings = settings_in(
        tmp_path, concept={"detector": "page_hinkley", "params": {"threshold": 20}}
    )
    stream = Stream("threshold", change_at=3, seed=5)
    quiet = [watch(settings, model, stream.batch(i), f"b{i:03d}", once=True) for i in (1, 2)]
    assert not any(r.alarm for r in quiet)
    assert watch(settings, model, stream.batch(3), "b003", once=True).alarm


def test_label_files_feed_only_rows_labelled_for_the_first_time(tmp_path: Path) -> None:
    settings = settings_in(tmp_path)
    batch = Stream(seed=6, rows=50).batch(1)
    half = batch.assign(**{TARGET: batch[TARGET].where(batch.index < 20)})  # 20 labelled
    path = accept_batch(half, "b001", settings.path(settings.data.accepted_dir))
    labels = batch[[ID, TARGET]]

    [(name, rows)] = newly_labelled({path: labels}, settings)

    assert name == "b001" and len(rows) == 30
    assert set(rows[ID]) == set(batch[ID].iloc[20:])
    assert set(NUMERIC) <= set(rows.columns) and rows[TARGET].notna().all()


@pytest.mark.parametrize("task", ["multiclass", "regression"])
def test_other_tasks_feed_bounded_errors(tmp_path: Path, task: str) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    from challenger.demo.simulator import simulate_batch

    metric = "rmse" if task == "regression" else "roc_auc"
    settings = Settings(
        data={"task": task}, training={"primary_metric": metric}, gate={"first_champion_floor": None},
        validation={"ranges": {}}, root=tmp_path,
    )  # fmt: skip
    d = settings.data
    train, rows = simulate_batch(0, 600, 7, task=task), simulate_batch(1, 400, 7, task=task)
    estimator = (
        HistGradientBoostingRegressor if task == "regression" else HistGradientBoostingClassifier
    )
    candidate = CandidateConfig(name="m", estimator=f"sklearn.ensemble.{estimator.__name__}")
    fitted = build_pipeline(candidate, d.numeric, d.categorical, 0, task=task)
    fitted.fit(train[list(d.features)], train[d.target])

    result = watch_concept(settings, champion(), fitted, [("day-1", rows)], train, source="day-1")

    assert result is not None and result.rows_fed == 400
    assert result.mean_error is not None and 0.0 <= result.mean_error <= 1.0
    if task == "regression":  # rows beyond the champion's 90th percentile of training errors
        assert result.error.startswith("rows with an absolute error above")
        saved = json.loads(Path(result.state_file).read_text())
        assert saved["large_error_cut"] > 0 and result.mean_error > 0.05
    else:
        assert result.error == "per-row Brier score"
