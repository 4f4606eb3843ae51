"""Candidate training end to end: folds on a real Dask LocalCluster, the MLflow record, guards."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.helpers import GATE_TIMING

from challenger.config import load_config
from challenger.demo.simulator import simulate_batch
from challenger.errors import LeakageError
from challenger.store.batches import write_table
from challenger.store.registry import Registry
from challenger.store.tracking import Tracking

pytestmark = pytest.mark.integration

TRAINING = {
    "cv": {"strategy": "auto", "n_splits": 3, "k_sensitivity": [2, 3]},
    "executor": {"kind": "dask", "address": "local", "workers": 2, "dask_processes": False},
    "candidates": [
        {
            "name": "logistic_regression",
            "estimator": "sklearn.linear_model.LogisticRegression",
            "params": {"max_iter": 300},
            "search": "grid",
            "search_space": {"C": [0.001, 1.0]},
        },
        {
            "name": "shallow_tree",
            "estimator": "sklearn.tree.DecisionTreeClassifier",
            "params": {"max_depth": 2},
        },
    ],
}


@pytest.fixture(scope="module", autouse=True)
def own_store() -> Iterator[None]:
    """mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI, which the configuration prefers
    over its own store: an earlier module's store must not leak into this one."""
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    yield
    os.environ.pop("MLFLOW_TRACKING_URI", None)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from flows.retrain import retrain_flow

    folder = tmp_path_factory.mktemp("dask")
    cfg = folder / "challenger.yaml"
    cfg.write_text(
        yaml.safe_dump({"training": TRAINING, "gate": {"n_resamples": 500, **GATE_TIMING}})
    )
    data = write_table(simulate_batch(0, 1500, seed=7), folder / "day0.parquet")
    result = retrain_flow(reason="manual", data=str(data), config=str(cfg)).to_dict()
    return {"cfg": cfg, "data": data, "result": result, "folder": folder}


def test_dask_cluster_trains_every_fold_and_picks_the_grid_winner(trained: dict[str, Any]) -> None:
    r = trained["result"]
    assert r["cv_strategy"] == "time_series(k=3)"
    assert {c["candidate"] for c in r["cv"]} == {"logistic_regression", "shallow_tree"}
    assert all(len(c["folds"]) == 3 for c in r["cv"])
    lr = next(c for c in r["cv"] if c["candidate"] == "logistic_regression")
    assert 0.6 < lr["roc_auc_mean"] < 1.0
    assert r["candidate"] == "logistic_regression" and r["best_params"]["C"] in (0.001, 1.0)
    assert [k["k"] for k in r["k_sensitivity"]] == [2, 3]
    assert r["k_sensitivity"][1]["mean"] == pytest.approx(lr["roc_auc_mean"])
    assert r["decision"]["outcome"] == "PROMOTE"


def test_mlflow_has_a_parent_run_with_a_nested_run_per_candidate(trained: dict[str, Any]) -> None:
    from mlflow import MlflowClient

    settings = load_config(trained["cfg"])
    reg = Registry.from_settings(settings)
    client = MlflowClient(settings.tracking_uri)
    run_id = trained["result"]["run_id"]
    children = client.search_runs(
        [Tracking.from_settings(settings).experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{run_id}'",
    )
    by_name = {c.info.run_name: c for c in children}
    assert set(by_name) == {"candidate-logistic_regression", "candidate-shallow_tree"}
    lr = by_name["candidate-logistic_regression"]
    history = client.get_metric_history(lr.info.run_id, "cv_roc_auc")
    assert [m.step for m in history] == [0, 1, 2]
    assert {"cv_roc_auc_mean", "cv_roc_auc_std", "fit_seconds", "model_size_mb"} <= set(
        lr.data.metrics
    )
    table = json.loads(
        Path(
            client.download_artifacts(lr.info.run_id, "search/results.json", str(trained["folder"]))
        ).read_text()
    )
    rows = table["rows"]
    assert [row["rank"] for row in rows] == [1, 2]
    assert {row["param.C"] for row in rows} == {0.001, 1.0}
    assert rows[0]["param.C"] == trained["result"]["best_params"]["C"]
    assert rows[0]["roc_auc_mean"] >= rows[1]["roc_auc_mean"]
    parent = client.get_run(run_id)
    assert parent.data.params["cv_strategy"] == "time_series"
    ks = client.get_metric_history(run_id, "k_sensitivity_roc_auc_mean")
    assert [m.step for m in ks] == [2, 3]
    version = reg.version(trained["result"]["challenger_version"])
    assert version.run_id == run_id
    assert "k-sensitivity" in version.description


def test_a_planted_target_copy_is_refused_before_training(trained: dict[str, Any]) -> None:
    from flows.retrain import retrain_flow

    frame = simulate_batch(1, 800, seed=7)
    frame["income"] = frame["default"] * 90_000.0 + 1_000.0
    leaky = write_table(frame, trained["folder"] / "leaky.parquet")
    reg = Registry.from_settings(load_config(trained["cfg"]))
    before = [v.version for v in reg.versions()]
    with pytest.raises(LeakageError, match="feature 'income' alone reproduces the target"):
        retrain_flow(reason="manual", data=str(leaky), config=str(trained["cfg"]))
    assert [v.version for v in reg.versions()] == before
