"""The serving app for tasks other than binary classification, for real: a sqlite MLflow
registry in a temporary folder, uvicorn on a free loopback port, httpx over real HTTP, the
SQLite prediction log and the online-analysis flow under the session's Prefect harness.

Regression: the champion is a depth-2 regression tree, the challenger a ridge regression
(mean absolute error about 2.8 against 6.9 on the simulator's ``risk_score``). /predict
answers the predicted value, the log keeps it as the score, and the A/B test (on per-user
MAE) and the canary (on the regression defaults: error rate, latency, MAE) reach their
decisions from the true values sent as feedback.

Multiclass: the champion is a depth-2 tree, the shadow a logistic regression on the
simulator's ``risk_grade`` (high, low, medium). /predict answers the class and the class
probabilities, the shadow worker logs its probabilities next to the champion's, and the
online analysis promotes the shadow on the labelled live rows (gate on log loss).
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
from challenger.online.log import read_proba
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


def _project(
    folder: Path,
    store: Path,
    name: str,
    rollout: dict[str, Any],
    task: tuple[str, str, str] = ("regression", TARGET, "rmse"),
) -> Settings:
    """A project's challenger.yaml (task, target, primary metric) for a serving app on the
    store in ``store``."""
    kind, target, metric = task
    cfg = {
        "project": {"model_name": name},
        "data": {"task": kind, "target": target},
        "training": {"primary_metric": metric},
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


# ======================================================================= multiclass shadow

GRADE = "risk_grade"
MULTICLASS = ("multiclass", GRADE, "log_loss")
STUMP = CandidateConfig(
    name="stump",
    estimator="sklearn.tree.DecisionTreeClassifier",
    params={"max_depth": 2, "min_samples_leaf": 50},
)
LOGISTIC = CandidateConfig(
    name="logistic", estimator="sklearn.linear_model.LogisticRegression", params={"max_iter": 500}
)


def _grades(day: int, n: int) -> pd.DataFrame:
    return simulate_batch(day, n, 11, target=GRADE, task="multiclass")


@pytest.fixture(scope="module")
def shadow_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    store = tmp_path_factory.mktemp("mc-store")
    folder = tmp_path_factory.mktemp("mc-shadow")
    s = _project(
        folder, store, "grades", {"strategy": "shadow", "shadow": {"min_requests": 100}}, MULTICLASS
    )
    tracking = Tracking.from_settings(s)
    feats = list(s.data.features)
    frame = _grades(0, 3000)
    reg = Registry.from_settings(s)
    fitted, versions = {}, []
    for spec in (STUMP, LOGISTIC):
        model = build_pipeline(spec, s.data.numeric, s.data.categorical, 7, task="multiclass")
        model.fit(frame[feats], frame[GRADE].to_numpy())
        with tracking.start_run(f"log-{spec.name}") as run_id:
            logged = (tracking.log_model(model, frame[feats].head(50)), run_id)
        fitted[spec.name] = model
        versions.append(register_logged(reg, logged))
    reg.promote(versions[0], None)
    reg.mark_challenger(versions[1])
    runtime = ServingRuntime(s)
    with BackgroundServer(create_app(s, runtime)) as server, serving_client(server.url) as client:
        wait_until(
            lambda: client.get("/health").json()["shadow"]["ready"], 120, "the shadow worker"
        )
        yield {
            "s": s,
            "reg": reg,
            "v": tuple(versions),
            "client": client,
            "runtime": runtime,
            "fitted": fitted,
        }


def test_multiclass_shadow_answers_classes_and_promotes_the_better_shadow(
    shadow_world: dict[str, Any],
) -> None:
    w = shadow_world
    s, client, reg, runtime, (_, v2) = w["s"], w["client"], w["reg"], w["runtime"], w["v"]
    frame = _grades(7, 1200)
    feats = list(s.data.features)
    records = frame[feats].to_dict("records")
    r = client.post("/predict", json={"records": records[:3]})
    assert r.status_code == 200, r.text
    champion = w["fitted"]["stump"]
    proba = champion.predict_proba(frame[feats].head(3))
    classes = [str(c) for c in champion.classes_]
    assert classes == ["high", "low", "medium"]
    for answer, row in zip(r.json()["predictions"], proba, strict=True):
        assert answer["class"] == classes[int(np.argmax(row))]
        assert list(answer["probabilities"]) == classes
        assert np.allclose(list(answer["probabilities"].values()), row)
    rid = r.json()["request_id"]
    wrong = client.post("/feedback", json={"request_id": rid, "label": "extreme"})
    assert wrong.status_code == 422 and "classes" in wrong.json()["detail"]

    ids = [rid]
    answered = [(rid, k, k) for k in range(3)]  # (request id, record index, frame row)
    for row, rec in enumerate(records[3:], start=3):
        got = client.post("/predict", json={"record": rec})
        assert got.status_code == 200, got.text
        ids.append(got.json()["request_id"])
        answered.append((ids[-1], 0, row))
    items = [
        {"request_id": q, "index": k, "label": str(frame[GRADE].iloc[row])}
        for q, k, row in answered
    ]
    assert client.post("/feedback", json={"items": items}).status_code == 202
    marks = ",".join("?" * len(ids))
    sql = f"SELECT COUNT(*) AS n FROM shadows WHERE request_id IN ({marks})"
    wait_until(
        lambda: runtime.store.frame(sql, ids)["n"].iloc[0] == len(records), 60, "shadow outputs"
    )
    runtime.writer.flush()
    # The log keeps class codes (index among the sorted classes) and the probabilities.
    pairs = runtime.store.shadow_pairs(v2).set_index(["request_id", "idx"])
    logistic = w["fitted"]["logistic"]
    order = [pairs.loc[(q, k)] for q, k, _ in answered]
    rows = [row for _, _, row in answered]
    expected = logistic.predict_proba(frame[feats].iloc[rows])
    assert np.allclose(read_proba(pd.Series([p["shadow_proba"] for p in order])), expected)
    assert [p["shadow_score"] for p in order] == list(np.argmax(expected, axis=1).astype(float))
    assert [p["label"] for p in order] == [float(classes.index(g)) for g in frame[GRADE].iloc[rows]]

    result = _flow(s)
    decision = result["decision"]
    assert decision["action"] == "promote", decision["reason"]
    details = decision["details"]["shadow"]
    assert details["task"] == "multiclass" and 0.0 < details["agreement"] < 1.0
    assert decision["details"]["evidence"]["primary_metric"] == "log_loss"
    wait_until(lambda: reg.champion().version == v2, 30, "the logistic regression as champion")
