"""Regression and multiclass through the real retraining DAG: a better challenger is promoted.

Each task gets its own project (sqlite MLflow store, Prefect harness of the session). The
first champion is a deliberately weak candidate; a manual retrain with a stronger one must
be promoted by the gate on a paired bootstrap of the task's primary metric, and the record
in MLflow must say which task and metric it was judged on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from challenger.config import load_config
from challenger.demo.simulator import simulate_batch
from challenger.store.batches import write_table
from challenger.store.registry import Registry

pytestmark = pytest.mark.integration

TASKS: dict[str, dict[str, Any]] = {
    "regression": {
        "target": "risk_score",
        "metric": "rmse",
        "weak": ("stump", "sklearn.tree.DecisionTreeRegressor", {"max_depth": 2}),
        "strong": (
            "boosting",
            "sklearn.ensemble.HistGradientBoostingRegressor",
            {"max_iter": 80, "max_leaf_nodes": 15},
        ),
        "secondary": {"rmse", "mae", "r2"},
        "cross_check": "wilcoxon_abs_error",
        "plot": "predicted_vs_actual.png",
    },
    "multiclass": {
        "target": "risk_grade",
        "metric": "log_loss",
        "weak": ("stump", "sklearn.tree.DecisionTreeClassifier", {"max_depth": 1}),
        "strong": ("logistic", "sklearn.linear_model.LogisticRegression", {"max_iter": 500}),
        "secondary": {"accuracy", "balanced_accuracy", "f1_macro", "log_loss", "brier"},
        "cross_check": "mcnemar_midp",
        "plot": "confusion.png",
    },
}


def _candidate(spec: tuple[str, str, dict[str, Any]], enabled: bool) -> dict[str, Any]:
    name, estimator, params = spec
    return {"name": name, "estimator": estimator, "params": params, "enabled": enabled}


@pytest.fixture(scope="module", params=sorted(TASKS))
def run(request: pytest.FixtureRequest, make_project: Callable[..., Path]) -> dict[str, Any]:
    from flows.monitor import monitor_flow
    from flows.retrain import retrain_flow

    task: str = request.param
    spec = TASKS[task]
    cfg_path = make_project(
        task,
        {
            "data": {"task": task, "target": spec["target"]},
            "training": {
                "primary_metric": spec["metric"],
                "cv": {"n_splits": 3},
                "candidates": [_candidate(spec["weak"], True), _candidate(spec["strong"], False)],
            },
            # Timing guardrails are measured on a shared machine; they are not what this tests.
            "gate": {
                "n_resamples": 1000,
                "plots": True,  # test_task_plot_is_logged_with_the_evidence
                "first_champion_floor": None,
                "relative_budgets": {"latency_p99": None, "model_size": None},
            },
        },
    )
    s = load_config(cfg_path)
    frame = simulate_batch(0, 3000, s.project.seed, target=spec["target"], task=task)
    batch = write_table(frame, cfg_path.parent / "incoming" / "day-000.parquet")
    first = monitor_flow(batch=str(batch), config=str(cfg_path)).to_dict()
    better = retrain_flow(
        reason="manual", candidates=[spec["strong"][0]], config=str(cfg_path)
    ).to_dict()
    quiet = simulate_batch(1, 2000, s.project.seed, target=spec["target"], task=task)
    next_day = monitor_flow(
        batch=str(write_table(quiet, cfg_path.parent / "incoming" / "day-001.parquet")),
        config=str(cfg_path),
    ).to_dict()
    return {
        "next_day": next_day,
        "task": task,
        "spec": spec,
        "first": first,
        "better": better,
        "registry": Registry.from_settings(s),
        "config": cfg_path,
    }


def test_weak_first_model_becomes_champion(run: dict[str, Any]) -> None:
    r = run["first"]["retrain"]
    assert r["decision"]["outcome"] == "PROMOTE", r["decision"]["reason"]
    assert r["champion_after"] == 1
    assert r["evidence"]["task"] == run["task"]


def test_better_challenger_is_promoted_on_the_tasks_metric(run: dict[str, Any]) -> None:
    r, spec = run["better"], run["spec"]
    assert r["decision"]["outcome"] == "PROMOTE", r["decision"]["reason"]
    ev = r["evidence"]
    assert ev["task"] == run["task"] and ev["primary_metric"] == spec["metric"]
    assert ev["higher_is_better"] is False  # rmse and log loss are losses
    assert ev["challenger_value"] < ev["champion_value"]
    boot = ev["bootstrap"]
    assert boot["lower"] > 0, boot  # oriented: positive = the challenger's loss is lower
    assert set(ev["secondary"]) == spec["secondary"]
    assert spec["cross_check"] in ev["cross_checks"] and "agreement" in ev["cross_checks"]
    assert r["champion_before"] == 1 and r["champion_after"] == 2
    reg: Registry = run["registry"]
    v2 = reg.version(2)
    assert "champion" in v2.aliases and v2.stage == "Production"
    assert v2.tags["challenger.gate_decision"] == "PROMOTE"
    assert f"**Task:** {run['task']}" in v2.description


def test_task_plot_is_logged_with_the_evidence(run: dict[str, Any]) -> None:
    import mlflow

    reg: Registry = run["registry"]
    run_id = reg.version(2).run_id
    client = mlflow.MlflowClient(reg.tracking_uri)
    names = {Path(a.path).name for a in client.list_artifacts(run_id, "gate")}
    assert run["spec"]["plot"] in names and "bootstrap_delta.png" in names


def test_the_next_batch_is_validated_and_its_drift_measured(run: dict[str, Any]) -> None:
    day = run["next_day"]
    assert day["status"] == "accepted" and day["champion"] == 2
    drift = day["drift"]
    assert drift is not None and drift["drift_share"] < 0.3
    # the champion's predictions and the labels are compared too, in the task's form
    assert drift["prediction"] is not None and drift["target"] is not None


def test_batch_shadow_of_the_previous_champion_on_delayed_labels(run: dict[str, Any]) -> None:
    """The monitor shadows an unlabelled batch with v1; labels arrive in a label file; the
    online review judges v1 against champion v2 on those rows with the gate's statistics."""
    import yaml
    from flows.monitor import monitor_flow

    from challenger.online import batch_shadow
    from challenger.online.review import review, store_for

    spec, task = run["spec"], run["task"]
    raw = yaml.safe_load(run["config"].read_text())
    raw["rollout"] = {"strategy": "champion", "shadow": {"batch": True, "models": ["1"]}}
    raw["serving"] = {**raw.get("serving", {}), "prediction_log": "shadow-log.sqlite"}
    cfg = run["config"].parent / "challenger-shadow.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    s = load_config(cfg)
    frame = simulate_batch(2, 600, s.project.seed, target=spec["target"], task=task)
    unlabelled = frame.drop(columns=[spec["target"]])
    path = write_table(unlabelled, cfg.parent / "scheduled" / "day-002.parquet")
    day = monitor_flow(batch=str(path), config=str(cfg), retrain=False).to_dict()
    assert day["status"] == "accepted" and day["champion"] == 2
    log = store_for(s)
    assert log.count("predictions") == 600 and log.count("shadows") == 600
    assert not batch_shadow.run_file(s, run["registry"], path).scored  # a re-run adds nothing
    assert log.count("predictions") == 600
    waiting = review(s, run["registry"], log)
    [before] = [r for r in waiting.shadows if r["version"] == 1]
    assert before["details"]["shadow"]["n_labelled"] == 0 and before["action"] == "keep_watching"

    labels = frame[[s.data.id_column, spec["target"]]]
    lpath = write_table(labels, cfg.parent / "scheduled" / "labels-002.parquet")
    monitor_flow(batch=str(lpath), config=str(cfg), retrain=False)
    assert log.count("feedback") == 600
    judged = review(s, run["registry"], log)
    [after] = [r for r in judged.shadows if r["version"] == 1]
    assert after["details"]["shadow"]["n_labelled"] == 600
    assert after["details"]["shadow"]["task"] == task
    # the shadow (the weak first champion) is clearly worse: the gate's paired bootstrap says so
    assert after["action"] == "rollback", after["reason"]
    assert after["details"]["evidence"]["primary_metric"] == spec["metric"]


