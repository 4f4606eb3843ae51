"""The promotion gate end to end: budgets, tiny holdouts, races, manual control, rollback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from challenger.config import load_config
from challenger.demo.simulator import Period, simulate_batch
from challenger.errors import ChallengerError, ChampionMoved
from challenger.store.batches import write_table
from challenger.store.history import key
from challenger.store.registry import Registry

pytestmark = pytest.mark.integration


def _variant(project: Path, name: str, gate: dict[str, Any]) -> str:
    """Another config file beside the project's: same store, different gate policy."""
    cfg = yaml.safe_load(project.read_text())
    cfg.setdefault("gate", {}).update(gate)
    path = project.parent / name
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


@pytest.fixture(scope="module")
def store(project: Path) -> dict[str, Any]:
    """v1 trained on the reference regime is champion; a drifted file beats it."""
    from flows.retrain import retrain_flow

    folder = project.parent
    old = write_table(simulate_batch(0, 2000, seed=7), folder / "old.parquet")
    new = write_table(simulate_batch(3, 2000, seed=7, period=Period(1, 1)), folder / "new.parquet")
    first = retrain_flow(reason="bootstrap", data=str(old), config=str(project)).to_dict()
    assert first["promoted"] and first["challenger_version"] == 1
    return {
        "cfg": project,
        "old": old,
        "new": new,
        "registry": Registry.from_settings(load_config(project)),
    }


