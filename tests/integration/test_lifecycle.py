"""The retraining DAG against a real sqlite MLflow store and a real Prefect harness.

One simulated stream, in order: the first champion, a quiet batch, a drifted batch that
promotes a better challenger, a corrupt batch that is quarantined, and a worse challenger
that the gate refuses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from challenger.config import load_config
from challenger.demo.simulator import Period, corrupt, simulate_batch
from challenger.errors import BatchQuarantined, DataError
from challenger.store.batches import write_table
from challenger.store.record import SUMMARY_TAGS
from challenger.store.registry import Registry

pytestmark = pytest.mark.integration


def _batch(
    cfg_path: Path, day: int, period: Period | None = None, corruption: str | None = None
) -> Path:
    s = load_config(cfg_path)
    frame = simulate_batch(day, s.simulator.rows_per_batch, s.project.seed, period or Period())
    if corruption:
        frame = corrupt(frame, corruption, seed=day)  # type: ignore[arg-type]
    return write_table(frame, cfg_path.parent / "incoming" / f"day-{day:03d}.parquet")


@pytest.fixture(scope="module")
def world(project: Path) -> dict[str, Any]:
    from flows.monitor import monitor_flow
    from flows.retrain import retrain_flow

    cfg = str(project)
    out: dict[str, Any] = {"cfg": project}
    out["day0"] = monitor_flow(batch=str(_batch(project, 0)), config=cfg).to_dict()
    out["day1"] = monitor_flow(batch=str(_batch(project, 1)), config=cfg).to_dict()
    out["day3"] = monitor_flow(batch=str(_batch(project, 3, Period(1, 1))), config=cfg).to_dict()
    reg = Registry.from_settings(load_config(project))
    out["versions_before_corrupt"] = [v.version for v in reg.versions()]
    out["corrupt_path"] = _batch(project, 4, Period(1, 1), "out_of_range")
    with pytest.raises(BatchQuarantined) as exc:
        monitor_flow(batch=str(out["corrupt_path"]), config=cfg)
    out["quarantine"] = exc.value
    out["versions_after_corrupt"] = [v.version for v in reg.versions()]
    out["worse"] = retrain_flow(reason="manual", candidates=["shallow_tree"], config=cfg).to_dict()
    out["registry"] = reg
    return out


def test_first_model_becomes_champion(world: dict[str, Any]) -> None:
    first = world["day0"]
    assert first["trigger"]["trigger"] == "bootstrap"
    r = first["retrain"]
    assert r["decision"]["outcome"] == "PROMOTE"
    assert r["champion_before"] is None and r["champion_after"] == r["challenger_version"] == 1
    names = [c["name"] for c in r["decision"]["checks"]]
    assert {
        "data_validation",
        "smoke_test",
        "holdout_newer_than_training",
        "first_champion_floor",
    } <= set(names)


def test_quiet_batch_does_not_retrain(world: dict[str, Any]) -> None:
    quiet = world["day1"]
    assert quiet["status"] == "accepted"
    assert quiet["trigger"]["retrain"] is False
    assert quiet["drift"]["drift_share"] < 0.3
    assert quiet["retrain"] is None


def test_drift_triggers_retrain_and_better_challenger_is_promoted(world: dict[str, Any]) -> None:
    drifted = world["day3"]
    assert drifted["trigger"]["retrain"] is True
    assert drifted["trigger"]["trigger"] in ("data_change", "performance")
    r = drifted["retrain"]
    assert r["decision"]["outcome"] == "PROMOTE", r["decision"]["reason"]
    boot = r["evidence"]["bootstrap"]
    assert boot["lower"] > 0 and boot["delta"] > boot["lower"]
    assert r["champion_before"] == 1 and r["champion_after"] == 2
    reg: Registry = world["registry"]
    v1, v2 = reg.version(1), reg.version(2)
    assert "champion" in v2.aliases and v2.stage == "Production"
    assert "previous-champion" in v1.aliases and v1.stage == "Archived"
    assert v2.tags["challenger.gate_decision"] == "PROMOTE"
    assert v2.tags["challenger.trigger"] == drifted["trigger"]["trigger"]
    assert len(v2.tags["challenger.data_fingerprint"]) == 16
    assert v2.tags["challenger.cv_strategy"].startswith(
        "time_series"
    )  # the default with a timestamp
    # a handful of tags to scan in the registry list; the whole record in one artifact
    assert set(v2.tags) <= set(SUMMARY_TAGS), v2.tags
    assert v2.tags["challenger.vs_champion"].startswith("roc_auc ")
    assert " vs v1 (challenger better)" in v2.tags["challenger.vs_champion"]
    assert list(v2.record.trigger_reasons) == drifted["trigger"]["reasons"]
    assert v2.record.compared_with == "v1" and v2.record.holdout_seen_champion == 0
    assert v2.record.training_batches == tuple(r["training_batches"])
    assert v2.record.training_seconds is not None and v2.record.model_size_mb is not None
    assert (
        "PROMOTE" in v2.description
        and "Paired comparison vs champion v1 (challenger − champion)" in v2.description
    )


def test_corrupt_batch_is_quarantined_and_nothing_changes(world: dict[str, Any]) -> None:
    exc: BatchQuarantined = world["quarantine"]
    folder = Path(exc.quarantine_path)
    named = world["corrupt_path"]
    assert named.exists(), "a batch the user named must stay where it is"
    assert (folder / named.name).read_bytes() == named.read_bytes()  # a copy with its report
    report = json.loads((folder / "validation.json").read_text())
    assert report["success"] is False
    assert any(f["column"] == "credit_score" for f in report["failures"])
    assert "credit_score" in str(exc)
    assert world["versions_before_corrupt"] == world["versions_after_corrupt"]
    reg: Registry = world["registry"]
    champion = reg.champion()
    assert champion is not None and champion.version == 2


def test_worse_challenger_is_refused_and_champion_untouched(world: dict[str, Any]) -> None:
    r = world["worse"]
    assert r["decision"]["outcome"] == "REJECT", r["decision"]["reason"]
    assert r["promoted"] is False
    assert r["evidence"]["bootstrap"]["upper"] < 0
    assert r["champion_before"] == r["champion_after"] == 2
    reg: Registry = world["registry"]
    refused = reg.version(r["challenger_version"])
    assert refused.tags["challenger.gate_decision"] == "REJECT"
    assert refused.record.gate_reason == r["decision"]["reason"]
    assert refused.aliases == () and refused.stage == "None"
    champion = reg.champion()
    assert champion is not None and champion.version == 2 and champion.stage == "Production"


def test_a_retrain_started_without_monitor_evidence_logs_its_trigger(
    world: dict[str, Any],
) -> None:
    """Deployment retrain/manual (or `challenger retrain`) passes no evidence: trigger.json says so."""
    from challenger.store.tracking import Tracking
    from challenger.train.log import NO_EVIDENCE

    r = world["worse"]
    tracking = Tracking.from_settings(load_config(world["cfg"]))
    doc = tracking.load_dict(r["run_id"], "trigger.json")
    assert doc is not None and doc["trigger"] == "manual" and doc["evidence"] == {}
    assert doc["reasons"] == [f"manual retrain {NO_EVIDENCE}"]
    fired = tracking.load_dict(world["day3"]["retrain"]["run_id"], "trigger.json")
    assert fired is not None and fired["reasons"] == world["day3"]["trigger"]["reasons"]
    assert fired["monitor_evidence"] is True
    refused = world["registry"].version(r["challenger_version"])
    assert refused.record.trigger_reasons == (f"manual retrain {NO_EVIDENCE}",)


def test_training_data_without_target_is_refused_before_registration(
    world: dict[str, Any], tmp_path: Path
) -> None:
    from flows.retrain import retrain_flow

    frame = simulate_batch(9, 500, 1).drop(columns=["default"])
    path = write_table(frame, tmp_path / "nolabels.csv")
    reg: Registry = world["registry"]
    before = [v.version for v in reg.versions()]
    with pytest.raises(DataError, match="no target column 'default'"):
        retrain_flow(reason="manual", data=str(path), config=str(world["cfg"]))
    assert [v.version for v in reg.versions()] == before


def test_crash_midway_leaves_registry_consistent_and_next_run_recovers(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.retrain as retrain_module

    import challenger.gate.judge as judge_module

    reg: Registry = world["registry"]
    cfg = str(world["cfg"])

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("worker lost mid-evaluation")

    with monkeypatch.context() as m:
        m.setattr(judge_module, "gather_evidence", boom)
        with pytest.raises(RuntimeError, match="worker lost"):
            retrain_module.retrain_flow(reason="manual", config=cfg)
    crashed = reg.alias("challenger")
    assert crashed is not None and crashed.tags["challenger.gate_decision"] == "PENDING"
    champion = reg.champion()
    assert champion is not None and champion.version == 2 and champion.stage == "Production"

    after = retrain_module.retrain_flow(
        reason="manual", candidates=["shallow_tree"], config=cfg
    ).to_dict()
    assert after["champion_after"] == 2
    abandoned = reg.version(crashed.version)
    assert abandoned.tags["challenger.gate_decision"] == "ABANDONED"
    assert abandoned.aliases == () and abandoned.stage == "None"
    assert reg.reconcile_stages() == []  # nothing left to repair


def test_registered_champion_carries_its_reference_sketch(world: dict[str, Any]) -> None:
    from challenger.monitor.drift.sketch import read_payload
    from challenger.store.tracking import Tracking

    settings = load_config(world["cfg"])
    champion = world["registry"].champion()
    assert champion is not None
    tracking = Tracking.from_settings(settings)
    stored = read_payload(tracking.load_sketch(champion.run_id))
    reference = tracking.load_reference(champion.run_id)
    assert stored is not None and reference is not None
    assert set(settings.data.features) <= set(stored.columns)
    # the sketch is of the logged reference rows (what the rows path compares with), and
    # carries the model's output on them in the configured task's form
    assert stored.n_rows == len(reference)
    assert {s.n for s in stored.columns.values() if s.kind == "numeric"} <= {len(reference)}
    assert settings.data.task in stored.predictions