def test_a_broken_prediction_log_never_fails_the_batch(
    run: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """The batch shadow cannot write (its log path is a folder): the batch is still accepted,
    its drift measured and the champion untouched."""
    if run["task"] != "regression":
        pytest.skip("one task is enough for the fault")
    import yaml
    from flows.monitor import monitor_flow

    spec = run["spec"]
    raw = yaml.safe_load(run["config"].read_text())
    raw["rollout"] = {"strategy": "champion", "shadow": {"batch": True, "models": ["1"]}}
    broken = run["config"].parent / "log-is-a-folder"
    broken.mkdir()
    raw["serving"] = {**raw.get("serving", {}), "prediction_log": str(broken)}
    cfg = run["config"].parent / "challenger-broken-log.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    s = load_config(cfg)
    frame = simulate_batch(3, 400, s.project.seed, target=spec["target"], task=run["task"])
    path = write_table(frame, cfg.parent / "scheduled" / "day-003.parquet")
    day = monitor_flow(batch=str(path), config=str(cfg), retrain=False).to_dict()
    assert day["status"] == "accepted" and day["drift"] is not None
    assert (s.path(s.data.accepted_dir) / "day-003.parquet").exists()
    assert run["registry"].champion().version == 2
    assert not any(broken.iterdir())  # nothing was written where the log should be
    assert "Batch shadow of day-003 failed (the batch is unaffected)" in caplog.text
