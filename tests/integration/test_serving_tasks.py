"""The serving app for tasks other than binary classification, for real: a sqlite MLflow
registry in a temporary folder, uvicorn on a free loopback port, httpx over real HTTP, the
SQLite prediction log and the online-analysis flow under the session's Prefect harness.

Regression: the champion is a depth-2 regression tree, the challenger a ridge regression
(mean absolute error about 2.8 against 6.9 on the simulator's ``risk_score``). /predict
answers the predicted value, the log keeps it as the score, and the A/B test (on per-user
MAE) and the canary (on the regression defaults: error rate, latency, MAE) reach their
decisions from the true values sent as feedback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from tests.helpers import SERVING_TOKEN, own_store, register_logged, serving_client, wait_until

from challenger.config import CandidateConfig, Settings, load_config
from challenger.demo.simulator import simulate_batch
from challenger.online.serve.app import create_app
from challenger.online.serve.runtime import ServingRuntime
from challenger.online.serve.server import BackgroundServer
from challenger.store.connection import create_store
from challenger.store.registry import Registry
from challenger.store.tracking import Tracking
from challenger.train.pipeline import build_pipeline

pytestmark = pytest.mark.integration

TARGET = "risk_score"
TREE = CandidateConfig(
    name="tree", estimator="sklearn.tree.DecisionTreeRegressor", params={"max_depth": 2}
)
RIDGE = CandidateConfig(name="ridge", estimator="sklearn.linear_model.Ridge", params={})


def _flow(s: Settings) -> dict[str, Any]:
    from flows.online import online_flow

    own_store()
    return online_flow(config=str(s.root / "challenger.yaml"))


def _project(folder: Path, store: Path, name: str, rollout: dict[str, Any]) -> Settings:
    """A regression project's challenger.yaml for a serving app on the store in ``store``."""
    cfg = {
        "project": {"model_name": name},
        "data": {"task": "regression", "target": TARGET},
        "training": {"primary_metric": "rmse"},
        "mlflow": {
            "tracking_uri": f"sqlite:///{store / 'mlflow.db'}",
            "artifact_root": (store / "artifacts").as_uri(),
        },
        "rollout": rollout,
        "serving": {"admin_token": SERVING_TOKEN, "reload_seconds": 0.3, "flags_seconds": 0.2},
        "gate": {"n_resamples": 500},
    }
    path = folder / "challenger.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    own_store()
    settings = load_config(path)
    create_store(settings.tracking_uri)
    own_store()
    return settings


def _records(day: int, n: int) -> pd.DataFrame:
    return simulate_batch(day, n, 11, target=TARGET, task="regression")


