"""The typed version record: tags written, read back, and only what is set."""

from __future__ import annotations

import json

from challenger.monitor.triggers import TriggerDecision
from challenger.store.record import SUMMARY_TAGS, TAG, Delta, VersionRecord, is_record_tag


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


def _full() -> VersionRecord:
    return VersionRecord(
        trigger="data_change",
        trigger_reasons=("drift share 40 %",),
        trigger_evidence='{"drift_share": 0.4}',
        data_fingerprint="0123456789abcdef",
        cv_strategy="time_series(k=5)",
        candidate="gbm",
        estimator="sklearn.ensemble.HistGradientBoostingClassifier",
        cv_scores={"roc_auc": "0.8123 ± 0.0100"},
        training_batches=("day-001", "day-002", "day-003"),
        train_rows=700,
        holdout_rows=300,
        train_max_ts="2026-01-03 23:59:00",
        train_min_ts="2026-01-01 00:00:00",
        train_fingerprint_rows=698,
        holdout_seen_champion=0,
        training_seconds=1.25,
        model_size_mb=0.25,
        gate_decision="PROMOTE",
        gate_reason="the lower bound clears +0.002",
        holdout={"roc_auc": 0.8612, "log_loss": 0.41},
        compared_with="v2",
        delta=Delta("roc_auc", 0.0211, 0.0102, 0.032, "challenger better"),
        online={"strategy": "shadow", "action": "promote"},
    )


def test_the_complete_record_round_trips_through_its_artifact_form() -> None:
    record = _full()
    data = json.loads(json.dumps(record.to_dict()))  # what record/v<N>.json holds
    assert data["schema"] == 1 and data["training_batches"] == ["day-001", "day-002", "day-003"]
    assert "gate_override" not in data  # only what is set
    assert VersionRecord.from_dict(data) == record
    assert VersionRecord.from_dict({"schema": 99, "later_field": 1}) == VersionRecord()
    long = VersionRecord(gate_reason="r" * 9000, trigger_evidence="e" * 9000)
    assert VersionRecord.from_dict(long.to_dict()) == long  # an artifact is not cut


def test_the_summary_is_a_handful_of_short_tags_a_person_can_read() -> None:
    tags = _full().summary_tags()
    assert len(tags) <= 8 and all(len(v) < 120 for v in tags.values())
    assert set(tags) <= set(SUMMARY_TAGS)
    assert tags[f"{TAG}gate_decision"] == "PROMOTE" and tags[f"{TAG}trigger"] == "data_change"
    assert tags[f"{TAG}vs_champion"] == "roc_auc 0.8612, +0.0211 vs v2 (challenger better)"
    assert tags[f"{TAG}cv_strategy"] == "time_series(k=5): roc_auc 0.8123 ± 0.0100"
    assert tags[f"{TAG}trained_on"] == (
        "2026-01-01 00:00:00 → 2026-01-03 23:59:00 · 700 rows · 3 batches (day-001 … day-003)"
    )
    first = VersionRecord(holdout={"rmse": 3.5}, compared_with="none").summary_tags()
    assert first[f"{TAG}vs_champion"] == "rmse 3.5000, no champion to compare with"
    assert VersionRecord(gate_decision="PENDING").summary_tags() == {
        f"{TAG}gate_decision": "PENDING"
    }


