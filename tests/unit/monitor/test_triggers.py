"""Unit tests for challenger.triggers: each trigger's policy, k-of-n windows and the cooldown."""

from __future__ import annotations

from typing import Any

import pytest

from challenger.config import (
    CooldownConfig,
    DataChangeTriggerConfig,
    PerformanceTriggerConfig,
    TriggersConfig,
)
from challenger.errors import ConfigError
from challenger.monitor.triggers import PerformanceObservation, decide_retrain, window_breach

POLICY = TriggersConfig(
    data_change=DataChangeTriggerConfig(drift_share=0.3, new_labelled_rows=1000),
    performance=PerformanceTriggerConfig(margin=0.03, window_rows=500, windows=3, breaches=2),
    cooldown=CooldownConfig(batches=1),
)


def auc(value: float, reference: float | None = 0.80, window: str = "") -> PerformanceObservation:
    return PerformanceObservation("roc_auc", value, reference, 500, window=window)


def decide(**kwargs: Any) -> Any:
    kwargs.setdefault("policy", POLICY)
    kwargs.setdefault("has_champion", True)
    kwargs.setdefault("drift_share", 0.0)
    return decide_retrain(**kwargs)


# --- bootstrap, manual, interval ----------------------------------------------------------


def test_no_champion_bootstraps() -> None:
    d = decide_retrain(policy=POLICY, has_champion=False, drift_share=None)
    assert d.retrain and d.trigger == "bootstrap"


@pytest.mark.parametrize("requested", ["manual", "interval"])
def test_manual_and_interval_are_forced(requested: str) -> None:
    d = decide(requested=requested)
    assert d.retrain and d.trigger == requested
    assert d.reasons[0] == f"{requested} retrain requested"


def test_an_unknown_request_is_not_forced() -> None:
    d = decide(requested="scheduled")
    assert not d.retrain and d.trigger == "none"


# --- data change --------------------------------------------------------------------------


def test_quiet_batch_does_not_retrain_and_says_why() -> None:
    d = decide(drift_share=0.1, performance_windows=[auc(0.79), auc(0.80), auc(0.78)])
    assert not d.retrain and d.trigger == "none"
    assert "drift share 10% < 30%" in d.reasons[0]
    assert "0 of 3 window(s)" in d.reasons[0]


def test_drift_share_at_threshold_fires_with_its_evidence() -> None:
    d = decide(drift_share=0.3, drifted_columns=("income", "channel"))
    assert d.retrain and d.trigger == "data_change"
    assert d.reasons[0] == "30% of features drifted (threshold 30%): income, channel"
    assert d.evidence["drift_share"] == 0.3
    assert d.evidence["drifted_columns"] == ["income", "channel"]
    just_below = decide(drift_share=0.29)
    assert not just_below.retrain


def test_schema_change_fires_unless_switched_off() -> None:
    changes = ("new column 'promo_code'", "column 'channel' has new categories ['crypto']")
    d = decide(schema_changes=changes)
    assert d.retrain and d.trigger == "data_change"
    assert "new column 'promo_code'" in d.reasons[0] and "crypto" in d.reasons[0]
    assert d.evidence["schema_changes"] == list(changes)

    off = TriggersConfig(data_change=DataChangeTriggerConfig(schema_change=False))
    ignored = decide(policy=off, schema_changes=changes)
    assert not ignored.retrain and "schema changes ignored" in ignored.reasons[0]


def test_enough_new_labelled_rows_fire() -> None:
    assert not decide(new_labelled_rows=999).retrain
    d = decide(new_labelled_rows=1000)
    assert d.retrain and d.trigger == "data_change"
    assert "1000 labelled rows arrived" in d.reasons[0]
    # without a threshold the count is evidence only
    plain = decide(policy=TriggersConfig(), new_labelled_rows=10**6)
    assert not plain.retrain and plain.evidence["new_labelled_rows"] == 10**6


# --- performance: k of the last n windows -------------------------------------------------


def test_one_bad_window_of_three_does_not_retrain() -> None:
    d = decide(performance_windows=[auc(0.80), auc(0.70), auc(0.79)])
    assert not d.retrain
    assert d.evidence["performance"]["breached"] == 1