def _labelled_run(outcome: str, project: Path) -> Any:
    """The newest flow run of ``project`` (a config beside it) the gate labelled with
    ``outcome`` (tag and name); the session's Prefect server also holds other projects' runs."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"gate:{outcome}"])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
        )
    folder = str(project.parent)
    [run, *_] = [r for r in runs if str(r.parameters.get("config", "")).startswith(folder)]
    return run


def test_latency_budget_rejects_a_better_model(store: dict[str, Any]) -> None:
    from flows.retrain import retrain_flow

    strict = _variant(store["cfg"], "strict.yaml", {"budgets": {"latency_p99_ms": 0.0001}})
    r = retrain_flow(reason="manual", data=str(store["new"]), config=strict).to_dict()
    assert r["decision"]["outcome"] == "REJECT"
    assert r["evidence"]["bootstrap"]["lower"] > 0  # better on the metric, refused on cost
    budget = next(c for c in r["decision"]["checks"] if c["name"] == "budget_latency_p99_ms")
    assert budget["passed"] is False and "exceeds the budget" in budget["reason"]
    run = _labelled_run("REJECT", store["cfg"])  # the outcome in Prefect's run list: name and tag
    assert run.name.startswith(f"v{r['challenger_version']} REJECT · ")
    assert "challenger" in run.tags and not any(t.startswith("gate:P") for t in run.tags)
    ops = r["evidence"]["operational"]["challenger"]
    assert ops["latency_p99_ms"] > 0 and ops["model_size_mb"] > 0 and ops["training_seconds"] > 0
    assert store["registry"].champion().version == 1


def test_tiny_holdout_is_inconclusive_with_a_power_calculation(store: dict[str, Any]) -> None:
    from flows.retrain import retrain_flow

    tiny = write_table(simulate_batch(4, 120, seed=7), store["cfg"].parent / "tiny.parquet")
    r = retrain_flow(reason="manual", data=str(tiny), config=str(store["cfg"])).to_dict()
    assert r["decision"]["outcome"] == "INCONCLUSIVE", r["decision"]["reason"]
    assert r["evidence"]["bootstrap"]["method"] == "studentized jackknife t"
    # A power calculation, more than the 36 rows used, not the policy's floor restated.
    assert r["decision"]["rows_needed"] > 36
    assert "power calculation" in r["decision"]["reason"]
    assert _labelled_run("INCONCLUSIVE", store["cfg"]).name.startswith(
        f"v{r['challenger_version']} INCON"
    )
    assert r["promoted"] is False
    assert store["registry"].champion().version == 1


def test_a_retrain_on_rows_the_champion_trained_on_is_refused(store: dict[str, Any]) -> None:
    """Issue 11 item 1: nothing to hold out that the champion did not train on: exit 2."""
    from typer.testing import CliRunner

    from challenger.cli import app

    old = pd.read_parquet(store["old"]).sort_values("ts")
    seen = write_table(old.head(1400), store["cfg"].parent / "seen.csv")  # v1's training rows
    result = CliRunner().invoke(
        app, ["retrain", "--config", str(store["cfg"]), "--data", str(seen), "--json"]
    )
    assert result.exit_code == 2, result.stdout
    error = json.loads(result.stdout)
    assert error["kind"] == "NoUnseenHoldout"
    assert "none of its 1400 labelled rows is unseen by v1" in error["error"]
    assert store["registry"].champion().version == 1


def test_identical_models_regress_no_slice(store: dict[str, Any]) -> None:
    """Issue 11 item 8: the same model again (zero spread) was 'regressed' on every slice."""
    from flows.retrain import retrain_flow

    r = retrain_flow(reason="manual", data=str(store["old"]), config=str(store["cfg"])).to_dict()
    boot = r["evidence"]["bootstrap"]
    assert boot["delta"] == 0.0 and boot["se"] == 0.0  # the same fit on the same rows
    slices = [c for c in r["decision"]["checks"] if c["name"].startswith("slice ")]
    assert slices and all(c["passed"] for c in slices), [c["reason"] for c in slices]
    assert r["decision"]["outcome"] == "REJECT"
    assert "not better by the required amount" in r["decision"]["reason"]
    assert store["registry"].champion().version == 1


def test_compare_and_set_refuses_a_stale_expectation(store: dict[str, Any]) -> None:
    reg: Registry = store["registry"]
    with pytest.raises(ChampionMoved):
        reg.promote(2, expected_champion=99)
    assert reg.champion().version == 1


def test_two_retrains_at_once_promote_exactly_once(store: dict[str, Any]) -> None:
    """Two processes train on the same drifted data and finish together; one promotion."""
    from prefect.settings import PREFECT_API_URL

    reg: Registry = store["registry"]
    before = {v.version for v in reg.versions()}
    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    cmd = [
        sys.executable,
        "-m",
        "challenger.cli",
        "retrain",
        "--config",
        str(store["cfg"]),
        "--data",
        str(store["new"]),
        "--reason",
        "manual",
        "--json",
    ]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        outs.append(json.loads(out))
    promoted = [o for o in outs if o["promoted"]]
    assert len(promoted) == 1, [o["decision"]["reason"] for o in outs]
    loser = next(o for o in outs if not o["promoted"])
    winner = promoted[0]
    assert reg.champion().version == winner["challenger_version"]
    # The loser was judged against whoever was champion when it took the lock.
    if loser["champion_before"] == winner["challenger_version"]:
        assert loser["decision"]["outcome"] != "PROMOTE"
    new_versions = {v.version for v in reg.versions()} - before
    assert new_versions == {winner["challenger_version"], loser["challenger_version"]}
    assert reg.version(loser["challenger_version"]).stage == "None"


def test_manual_promote_runs_the_gate_and_force_records_an_override(store: dict[str, Any]) -> None:
    from flows.promote import promote_flow

    reg: Registry = store["registry"]
    champion = reg.champion().version
    refused = next(
        v.version
        for v in reg.versions()
        if v.tags.get("challenger.gate_decision") == "INCONCLUSIVE"
    )
    with pytest.raises(ChallengerError, match="--force needs --reason"):
        promote_flow(version=refused, force=True, data=str(store["new"]), config=str(store["cfg"]))
    with pytest.raises(ChallengerError, match="already the champion"):
        promote_flow(version=champion, data=str(store["new"]), config=str(store["cfg"]))
    gated = promote_flow(
        version=refused, data=str(store["new"]), config=str(store["cfg"])
    ).to_dict()
    assert gated["promoted"] is False and gated["decision"]["outcome"] != "PROMOTE"
    assert reg.champion().version == champion
    forced = promote_flow(
        version=refused,
        force=True,
        reason="hotfix for partner fraud",
        data=str(store["new"]),
        config=str(store["cfg"]),
    ).to_dict()
    assert forced["promoted"] and forced["forced"]
    assert "FORCED" in forced["decision"]["reason"]
    assert reg.champion().version == refused
    assert reg.version(refused).record.gate_override == "hotfix for partner fraud"
    assert (
        reg.version(refused).tags["challenger.note"]
        == "promoted by force: hotfix for partner fraud"
    )
    last = reg.history()[-1]
    assert last["kind"] == "forced" and last["from"] == champion and last["to"] == refused
    # the history line leads with the gate's own verdict, then the override
    assert last["reason"].startswith(f"gate {forced['decision']['outcome']}")
    assert "FORCED by a person (hotfix for partner fraud)" in last["reason"]


def test_rollback_restores_the_previous_champion_with_history(store: dict[str, Any]) -> None:
    from flows.promote import rollback_flow

    reg: Registry = store["registry"]
    current = reg.champion().version
    previous = reg.alias("previous-champion").version
    r = rollback_flow(reason="partner fraud model misbehaves", config=str(store["cfg"])).to_dict()
    assert (r["from"], r["to"]) == (current, previous)
    assert reg.champion().version == previous and reg.champion().stage == "Production"
    assert reg.version(current).stage == "Archived"
    assert reg.alias("previous-champion").version == current
    kinds = [h["kind"] for h in reg.history()]
    assert kinds[0] == "promote" and kinds[-1] == "rollback"
    assert reg.history()[-1]["reason"] == "partner fraud model misbehaves"
    assert reg.version(current).record.rolled_back == "partner fraud model misbehaves"
    assert (
        reg.version(current).tags["challenger.note"]
        == "rolled back: partner fraud model misbehaves"
    )
    assert reg.version(previous).record.restored_by_rollback == "partner fraud model misbehaves"
    line = reg.client.get_registered_model(reg.model_name).tags[key(reg.history()[-1]["n"])]
    assert f"rollback v{previous} (was v{current}): partner fraud model misbehaves" in line
    with pytest.raises(ChallengerError, match="already the champion"):
        reg.rollback(previous, "no-op")


def test_a_champion_that_cannot_be_loaded_rejects_cleanly(
    store: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.retrain import retrain_flow

    reg: Registry = store["registry"]
    champion = reg.champion().version
    real_load = Registry.load_model

    def broken(self: Registry, version: int) -> Any:
        if version == champion:
            raise OSError("artifact store lost the champion's model.pkl")
        return real_load(self, version)

    monkeypatch.setattr(Registry, "load_model", broken)
    r = retrain_flow(reason="manual", data=str(store["new"]), config=str(store["cfg"])).to_dict()
    assert r["decision"]["outcome"] == "REJECT"
    assert "champion_loads" in r["decision"]["reason"] and "model.pkl" in r["decision"]["reason"]
    assert reg.champion().version == champion
    assert reg.version(r["challenger_version"]).aliases == ()