@pytest.fixture(scope="module")
def regressors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The tree and the ridge, fitted and logged once in one store for the module."""
    store = tmp_path_factory.mktemp("store")
    s = _project(tmp_path_factory.mktemp("logging"), store, "logging", {"strategy": "champion"})
    tracking = Tracking.from_settings(s)
    feats = list(s.data.features)
    frame = _records(0, 3000)
    out: dict[str, Any] = {"store": store}
    for spec in (TREE, RIDGE):
        model = build_pipeline(spec, s.data.numeric, s.data.categorical, 7, task="regression")
        model.fit(frame[feats], frame[TARGET].to_numpy())
        with tracking.start_run(f"log-{spec.name}") as run_id:
            out[spec.name] = (tracking.log_model(model, frame[feats].head(50)), run_id)
        out[f"{spec.name}-model"] = model
    return out


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    regressors: dict[str, Any],
) -> Iterator[dict[str, Any]]:
    """An app serving the tree as champion and the ridge as challenger, for one strategy."""
    strategy, rollout = request.param
    folder = tmp_path_factory.mktemp(strategy)
    s = _project(folder, regressors["store"], f"{folder.name}-regression", rollout)
    reg = Registry.from_settings(s)
    v1 = register_logged(reg, regressors["tree"])
    reg.promote(v1, None)
    v2 = register_logged(reg, regressors["ridge"])
    reg.mark_challenger(v2)
    runtime = ServingRuntime(s)
    with BackgroundServer(create_app(s, runtime)) as server, serving_client(server.url) as client:
        yield {"s": s, "reg": reg, "v": (v1, v2), "client": client, "runtime": runtime}


def _traffic(w: dict[str, Any], day: int, n: int, prefix: str) -> list[dict[str, Any]]:
    """One request per user, each answered and then labelled with its true value."""
    s, client = w["s"], w["client"]
    frame = _records(day, n)
    answers, items = [], []
    for i, rec in enumerate(frame[list(s.data.features)].to_dict("records")):
        r = client.post("/predict", json={"user_id": f"{prefix}-{i}", "record": rec})
        assert r.status_code == 200, r.text
        answers.append(r.json())
        items.append(
            {"request_id": answers[-1]["request_id"], "label": float(frame[TARGET].iloc[i])}
        )
    assert client.post("/feedback", json={"items": items}).status_code == 202
    w["runtime"].writer.flush()
    return answers


AB = ("ab", {"strategy": "ab", "ab": {"metric": "mae", "min_users": 50, "mixture_sd": 2.0}})
CANARY = (
    "canary",
    {"strategy": "canary", "canary": {"min_requests": 40, "min_labels": 30, "guard_seconds": 0.3}},
)


@pytest.mark.parametrize("world", [AB], indirect=True)
def test_ab_on_a_regression_answers_values_and_promotes_the_better_model(
    world: dict[str, Any], regressors: dict[str, Any]
) -> None:
    w = world
    s, client, reg, (v1, v2) = w["s"], w["client"], w["reg"], w["v"]
    rec = _records(5, 1)[list(s.data.features)].to_dict("records")[0]
    r = client.post("/predict", json={"user_id": "probe", "record": rec})
    assert r.status_code == 200, r.text
    answer = r.json()
    model = regressors["ridge-model" if answer["arm"] == "challenger" else "tree-model"]
    expected = float(model.predict(pd.DataFrame([rec]))[0])
    assert set(answer["prediction"]) == {"value"}
    assert answer["prediction"]["value"] == pytest.approx(expected)
    # A binary label rule does not apply: any finite value is a label; NaN is refused.
    rid = answer["request_id"]
    nan = b'{"request_id": "%s", "label": NaN}' % rid.encode()
    bad = client.post("/feedback", content=nan, headers={"content-type": "application/json"})
    assert bad.status_code == 422
    ok = client.post("/feedback", json={"request_id": rid, "label": -17.25})
    assert ok.status_code == 202, ok.text
    w["runtime"].writer.flush()
    logged = w["runtime"].store.predictions()
    row = logged[logged["request_id"] == rid].iloc[0]
    assert row["score"] == pytest.approx(expected) and row["label"] == -17.25

    answers = _traffic(w, 6, 400, "u")
    arms = {a["arm"] for a in answers}
    assert arms == {"champion", "challenger"}
    result = _flow(s)
    decision = result["decision"]
    assert decision["action"] == "promote", decision["reason"]
    means = decision["details"]["ab"]["means"]
    # The per-user outcome is the negated absolute error: the ridge's is about 4 better.
    assert means["challenger"] - means["champion"] > 2.0, means
    assert decision["details"]["ab"]["metric"] == "mae"
    wait_until(lambda: reg.champion().version == v2, 30, "the ridge as champion")
    assert reg.champion().version == v2 != v1


@pytest.mark.parametrize("world", [CANARY], indirect=True)
def test_canary_on_a_regression_advances_on_its_default_metrics(world: dict[str, Any]) -> None:
    w = world
    s, client = w["s"], w["client"]
    assert [m.name for m in s.rollout.canary.metrics] == ["error_rate", "latency_ms", "mae"]
    answers = _traffic(w, 20, 1000, "a")
    assert all(set(a["prediction"]) == {"value"} for a in answers)
    share = sum(a["arm"] == "challenger" for a in answers) / len(answers)
    assert 0.02 < share < 0.09, share
    result = _flow(s)
    decision = result["decision"]
    assert decision["action"] == "advance", decision["reason"]
    mae = next(m for m in decision["details"]["metrics"] if m["name"] == "mae")
    assert mae["verdict"] == "pass" and mae["canary"] < mae["baseline"] - 2.0, mae
    wait_until(
        lambda: client.get("/health").json()["rollout"]["stage"] == 1, 10, "stage 1 in the app"
    )


@pytest.mark.parametrize("world", [CANARY], indirect=True)
def test_a_worse_regression_canary_is_rolled_back_on_its_absolute_error(
    world: dict[str, Any], regressors: dict[str, Any]
) -> None:
    w = world
    s, reg, (v1, v2) = w["s"], w["reg"], w["v"]
    # Swap the roles: the ridge serves, the tree is the canary (a fresh rollout starts).
    reg.promote(v2, v1)
    v3 = register_logged(reg, regressors["tree"])
    reg.mark_challenger(v3)
    wait_until(
        lambda: w["client"].get("/health").json()["challenger"] == v3, 30, "the tree as canary"
    )
    # The app's guard judges the critical MAE while traffic flows and may stop the canary
    # first; either way the rollout ends rolled back on the absolute error, and the flow
    # retires the tree.
    _traffic(w, 30, 1000, "b")
    result = _flow(s)
    assert result["decision"]["action"] == "rollback", result["decision"]["reason"]
    state = w["client"].get("/health").json()["rollout"]
    assert state["status"] == "rolled_back" and "mae" in state["reason"], state
    assert reg.alias("challenger") is None and reg.champion().version == v2
    labelled = w["runtime"].store.predictions()
    labelled = labelled[labelled["label"].notna() & (labelled["challenger_version"] == v3)]
    err = (labelled["score"] - labelled["label"]).abs().groupby(labelled["arm"]).mean()
    assert err["challenger"] > err["champion"] + 2.0, err.to_dict()
    assert np.isfinite(labelled["score"]).all()