def test_two_bad_windows_of_the_last_three_retrain() -> None:
    windows = [auc(0.60, window="w0"), auc(0.80), auc(0.76), auc(0.70, window="w3")]
    d = decide(performance_windows=windows)
    assert d.retrain and d.trigger == "performance"
    assert "breached in 2 of the last 3 windows" in d.reasons[0]
    perf = d.evidence["performance"]
    # only the newest three count: w0 (0.60) is too old
    assert [w["value"] for w in perf["windows"]] == [0.80, 0.76, 0.70]
    assert [w["breach"] is not None for w in perf["windows"]] == [False, True, True]
    assert perf["k"] == 2 and perf["n"] == 3 and perf["windows"][-1]["window"] == "w3"


def test_too_few_windows_cannot_reach_k() -> None:
    assert not decide(performance_windows=[auc(0.5)]).retrain
    single = TriggersConfig(performance=PerformanceTriggerConfig(windows=1, breaches=1))
    assert decide(policy=single, performance=auc(0.5)).trigger == "performance"


def test_floor_margin_and_metric_direction() -> None:
    policy = PerformanceTriggerConfig(floor=0.75, margin=0.03)
    assert window_breach(auc(0.74, reference=None), policy) == "0.7400 is below the floor 0.75"
    assert window_breach(auc(0.76, reference=0.80), policy) is not None  # 0.04 > margin
    assert window_breach(auc(0.78, reference=0.80), policy) is None  # 0.02 within margin
    loss = PerformanceObservation("log_loss", 0.50, 0.40, 500, higher_is_better=False)
    assert window_breach(loss, policy) is not None  # a higher loss is worse
    better = PerformanceObservation("log_loss", 0.30, 0.40, 500, higher_is_better=False)
    assert window_breach(better, policy) is None


def test_k_cannot_exceed_n() -> None:
    with pytest.raises(ValueError, match="cannot exceed windows"):
        PerformanceTriggerConfig(windows=2, breaches=3)


def test_k_of_n_in_the_yaml_is_checked(tmp_path: Any) -> None:
    from challenger.config import load_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text("triggers:\n  performance:\n    windows: 2\n    breaches: 3\n")
    with pytest.raises(ConfigError, match=r"triggers\.performance.*cannot exceed"):
        load_config(cfg)


# --- cooldown -----------------------------------------------------------------------------


def test_cooldown_in_batches_holds_data_triggers_but_not_manual() -> None:
    held = decide(drift_share=0.9, batches_since_retrain=1)
    assert not held.retrain and held.trigger == "none"
    assert "ignored during cooldown" in held.reasons[0]
    assert held.evidence["cooldown"] == "1 batch(es) since the last retrain; cooldown is 1"

    manual = decide(drift_share=0.9, batches_since_retrain=0, requested="manual")
    assert manual.retrain and manual.trigger == "manual"
    assert any("ignored during cooldown" in r for r in manual.reasons)

    later = decide(drift_share=0.9, batches_since_retrain=2)
    assert later.retrain and later.trigger == "data_change"


def test_cooldown_in_minutes_stops_a_retrain_storm() -> None:
    policy = TriggersConfig(cooldown=CooldownConfig(minutes=30))
    storm = [decide(policy=policy, drift_share=0.9, minutes_since_retrain=m) for m in (1, 29.9)]
    assert [d.retrain for d in storm] == [False, False]
    assert "minute(s) since the last retrain; cooldown is 30" in storm[0].evidence["cooldown"]
    assert decide(policy=policy, drift_share=0.9, minutes_since_retrain=30).retrain
    assert decide(policy=policy, drift_share=0.9, minutes_since_retrain=None).retrain


def test_cooldown_also_holds_performance() -> None:
    windows = [auc(0.6), auc(0.6), auc(0.6)]
    d = decide(performance_windows=windows, batches_since_retrain=0)
    assert not d.retrain and "performance" in d.evidence and "cooldown" in d.evidence


def test_every_reason_is_kept_and_the_first_trigger_named() -> None:
    d = decide(
        drift_share=0.5,
        drifted_columns=tuple(f"c{i}" for i in range(8)),
        schema_changes=("new column 'x'",),
        performance_windows=[auc(0.6), auc(0.6), auc(0.6)],
    )
    assert d.trigger == "data_change" and len(d.reasons) == 3
    assert d.reasons[0].endswith("c0, c1, c2, c3, c4, c5 …")
    assert d.reasons[2].startswith("champion roc_auc breached in 3 of the last 3")
    assert d.to_dict()["reasons"] == list(d.reasons)


# --- watched metrics, the change detector, the drift control's record -----------------------


def brier(value: float, reference: float | None = 0.10) -> PerformanceObservation:
    return PerformanceObservation("brier", value, reference, 500, False, margin=0.02)


