"""The typed version record: tags written, read back, and only what is set."""

from __future__ import annotations

import json

from challenger.monitor.triggers import TriggerDecision
from challenger.store.record import TAG, Delta, VersionRecord


def test_a_record_round_trips_through_its_tags() -> None:
    record = VersionRecord(
        trigger="data_change",
        trigger_reasons=("drift share 40 %", "new categories"),
        trigger_evidence='{"drift_share": 0.4}',
        data_fingerprint="0123456789abcdef",
        cv_strategy="time_series(k=5)",
        candidate="gbm",
        estimator="sklearn.ensemble.HistGradientBoostingClassifier",
        cv_scores={"roc_auc": "0.8123 ± 0.0100"},
        training_batches=("day-001", "day-002"),
        train_rows=700,
        holdout_rows=300,
        train_max_ts="2026-01-02 23:59:00",
        train_min_ts="2026-01-01 00:00:00",
        train_fingerprint_rows=698,
        holdout_draw="the newest 300 rows by ts",
        holdout_excluded=4,
        holdout_seen_challenger=0,
        holdout_seen_champion=0,
        training_seconds=1.25,
        peak_memory_mb=12.5,
        model_size_mb=0.25,
        gate_decision="PROMOTE",
        gate_action="promote",
        gate_reason="the lower bound clears +0.002",
        gate_mode="enabled",
        holdout={"roc_auc": 0.81},
        compared_with="v1",
        delta=Delta("roc_auc", 0.012, 0.004, 0.02, "challenger better"),
        online={"strategy": "shadow", "action": "promote"},
    )
    tags = record.to_tags()
    assert tags[f"{TAG}training_batches"] == "day-001,day-002"
    assert tags[f"{TAG}holdout_roc_auc"] == "0.810000"
    assert tags[f"{TAG}delta_roc_auc"] == "+0.012000"
    assert tags[f"{TAG}online_strategy"] == "shadow"
    assert tags[f"{TAG}holdout_seen_champion"] == "0"
    assert tags[f"{TAG}delta_verdict"] == "challenger better"
    assert VersionRecord.from_tags(tags | {"mlflow.note": "x"}) == record


def test_what_a_version_trained_on_is_no_holdout_metric() -> None:
    """Provenance fields share the holdout_ prefix with the metrics but are not one of them."""
    record = VersionRecord(
        holdout_rows=133, holdout_seen_challenger=0, holdout_seen_champion=2, holdout_excluded=309,
        holdout={"rmse": 54.2}, delta=Delta("rmse", 23.5, 16.9, 30.0, "challenger worse"),
    )  # fmt: skip
    back = VersionRecord.from_tags(record.to_tags())
    assert back.holdout == {"rmse": 54.2} and back.holdout_seen_champion == 2
    assert back.delta == Delta("rmse", 23.5, 16.9, 30.0, "challenger worse")


def test_only_the_fields_that_are_set_are_written() -> None:
    assert VersionRecord().to_tags() == {}
    assert VersionRecord(model_size_mb=0.123456).to_tags() == {f"{TAG}model_size_mb": "0.1235"}
    parsed = VersionRecord.from_tags({f"{TAG}holdout_rows": "300", f"{TAG}holdout_rmse": "x"})
    assert parsed.holdout_rows == 300 and parsed.holdout == {}  # a bad number is not a value


def test_trigger_reasons_and_evidence_stay_within_mlflows_limit() -> None:
    d = TriggerDecision(True, "data_change", ("drift share 50 %",), {"drifted_columns": ["income"]})
    tags = VersionRecord().with_trigger(d.to_dict()).to_tags()
    assert tags[f"{TAG}trigger_reasons"] == "drift share 50 %"
    assert json.loads(tags[f"{TAG}trigger_evidence"])["drifted_columns"] == ["income"]
    huge = d.to_dict() | {"reasons": ["x" * 6000]}
    assert len(VersionRecord().with_trigger(huge).to_tags()[f"{TAG}trigger_reasons"]) == 5000
    assert VersionRecord().with_trigger(None).to_tags() == {}
    note = VersionRecord(rolled_back="y" * 900).to_tags()[f"{TAG}rolled_back"]
    assert len(note) == 500
