"""What a retrain logs about its trigger: trigger.json for every retrain."""

from __future__ import annotations

from challenger.monitor.triggers import TriggerDecision
from challenger.store.record import VersionRecord
from challenger.train.log import NO_EVIDENCE, trigger_document


def test_a_retrain_started_without_evidence_says_so() -> None:
    doc = trigger_document("manual", None)
    assert doc["trigger"] == "manual" and doc["evidence"] == {} and not doc["monitor_evidence"]
    assert doc["reasons"] == [f"manual retrain {NO_EVIDENCE}"]
    assert "Prefect UI" in NO_EVIDENCE
    record = VersionRecord().with_trigger(doc)
    assert record.trigger_reasons == (f"manual retrain {NO_EVIDENCE}",)
    assert record.trigger_evidence is None  # no evidence is not "{}"


def test_the_monitors_evidence_is_kept_as_it_fired() -> None:
    fired = TriggerDecision(True, "data_change", ("drift share 50 %",), {"drift_share": 0.5})
    doc = trigger_document("data_change", fired.to_dict())
    assert doc["reasons"] == ["drift share 50 %"] and doc["evidence"] == {"drift_share": 0.5}
    assert doc["monitor_evidence"] is True
    given = trigger_document("manual", {"reasons": ["manual retrain of gbm"]})
    assert given["reasons"] == ["manual retrain of gbm"] and given["trigger"] == "manual"