def test_a_watched_metric_fires_on_its_own_margin_while_the_primary_holds() -> None:
    """A moved threshold: ROC AUC stays, the Brier score rises."""
    windows = [auc(0.80), auc(0.80), auc(0.80), brier(0.11), brier(0.13), brier(0.14)]
    d = decide(performance_windows=windows)

    assert d.retrain and d.trigger == "performance"
    assert d.reasons[0].startswith("champion brier breached in 2 of the last 3 windows")
    assert "with margin 0.02" in d.reasons[0]
    assert d.evidence["performance"]["metric"] == "roc_auc"  # the primary keeps its shape
    watched = d.evidence["performance_watched"]["brier"]
    assert watched["breached"] == 2 and watched["floor"] is None and watched["margin"] == 0.02
    assert window_breach(brier(0.125), POLICY.performance) == (
        "0.1250 is more than 0.02 above the holdout value 0.1000"
    )
    # a floor is for the primary metric only; without a holdout value nothing breaches
    floored = PerformanceTriggerConfig(floor=0.9)
    assert window_breach(brier(0.95, reference=None), floored) is None
    quiet = decide(performance_windows=[auc(0.8), brier(0.5, reference=None)] * 2)
    assert not quiet.retrain
    assert any("no holdout value to compare with" in r for r in quiet.reasons)


def test_the_default_watch_is_brier_for_classification_only() -> None:
    policy = PerformanceTriggerConfig()
    assert policy.watched("binary") == {"brier": 0.02} == policy.watched("multiclass")
    assert policy.watched("regression") == {}
    assert PerformanceTriggerConfig(also_watch={}).watched("binary") == {}
    with pytest.raises(ValueError, match="margins must be 0 or more"):
        PerformanceTriggerConfig(also_watch={"brier": -1})


def test_a_watched_metric_must_fit_the_task(tmp_path: Any) -> None:
    from challenger.config import load_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text("triggers:\n  performance:\n    also_watch: {rmse: 0.1}\n")
    with pytest.raises(ConfigError, match="also_watch: names 'rmse'"):
        load_config(cfg)
    cfg.write_text("triggers:\n  concept:\n    params: {threshold: 3}\n")
    with pytest.raises(ConfigError, match="not parameters of the adwin detector"):
        load_config(cfg)


def concept(alarm: bool) -> Any:
    from challenger.monitor.concept import ConceptAlarm, ConceptResult

    alarms = (ConceptAlarm(8200, "b009", 0.02, 0.09),) if alarm else ()
    return ConceptResult("adwin", "per-row Brier score", 1, 1000, 9000, 0.05, alarms)


def test_the_change_detector_is_a_trigger_of_its_own() -> None:
    d = decide(concept=concept(True))
    assert d.retrain and d.trigger == "concept"
    assert d.reasons[0].startswith("the champion's errors rose (adwin on the per-row Brier")
    assert d.evidence["concept"]["alarm"] is True and d.evidence["concept"]["rows_seen"] == 9000

    quiet = decide(concept=concept(False))
    assert not quiet.retrain and "adwin saw no rise" in quiet.reasons[0]
    held = decide(concept=concept(True), batches_since_retrain=0)
    assert not held.retrain and "ignored during cooldown" in held.reasons[0]


def test_the_drift_control_travels_with_the_evidence() -> None:
    control = {"method": "holm", "error": "family-wise error rate", "rate": 0.05}
    d = decide(
        drift_share=0.4,
        drifted_columns=("x0",),
        drift_control=control,
        drift_notes=("Column 'c0' holds integer codes ...",),
    )
    assert d.reasons[0].endswith("x0 (family-wise error rate 5%)")
    assert d.evidence["drift_control"] == control
    assert d.evidence["drift_notes"] == ["Column 'c0' holds integer codes ..."]


def test_retrain_event_names_the_trigger_and_carries_its_evidence() -> None:
    from challenger.monitor.triggers import REQUESTED_EVENT, TriggerDecision, retrain_event

    drift = TriggerDecision(True, "data_change", ("3 columns drifted",), {"columns": ["a"]})
    ask = retrain_event(drift, "churn", ("b1", "b2"), "/x/challenger.yaml")
    assert ask.event == "challenger.drift.detected"
    assert ask.resource["prefect.resource.id"] == "challenger.model.churn"
    assert ask.payload["batches"] == ["b1", "b2"]
    assert ask.payload["evidence"]["evidence"] == {"columns": ["a"]}
    manual = TriggerDecision(True, "manual", ("asked",))
    assert retrain_event(manual, "churn", (), None).event == REQUESTED_EVENT
