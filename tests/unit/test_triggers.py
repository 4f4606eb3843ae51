from __future__ import annotations

from challenger.config import TriggersConfig
from challenger.triggers import PerformanceObservation, decide_retrain

POLICY = TriggersConfig(drift_share=0.3, performance_margin=0.03, cooldown_batches=1)


def test_no_champion_bootstraps() -> None:
    d = decide_retrain(policy=POLICY, has_champion=False, drift_share=None)
    assert d.retrain and d.trigger == "bootstrap"


def test_quiet_batch_does_not_retrain() -> None:
    d = decide_retrain(
        policy=POLICY,
        has_champion=True,
        drift_share=0.1,
        performance=PerformanceObservation("roc_auc", 0.79, 0.80, 500),
    )
    assert not d.retrain and d.trigger == "none"
    assert "10%" in d.reasons[0]


def test_drift_share_at_threshold_fires() -> None:
    d = decide_retrain(
        policy=POLICY, has_champion=True, drift_share=0.3, drifted_columns=("income", "channel")
    )
    assert d.retrain and d.trigger == "data_change"
    assert "income, channel" in d.reasons[0]


def test_performance_margin_and_floor() -> None:
    drop = decide_retrain(
        policy=POLICY,
        has_champion=True,
        drift_share=0.0,
        performance=PerformanceObservation("roc_auc", 0.70, 0.80, 500),
    )
    assert drop.retrain and drop.trigger == "performance"
    floor = decide_retrain(
        policy=TriggersConfig(performance_floor=0.75),
        has_champion=True,
        drift_share=0.0,
        performance=PerformanceObservation("roc_auc", 0.74, None, 500),
    )
    assert floor.retrain and "below the floor" in floor.reasons[0]
    loss = decide_retrain(
        policy=POLICY,
        has_champion=True,
        drift_share=0.0,
        performance=PerformanceObservation("log_loss", 0.50, 0.40, 500, higher_is_better=False),
    )
    assert loss.retrain and loss.trigger == "performance"


def test_manual_and_interval_are_forced() -> None:
    for requested in ("manual", "interval"):
        d = decide_retrain(policy=POLICY, has_champion=True, drift_share=0.0, requested=requested)
        assert d.retrain and d.trigger == requested


def test_cooldown_suppresses_data_triggers_but_not_manual() -> None:
    d = decide_retrain(policy=POLICY, has_champion=True, drift_share=0.9, batches_since_retrain=1)
    assert not d.retrain and "cooldown" in d.reasons[0]
    m = decide_retrain(
        policy=POLICY,
        has_champion=True,
        drift_share=0.9,
        batches_since_retrain=0,
        requested="manual",
    )
    assert m.retrain and m.trigger == "manual"
    later = decide_retrain(
        policy=POLICY, has_champion=True, drift_share=0.9, batches_since_retrain=2
    )
    assert later.retrain and later.trigger == "data_change"
