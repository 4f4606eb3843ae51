"""The effectiveness alarm: a degrading lineage raises it, a healthy one does not."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from challenger.config import EffectivenessConfig
from challenger.monitor.lineage import (
    ALARM,
    Promotion,
    assess_lineage,
    lineage,
    lineage_plot,
    retrain_times,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = EffectivenessConfig()


def world(levels: list[float], gaps_hours: list[float]) -> tuple[list[Promotion], list[datetime]]:
    """Promotions with these recovered levels, each after a triggered retrain these hours apart."""
    times = [T0]
    for gap in gaps_hours:
        times.append(times[-1] + timedelta(hours=gap))
    promos = [
        Promotion(i + 1, t, "performance", level)
        for i, (t, level) in enumerate(zip(times, levels, strict=False))
    ]
    return promos, times


def test_a_lineage_that_recovers_less_ever_sooner_raises_the_alarm() -> None:
    promos, retrains = world([0.86, 0.85, 0.83, 0.81, 0.79], [96, 72, 48, 30])
    verdict = assess_lineage(promos, retrains, "roc_auc", POLICY)
    assert verdict.alarm
    assert verdict.message.startswith(ALARM)
    assert verdict.levels == (0.86, 0.85, 0.83, 0.81, 0.79)
    assert verdict.intervals_hours == (96, 72, 48, 30)
    assert verdict.level_slope is not None and verdict.level_slope < 0


def test_a_healthy_lineage_raises_nothing() -> None:
    promos, retrains = world([0.84, 0.85, 0.84, 0.85, 0.85], [72, 70, 75, 71])
    verdict = assess_lineage(promos, retrains, "roc_auc", POLICY)
    assert not verdict.alarm
    assert "still pays off" in verdict.message


def test_both_signs_are_needed() -> None:
    falling_steady = world([0.86, 0.84, 0.82, 0.80, 0.78], [72, 72, 72, 72])
    assert not assess_lineage(*falling_steady, "roc_auc", POLICY).alarm
    steady_faster = world([0.85, 0.85, 0.85, 0.85, 0.85], [96, 72, 48, 24])
    assert not assess_lineage(*steady_faster, "roc_auc", POLICY).alarm


def test_for_a_loss_a_rising_value_is_the_decline() -> None:
    worse = world([10.0, 10.5, 11.0, 11.8, 12.5], [96, 72, 48, 30])
    assert assess_lineage(*worse, "rmse", POLICY).alarm
    better = world([12.5, 11.8, 11.0, 10.5, 10.0], [96, 72, 48, 30])
    assert not assess_lineage(*better, "rmse", POLICY).alarm


def test_too_little_history_says_why_and_the_switch_turns_it_off() -> None:
    promos, retrains = world([0.86, 0.80], [10])
    verdict = assess_lineage(promos, retrains, "roc_auc", POLICY)
    assert not verdict.alarm and "too little history" in verdict.message
    degrading = world([0.86, 0.85, 0.83, 0.81, 0.79], [96, 72, 48, 30])
    off = EffectivenessConfig(enabled=False)
    assert not assess_lineage(*degrading, "roc_auc", off).alarm


def test_the_lineage_is_read_from_history_and_records(tmp_path: Path) -> None:
    history = [
        {"n": 1, "at": "2026-01-01T00:00:00+00:00", "kind": "promote", "to": 1, "status": "done"},
        {
            "n": 2,
            "at": "2026-01-03T00:00:00+00:00",
            "kind": "promote",
            "to": 2,
            "status": "started",
        },
        {"n": 3, "at": "2026-01-04T00:00:00+00:00", "kind": "rollback", "to": 1, "status": "done"},
        {"n": 4, "at": "2026-01-05T00:00:00+00:00", "kind": "forced", "to": 3, "status": "done"},
    ]
    tags = {
        1: {"challenger.trigger": "bootstrap", "challenger.holdout_roc_auc": "0.81"},
        2: {"challenger.trigger": "performance", "challenger.holdout_roc_auc": "0.83"},
        3: {"challenger.trigger": "data_change", "challenger.holdout_roc_auc": "0.82"},
    }
    got = lineage(history, tags, "roc_auc")
    assert [(p.version, p.trigger, p.recovered) for p in got] == [
        (1, "bootstrap", 0.81),
        (3, "data_change", 0.82),
    ], "unfinished moves and rollbacks start no new champion"
    times = retrain_times(tags, {1: 0, 2: 3_600_000, 3: 7_200_000})
    assert [t.hour for t in times] == [1, 2], "only retrains the data asked for count"
    png = lineage_plot(got, times, "roc_auc", tmp_path / "lineage.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    json.dumps(assess_lineage(got, times, "roc_auc", POLICY).to_dict())


def test_the_pace_is_measured_in_the_data_s_time_where_there_is_one() -> None:
    tags = {
        2: {"challenger.trigger": "performance", "challenger.train_max_ts": "2026-03-01 00:00:00"},
        3: {"challenger.trigger": "concept", "challenger.train_max_ts": "2026-03-04T00:00:00"},
        4: {"challenger.trigger": "manual", "challenger.train_max_ts": "2026-03-05T00:00:00"},
    }
    times = retrain_times(tags, {2: 0, 3: 1, 4: 2})
    assert [(t.month, t.day) for t in times] == [(3, 1), (3, 4)]