def test_the_summary_tags_give_back_what_a_snapshot_reader_needs() -> None:
    """``challenger status`` and the lineage read tags only: every field they use is there."""
    back = VersionRecord.from_tags(_full().summary_tags() | {"mlflow.x": "y"})
    assert back.gate_decision == "PROMOTE" and back.trigger == "data_change"
    assert back.candidate == "gbm" and back.data_fingerprint == "0123456789abcdef"
    assert back.cv_strategy == "time_series(k=5)" and back.cv_scores == {
        "roc_auc": "0.8123 ± 0.0100"
    }
    assert back.holdout == {"roc_auc": 0.8612} and back.holdout_value("roc_auc") == 0.8612
    assert back.compared_with == "v2"
    assert back.delta == Delta("roc_auc", 0.0211, verdict="challenger better")
    assert (back.train_min_ts, back.train_max_ts) == ("2026-01-01 00:00:00", "2026-01-03 23:59:00")
    assert back.train_rows == 700
    only_max = VersionRecord(train_max_ts="2026-01-03T00:00:00", train_rows=5).summary_tags()
    assert VersionRecord.from_tags(only_max).train_max_ts == "2026-01-03T00:00:00"
    first = VersionRecord.from_tags(
        VersionRecord(holdout={"rmse": 3.5}, compared_with="none").summary_tags()
    )
    assert first.compared_with == "none" and first.delta is None and first.holdout == {"rmse": 3.5}


def test_a_version_recorded_the_older_way_still_reads_completely() -> None:
    """Versions registered before the artifact carry every field as a tag (22 of them)."""
    legacy = {
        "challenger.trigger": "data_change",
        "challenger.trigger_reasons": "drift share 40 %",
        "challenger.trigger_evidence": '{"drift_share": 0.4}',
        "challenger.data_fingerprint": "0123456789abcdef",
        "challenger.cv_strategy": "time_series(k=5)",
        "challenger.candidate": "gbm",
        "challenger.estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
        "challenger.cv_roc_auc": "0.8123 ± 0.0100",
        "challenger.training_batches": "day-001,day-002,day-003",
        "challenger.train_rows": "700",
        "challenger.holdout_rows": "300",
        "challenger.train_max_ts": "2026-01-03 23:59:00",
        "challenger.train_min_ts": "2026-01-01 00:00:00",
        "challenger.train_fingerprint_rows": "698",
        "challenger.holdout_seen_champion": "0",
        "challenger.training_seconds": "1.2500",
        "challenger.model_size_mb": "0.2500",
        "challenger.gate_decision": "PROMOTE",
        "challenger.gate_reason": "the lower bound clears +0.002",
        "challenger.holdout_roc_auc": "0.861200",
        "challenger.holdout_log_loss": "0.410000",
        "challenger.compared_with": "v2",
        "challenger.delta_roc_auc": "+0.021100",
        "challenger.delta_lower": "+0.010200",
        "challenger.delta_upper": "+0.032000",
        "challenger.delta_verdict": "challenger better",
        "challenger.online_strategy": "shadow",
        "challenger.online_action": "promote",
    }
    assert VersionRecord.from_tags(legacy) == _full()
    assert all(is_record_tag(k) for k in legacy)
    assert not any(is_record_tag(k) for k in ("challenger.demo", "mlflow.note", "other"))
    # its first update moves it to the artifact; the summary it then shows reads the same
    moved = VersionRecord.from_tags(legacy).updated(VersionRecord(rolled_back="bad on live"))
    assert moved.rolled_back == "bad on live" and moved.training_batches == _full().training_batches


def test_a_change_replaces_only_the_fields_it_sets() -> None:
    record = _full()
    assert record.updated(VersionRecord()) == record
    abandoned = record.updated(VersionRecord(gate_decision="ABANDONED"))
    assert abandoned.gate_decision == "ABANDONED" and abandoned.holdout == record.holdout
    online = record.updated(VersionRecord(online={"strategy": "canary", "action": "rollback"}))
    assert online.online == {"strategy": "canary", "action": "rollback"}  # the review's own


def test_the_note_says_what_a_person_did_last() -> None:
    assert _full().note() == "online shadow: promote"
    assert VersionRecord(rolled_back="r", gate_override="o").note() == "rolled back: r"
    assert VersionRecord(gate_override="hotfix").note() == "promoted by force: hotfix"
    assert VersionRecord(restored_by_rollback="x").note() == "champion again by a rollback: x"
    assert VersionRecord(gate_decision="REJECT").note() is None
    assert len(VersionRecord(rolled_back="y" * 900).note() or "") == 500
    assert VersionRecord(online={"action": "rollback"}).note(online=False) is None
