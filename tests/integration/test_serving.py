"""The serving app for real: a sqlite MLflow registry in a temporary folder, uvicorn on a free
loopback port, httpx over real HTTP, the shadow worker process, the SQLite prediction log
and the online-analysis flow under the session's Prefect harness.

Three worlds, one app each: shadow (two shadow models, side effects, an online promotion
and, when the promoted model then does worse than the one it replaced, its rollback), A/B
(sticky balanced assignment, kill switch, admin endpoints, the promotion lock) and canary (a
stage advance, then a broken challenger rolled back by the app on its own and retired).
"""

from __future__ import annotations

import contextvars
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from tests.helpers import (
    SERVING_LR,
    log_served_model,
    metric_value,
    own_store,
    register_logged,
    serving_client,
    serving_project,
    wait_until,
)

from challenger.config import CandidateConfig, Settings
from challenger.demo.simulator import Period, simulate_batch
from challenger.online.log import LogStore
from challenger.online.serve.app import create_app
from challenger.online.serve.runtime import ServingRuntime
from challenger.online.serve.server import BackgroundServer
from challenger.store.registry import Registry
from challenger.store.tracking import Tracking
from challenger.train.pipeline import build_pipeline

pytestmark = pytest.mark.integration


def _flow(s: Settings) -> dict[str, Any]:
    from flows.online import online_flow

    own_store()
    return online_flow(config=str(s.root / "challenger.yaml"))


NEW_REGIME = Period(1.0, 1.0)


def _records(s: Settings, day: int, n: int, period: Period = NEW_REGIME) -> pd.DataFrame:
    return simulate_batch(day, n, 11, period)


def _features(s: Settings, frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame[list(s.data.features)].to_dict("records")


def _wait_shadowed(runtime: ServingRuntime, ids: list[str]) -> None:
    """Until every shadow model's output for these requests is in the log."""
    per_request = len(runtime.hub.current.shadows)
    marks = ",".join("?" * len(ids))
    sql = f"SELECT COUNT(*) AS n FROM shadows WHERE request_id IN ({marks})"
    wait_until(
        lambda: runtime.store.frame(sql, ids)["n"].iloc[0] == per_request * len(ids),
        60,
        "the shadow outputs in the log",
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One MLflow store for the module; each model is logged once and registered per world.

    Logging is the slow part (MLflow infers pip requirements in a subprocess), so the worlds
    share logged models under their own registered-model names.
    """
    store = tmp_path_factory.mktemp("store")
    s = serving_project(
        tmp_path_factory.mktemp("logging"), store, "logging", {"strategy": "champion"}
    )
    old, new = _records(s, 0, 3000, Period()), _records(s, 1, 3000)
    logged: dict[str, Any] = {"store": store}
    logged["old"] = log_served_model(s, old)
    logged["new"] = log_served_model(s, new)
    logged["broken"] = log_served_model(s, new, broken=True)  # NaN weights: predicts NaN
    return logged


# =========================================================================== shadow world


@pytest.fixture(scope="module")
def shadow_world(
    tmp_path_factory: pytest.TempPathFactory, models: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("shadow")
    s = serving_project(
        folder,
        models["store"],
        "shadow-model",
        {
            "strategy": "shadow",
            # previous-champion has no version until a promotion; then it watches the new one.
            "shadow": {"models": ["challenger", "3", "previous-champion"], "min_requests": 100},
        },
        {
            "effects": [
                {"name": "feed", "path": "feed.jsonl", "once_only": True},
                {"name": "audit", "path": "audit.jsonl", "once_only": False},
            ]
        },
    )
    reg = Registry.from_settings(s)
    v1 = register_logged(reg, models["old"])
    reg.promote(v1, None)
    v2 = register_logged(reg, models["new"])
    reg.mark_challenger(v2)
    v3 = register_logged(reg, models["old"])  # the same model again: a second shadow to run
    runtime = ServingRuntime(s)
    with BackgroundServer(create_app(s, runtime)) as server, serving_client(server.url) as client:
        wait_until(
            lambda: client.get("/health").json()["shadow"]["ready"], 120, "the shadow worker"
        )
        yield {
            "s": s,
            "reg": reg,
            "v": (v1, v2, v3),
            "client": client,
            "runtime": runtime,
            "folder": folder,
            "models": {v: reg.load_model(v) for v in (v1, v2, v3)},
        }


def test_shadow_answers_come_from_the_champion_and_shadows_are_logged(
    shadow_world: dict[str, Any],
) -> None:
    w = shadow_world
    s, client, (v1, v2, v3) = w["s"], w["client"], w["v"]
    frame = _records(s, 5, 300)
    records = _features(s, frame)
    before = metric_value(client.get("/metrics").text, "challenger_inputs_prepared_total")
    answers = []
    for i, rec in enumerate(records):
        r = client.post("/predict", json={"user_id": f"u{i}", "record": rec})
        assert r.status_code == 200, r.text
        answers.append(r.json())
    assert {a["variant"] for a in answers} == {"champion"}
    assert {a["model_version"] for a in answers} == {v1}
    X = frame[list(s.data.features)]
    expected = {v: w["models"][v].predict_proba(X)[:, 1] for v in (v1, v2, v3)}
    served = np.array([a["prediction"]["score"] for a in answers])
    np.testing.assert_allclose(served, expected[v1], rtol=1e-9)
    assert not np.allclose(served, expected[v2], atol=1e-3), "the challenger's output leaked"
    np.testing.assert_allclose(expected[v3], expected[v1])

    runtime: ServingRuntime = w["runtime"]
    store: LogStore = runtime.store
    ids = [a["request_id"] for a in answers]

    marks = ",".join("?" * len(ids))

    def shadows_logged() -> bool:
        sql = f"SELECT COUNT(*) AS n FROM shadows WHERE request_id IN ({marks})"
        return bool(store.frame(sql, ids)["n"].iloc[0] == 2 * len(ids))

    wait_until(shadows_logged, 60, "both shadow models' outputs in the log")
    logged = store.frame(
        f"SELECT request_id, model, model_version, score FROM shadows WHERE request_id IN ({marks})",
        ids,
    )
    position = {rid: i for i, rid in enumerate(ids)}
    for version, ref in ((v2, "challenger"), (v3, "3")):
        part = logged[logged["model"] == ref].assign(pos=lambda d: d["request_id"].map(position))
        part = part.sort_values("pos")
        assert set(part["model_version"]) == {version}
        np.testing.assert_allclose(part["score"].to_numpy(), expected[version], rtol=1e-9)
    after = metric_value(client.get("/metrics").text, "challenger_inputs_prepared_total")
    assert after - before == len(records), "each request's input must be prepared exactly once"


def test_once_only_side_effects_are_not_repeated_by_shadows(shadow_world: dict[str, Any]) -> None:
    w = shadow_world
    client, runtime = w["client"], w["runtime"]
    rec = _features(w["s"], _records(w["s"], 6, 1))[0]
    rid = client.post("/predict", json={"record": rec}).json()["request_id"]
    wait_until(
        lambda: (
            runtime.store.frame("SELECT COUNT(*) AS n FROM shadows WHERE request_id=?", [rid])[
                "n"
            ].iloc[0]
            == 2
        ),
        60,
        "shadow outputs",
    )
    runtime.writer.flush()
    folder: Path = w["folder"]

    def lines(name: str) -> list[dict[str, Any]]:
        return [
            json.loads(line) for line in (folder / name).read_text().splitlines() if rid in line
        ]

    wait_until(lambda: len(lines("audit.jsonl")) == 3, 30, "the audit effect of both shadows")
    feed = lines("feed.jsonl")
    assert [(e["role"], e["model"]) for e in feed] == [("served", "champion")]
    roles = sorted((e["role"], e["model"]) for e in lines("audit.jsonl"))
    assert roles == [("served", "champion"), ("shadow", "3"), ("shadow", "challenger")]


def test_bad_requests_get_422_and_big_ones_413(shadow_world: dict[str, Any]) -> None:
    w = shadow_world
    client = w["client"]
    good = _features(w["s"], _records(w["s"], 7, 1))[0]
    cases = {
        "missing": {"record": {k: v for k, v in good.items() if k != "income"}},
        "wrong type": {"record": {**good, "income": "a lot"}},
        "bool for a number": {"record": {**good, "age": True}},
        "unknown field": {"record": {**good, "favourite_colour": "red"}},
        "model named by the request": {"record": good, "model": "3"},
        "both record and records": {"record": good, "records": [good]},
        "neither": {"user_id": "u1"},
        "too many records": {"records": [good] * 1001},
    }
    for name, body in cases.items():
        r = client.post("/predict", json=body)
        assert r.status_code == 422, (name, r.text)
        assert r.json()["detail"], name
    r = client.post("/predict", json={"record": {**good, "income": "a lot"}})
    assert r.json()["detail"][0]["loc"] == ["record", "income"]
    assert "finite number" in r.json()["detail"][0]["msg"]
    r = client.post(
        "/predict",
        content=b'{"record": {"age": NaN}}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422
    huge = {"records": [good] * 5000}
    r = client.post("/predict", json=huge)
    assert r.status_code == 413 and "larger than" in r.json()["detail"]
    batch = client.post("/predict", json={"records": [good, good]})
    assert batch.status_code == 200 and len(batch.json()["predictions"]) == 2


def test_feedback_is_checked_against_the_log(shadow_world: dict[str, Any]) -> None:
    client = shadow_world["client"]
    rec = _features(shadow_world["s"], _records(shadow_world["s"], 8, 2))
    rid = client.post("/predict", json={"records": rec}).json()["request_id"]
    assert (
        client.post("/feedback", json={"request_id": rid, "index": 1, "label": 1}).status_code
        == 202
    )
    r = client.post("/feedback", json={"request_id": "nope", "label": 1})
    assert r.status_code == 404 and "unknown request id" in r.json()["detail"]
    r = client.post("/feedback", json={"request_id": rid, "index": 2, "label": 1})
    assert r.status_code == 422 and "out of range" in r.json()["detail"]
    assert client.post("/feedback", json={"request_id": rid, "label": 3}).status_code == 422


def test_health_and_prometheus_metrics(shadow_world: dict[str, Any]) -> None:
    client = shadow_world["client"]
    health = client.get("/health").json()
    assert health["status"] == "ok", health["problems"]
    assert health["strategy"] == "shadow" and health["champion"] == shadow_world["v"][0]
    text = client.get("/metrics").text
    assert metric_value(text, "challenger_requests_total", variant="champion") > 0
    assert 'challenger_request_latency_seconds_bucket{le="0.008",variant="champion"}' in text
    assert metric_value(text, "challenger_errors_total", kind="invalid_input", variant="none") > 0


def test_shadow_decision_promotes_and_the_app_swaps_without_dropping_requests(
    shadow_world: dict[str, Any],
) -> None:
    w = shadow_world
    s, client, reg, (v1, v2, _) = w["s"], w["client"], w["reg"], w["v"]
    frame = _records(s, 9, 400)
    items = []
    for i, rec in enumerate(_features(s, frame)):
        rid = client.post("/predict", json={"user_id": f"l{i}", "record": rec}).json()["request_id"]
        items.append({"request_id": rid, "label": int(frame["default"].iloc[i])})
    assert client.post("/feedback", json={"items": items}).status_code == 202
    runtime: ServingRuntime = w["runtime"]
    _wait_shadowed(runtime, [item["request_id"] for item in items])
    runtime.writer.flush()

    # Keep requests flowing while the decision moves the champion alias.
    stop = threading.Event()
    seen: list[tuple[int, int]] = []
    stream = _features(s, _records(s, 10, 200))

    def traffic() -> None:
        with serving_client(client.base_url.__str__()) as c:
            i = 0
            while not stop.is_set():
                r = c.post("/predict", json={"record": stream[i % len(stream)]})
                seen.append((r.status_code, r.json().get("model_version", -1)))
                i += 1

    t = threading.Thread(target=traffic)
    t.start()
    try:
        result = _flow(s)
        assert result["decision"]["action"] == "promote", result["decision"]["reason"]
        wait_until(lambda: client.get("/health").json()["champion"] == v2, 30, "the swap to v2")
        wait_until(lambda: len(seen) > 0 and seen[-1][1] == v2, 30, "answers from v2")
    finally:
        stop.set()
        t.join()
    dec = result["decision"]
    assert dec["action"] == "promote", dec["reason"]
    assert dec["details"]["shadow"]["agreement"] is not None
    assert result["done"] == f"champion moved from v{v1} to v{v2}"
    assert all(code == 200 for code, _ in seen), [c for c, _ in seen if c != 200][:5]
    versions = [v for _, v in seen]
    assert versions[0] == v1 and versions[-1] == v2
    first_v2 = versions.index(v2)
    assert set(versions[first_v2:]) == {v2}, "after the swap every answer comes from v2"
    info = reg.version(v2)
    assert info.tags["challenger.gate_decision"] == "PROMOTE"
    assert info.record.online["strategy"] == "shadow"
    move = reg.history()[-1]  # the same registry operation and history as the offline gate
    assert (move["kind"], move["from"], move["to"]) == ("online-promote", v1, v2)
    assert move["reason"].startswith("online shadow:") and move["run_id"] == result["run_id"]
    assert reg.alias("previous-champion").version == v1
    assert "## Online comparison" in info.description
    run = reg.client.get_run(info.record.online["run_id"])
    local = reg._mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="online/decision.json", tracking_uri=reg.tracking_uri
    )
    assert json.loads(Path(local).read_text())["decision"]["action"] == "promote"


def test_an_online_promotion_that_does_worse_than_the_champion_it_replaced_is_rolled_back(
    shadow_world: dict[str, Any],
) -> None:
    w = shadow_world
    s, client, reg, (v1, v2, _) = w["s"], w["client"], w["reg"], w["v"]
    runtime: ServingRuntime = w["runtime"]
    assert reg.champion().version == v2, "runs after the online promotion of v2"
    wait_until(
        lambda: client.get("/health").json()["shadow"]["models"].get("previous-champion") == v1
    )
    # The applicants look like last year's again: v1, now shadowed as previous-champion, is
    # the better model on the live, labelled traffic.
    frame = _records(s, 40, 400, Period())
    items = []
    for i, rec in enumerate(_features(s, frame)):
        body = client.post("/predict", json={"user_id": f"o{i}", "record": rec}).json()
        assert body["model_version"] == v2
        items.append({"request_id": body["request_id"], "label": int(frame["default"].iloc[i])})
    assert client.post("/feedback", json={"items": items}).status_code == 202
    _wait_shadowed(runtime, [item["request_id"] for item in items])
    runtime.writer.flush()

    result = _flow(s)
    dec = result["decision"]
    assert dec["action"] == "rollback", dec["reason"]
    assert dec["details"]["watch"] == {"champion": v2, "promoted_from": v1}
    assert dec["details"]["rollback"]["kind"] == "restore"
    assert result["done"] == f"champion rolled back from v{v2} to v{v1} (previous-champion)"
    # Registry.rollback: the aliases, the mirrored stages and the champion history.
    assert reg.champion().version == v1 and reg.alias("previous-champion").version == v2
    assert reg.version(v1).stage == "Production" and reg.version(v2).stage == "Archived"
    kinds = [(h["kind"], h["from"], h["to"]) for h in reg.history()]
    assert kinds[-2:] == [("online-promote", v1, v2), ("rollback", v2, v1)]
    last = reg.history()[-1]
    assert (
        last["reason"].startswith("online shadow: champion v")
        and last["run_id"] == (result["run_id"])
    )
    assert reg.version(v2).record.rolled_back == last["reason"]
    assert reg.version(v1).record.restored_by_rollback == last["reason"]
    assert reg.version(v2).tags["challenger.note"].startswith("rolled back: online shadow:")
    assert reg.version(v2).tags["challenger.gate_decision"] == "PROMOTE", "its gate verdict stays"
    wait_until(lambda: client.get("/health").json()["champion"] == v1, 30, "the swap back to v1")
    # A rollback is never followed by another one: nothing to watch until a new promotion.
    again = _flow(s)
    assert again["decision"]["action"] == "keep_watching", again["decision"]["reason"]
    assert reg.champion().version == v1


def test_clean_shutdown_loses_no_log_row(tmp_path: Path, shadow_world: dict[str, Any]) -> None:
    w = shadow_world
    s = w["s"]
    db = tmp_path / "predictions.db"
    local = Settings.model_validate(
        {**s.model_dump(), "serving": {**s.serving.model_dump(), "prediction_log": db}}
    )
    records = _features(s, _records(s, 12, 150))
    runtime = ServingRuntime(local)
    started = time.monotonic()
    with BackgroundServer(create_app(local, runtime)) as server, serving_client(server.url) as c:
        for rec in records:
            assert c.post("/predict", json={"record": rec}).status_code == 200
    assert runtime.shadow is not None
    assert runtime.shadow.handled == len(records), "the worker stopped cleanly after the queue"
    assert time.monotonic() - started < 45, "shutdown must not wait for a timeout"
    store = LogStore(db)
    assert store.count("predictions") == len(records)
    # The shadow worker finished what was queued before it stopped.
    assert store.count("shadows") == len(records) * len(runtime.hub.current.shadows)


# =============================================================================== A/B world


@pytest.fixture(scope="module")
def ab_world(
    tmp_path_factory: pytest.TempPathFactory, models: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("ab")
    s = serving_project(
        folder,
        models["store"],
        "ab-model",
        {
            "strategy": "ab",
            "ab": {"split": 0.3, "balance_by": ["country"], "min_users": 50, "mde": 0.05},
        },
    )
    reg = Registry.from_settings(s)
    v1 = register_logged(reg, models["old"])
    reg.promote(v1, None)
    v2 = register_logged(reg, models["new"])
    reg.mark_challenger(v2)
    runtime = ServingRuntime(s)
    with BackgroundServer(create_app(s, runtime)) as server, serving_client(server.url) as client:
        yield {
            "s": s,
            "reg": reg,
            "v": (v1, v2),
            "client": client,
            "runtime": runtime,
            "url": server.url,
        }


def _arms(
    client: httpx.Client, users: list[str], countries: list[str], rec: dict[str, Any]
) -> list[str]:
    arms = []
    for user, country in zip(users, countries, strict=True):
        r = client.post(
            "/predict", json={"user_id": user, "attributes": {"country": country}, "record": rec}
        )
        assert r.status_code == 200, r.text
        arms.append(r.json()["arm"])
    return arms


def test_ab_assignment_is_sticky_balanced_and_matches_the_split(ab_world: dict[str, Any]) -> None:
    w = ab_world
    client, s = w["client"], w["s"]
    rec = _features(s, _records(s, 3, 1))[0]
    rng = np.random.default_rng(0)
    users = [f"user-{i}" for i in range(900)]
    countries = list(rng.choice(["DE", "FR", "ES"], size=len(users), p=[0.6, 0.3, 0.1]))
    first = _arms(client, users, countries, rec)
    again = _arms(client, users[:300], countries[:300], rec)
    assert again == first[:300], "a user must keep their arm"
    share = first.count("challenger") / len(first)
    assert abs(share - 0.3) < 4 * np.sqrt(0.3 * 0.7 / len(first)), share
    for country in ("DE", "FR", "ES"):
        mine = [a for a, c in zip(first, countries, strict=True) if c == country]
        challengers = mine.count("challenger")
        assert abs(challengers - 0.3 * len(mine)) <= 1.0 + 1e-9, (country, challengers, len(mine))
    stored = w["runtime"].store
    w["runtime"].writer.flush()
    assert len(stored.assignments(s.rollout.ab.experiment)) == len(users)


def test_kill_switch_sends_everyone_to_the_champion_without_restart(
    ab_world: dict[str, Any],
) -> None:
    w = ab_world
    client, s = w["client"], w["s"]
    rec = _features(s, _records(s, 3, 1))[0]
    users = [f"user-{i}" for i in range(200)]
    countries = ["DE"] * len(users)
    before = _arms(client, users, countries, rec)
    assert "challenger" in before
    flags = s.path(s.serving.flags_file)
    flags.write_text("operational:\n  kill_switch: true\n")
    wait_until(
        lambda: client.get("/health").json()["flags"]["operational"]["kill_switch"],
        10,
        "the kill switch",
    )
    assert set(_arms(client, users, countries, rec)) == {"champion"}
    assert metric_value(client.get("/metrics").text, "challenger_kill_switch") == 1.0
    flags.write_text("operational: {kill_switch: [not, a, bool]}\n")
    wait_until(
        lambda: client.get("/health").json()["status"] == "degraded", 10, "the bad flags report"
    )
    assert set(_arms(client, users[:20], countries[:20], rec)) == {"champion"}, (
        "last good flags stay"
    )
    flags.write_text("operational:\n  kill_switch: false\n")
    wait_until(
        lambda: not client.get("/health").json()["flags"]["operational"]["kill_switch"],
        10,
        "release",
    )
    assert _arms(client, users, countries, rec) == before, "sticky arms come back"


def test_admin_endpoints_refuse_without_the_token(ab_world: dict[str, Any]) -> None:
    url = ab_world["url"]
    with serving_client(url, token=None) as anon, serving_client(url, token="wrong") as wrong:
        for c in (anon, wrong):
            assert c.get("/admin/state").status_code == 401
            assert (
                c.patch("/admin/flags", json={"operational": {"kill_switch": True}}).status_code
                == 401
            )
            assert c.post("/admin/rollback", json={}).status_code == 401
            assert c.post("/admin/reload").status_code == 401
        assert anon.get("/health").json()["flags"]["operational"]["kill_switch"] is False
    client = ab_world["client"]
    r = client.patch("/admin/flags", json={"permission": {"segments": ["internal"]}})
    assert r.status_code == 200 and r.json()["permission"]["segments"] == ["internal"]
    assert (
        client.patch("/admin/flags", json={"operational": {"kil_switch": True}}).status_code == 422
    )
    rec = _features(ab_world["s"], _records(ab_world["s"], 3, 1))[0]
    users = [f"user-{i}" for i in range(100)]
    assert set(_arms(client, users, ["DE"] * 100, rec)) == {"champion"}, "only internal users"
    r = client.post("/predict", json={"user_id": "user-1", "segments": ["internal"], "record": rec})
    assert r.status_code == 200
    assert client.patch("/admin/flags", json={"permission": {"segments": []}}).status_code == 200


def _ab_traffic(client: httpx.Client, s: Settings, day: int, prefix: str) -> None:
    frame = _records(s, day, 600)
    items = []
    for i, rec in enumerate(_features(s, frame)):
        body = {"user_id": f"{prefix}-{i}", "attributes": {"country": "DE"}, "record": rec}
        rid = client.post("/predict", json=body).json()["request_id"]
        items.append({"request_id": rid, "label": int(frame["default"].iloc[i])})
    assert client.post("/feedback", json={"items": items}).status_code == 202


def test_online_promotion_takes_the_promotion_lock_and_reviews_again_if_the_champion_moved(
    ab_world: dict[str, Any], models: dict[str, Any]
) -> None:
    from challenger.store.lock import promotion_lock

    w = ab_world
    s, client, reg, (v1, v2) = w["s"], w["client"], w["reg"], w["v"]
    _ab_traffic(client, s, 4, "early")
    w["runtime"].writer.flush()
    started_ms = int(time.time() * 1000)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = _flow(s)
        except BaseException as exc:  # reported by the assertions below
            outcome["error"] = exc

    def online_runs() -> int:
        runs = reg.client.search_runs(
            [Tracking.from_settings(s).experiment_id],
            filter_string=f"tags.mlflow.runName = 'online-ab' and attributes.start_time >= {started_ms}",
        )
        return len(runs)

    held = promotion_lock(s.tracking_uri, s.project.model_name)
    assert held is not None
    # Another promotion holds the lock: the online flow reviews (the evidence says promote
    # v2 over v1), then waits for the lock, and the other promotion moves the champion.
    with held:
        flow = threading.Thread(target=contextvars.copy_context().run, args=(run,))
        flow.start()
        wait_until(lambda: online_runs() == 1 or not flow.is_alive(), 120, "the online flow to act")
        time.sleep(2.0)  # it would promote now if it did not wait for the lock
        assert flow.is_alive() and "error" not in outcome, outcome
        assert reg.champion().version == v1, "promoted without the promotion lock"
        v3 = register_logged(reg, models["old"])
        reg.promote(v3, v1, reason="another promotion", kind="promote")
    flow.join(120)
    assert "error" not in outcome, outcome.get("error")
    result = outcome["result"]
    dec = result["decision"]
    assert dec["reason"].startswith(f"reviewed again after the champion moved from v{v1} to v{v3}")
    assert dec["action"] == "keep_watching" and reg.champion().version == v3
    assert result["done"] == f"the ab of v{v2} starts again at stage 0 against v{v3}"
    wait_until(
        lambda: client.get("/health").json()["rollout"]["champion_version"] == v3,
        30,
        "the app to follow the restarted A/B test",
    )
    assert client.get("/health").json()["rollout"]["status"] == "running"
    assert reg.alias("challenger").version == v2


def test_ab_analysis_checks_sample_ratio_and_records_the_decision(ab_world: dict[str, Any]) -> None:
    w = ab_world
    s, client, reg, (_, v2) = w["s"], w["client"], w["reg"], w["v"]
    v1 = reg.champion().version  # the champion the A/B test compares with now
    wait_until(lambda: client.get("/health").json()["rollout"]["champion_version"] == v1, 10)
    _ab_traffic(client, s, 5, "buyer")
    w["runtime"].writer.flush()
    result = _flow(s)
    dec = result["decision"]
    names = {c["name"]: c for c in dec["checks"]}
    assert names["sample_ratio"]["passed"] is True
    assert names["balance_country"]["passed"] is True
    assert dec["details"]["ab"]["sequential"]["n_challenger"] > 100
    assert dec["action"] == "promote", dec["reason"]
    assert dec["details"]["ab"]["sequential"]["p_value"] < s.rollout.ab.alpha
    # The record states the plan (rollout.ab.mde) and whether the labelled users reached it.
    plan, seq = dec["details"]["ab"]["plan"], dec["details"]["ab"]["sequential"]
    assert plan["mde"] == 0.05 and plan["sd_from"] == "prediction log"
    reached = (
        seq["n_champion"] >= plan["users_champion"]
        and seq["n_challenger"] >= plan["users_challenger"]
    )
    assert plan["met"] is reached is names["planned_sample"]["passed"]
    assert result["done"] == f"champion moved from v{v1} to v{v2}"
    assert reg.version(v2).tags["challenger.gate_decision"] == "PROMOTE"
    wait_until(lambda: client.get("/health").json()["champion"] == v2, 10, "the swap to v2")
    wait_until(
        lambda: client.get("/health").json()["rollout"]["status"] == "promoted",
        10,
        "the app to read the promoted rollout",
    )
    r = client.post("/admin/rollback", json={"reason": "too late"})
    assert r.status_code == 409 and "promoted" in r.json()["detail"]


# ============================================================================ canary world


@pytest.fixture(scope="module")
def canary_world(
    tmp_path_factory: pytest.TempPathFactory, models: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("canary")
    s = serving_project(
        folder,
        models["store"],
        "canary-model",
        {
            "strategy": "canary",
            "canary": {"min_requests": 40, "min_labels": 30, "guard_seconds": 0.3},
        },
    )
    reg = Registry.from_settings(s)
    v1 = register_logged(reg, models["old"])
    reg.promote(v1, None)
    v2 = register_logged(reg, models["new"])
    reg.mark_challenger(v2)
    runtime = ServingRuntime(s)
    with BackgroundServer(create_app(s, runtime)) as server, serving_client(server.url) as client:
        yield {
            "s": s,
            "reg": reg,
            "v": (v1, v2),
            "client": client,
            "runtime": runtime,
            "models": models,
        }


def _canary_traffic(
    client: httpx.Client, s: Settings, day: int, n: int, prefix: str
) -> list[dict[str, Any]]:
    frame = _records(s, day, n)
    out, items = [], []
    for i, rec in enumerate(_features(s, frame)):
        r = client.post("/predict", json={"user_id": f"{prefix}-{i}", "record": rec})
        assert r.status_code == 200, r.text
        out.append(r.json())
        items.append({"request_id": out[-1]["request_id"], "label": int(frame["default"].iloc[i])})
    assert client.post("/feedback", json={"items": items}).status_code == 202
    return out


def test_canary_advances_when_its_stage_passes(canary_world: dict[str, Any]) -> None:
    w = canary_world
    s, client = w["s"], w["client"]
    answers = _canary_traffic(client, s, 20, 1000, "a")
    share = sum(a["arm"] == "challenger" for a in answers) / len(answers)
    assert 0.02 < share < 0.09, share
    w["runtime"].writer.flush()
    result = _flow(s)
    assert result["decision"]["action"] == "advance", result["decision"]["reason"]
    assert result["decision"]["next_stage"] == 1
    wait_until(
        lambda: client.get("/health").json()["rollout"]["stage"] == 1, 10, "stage 1 in the app"
    )
    answers = _canary_traffic(client, s, 21, 600, "b")
    share = sum(a["arm"] == "challenger" for a in answers) / len(answers)
    assert 0.19 < share < 0.31, share
    assert all(a["variant"] == a["arm"] for a in answers)


def test_broken_canary_is_rolled_back_automatically(canary_world: dict[str, Any]) -> None:
    w = canary_world
    s, client, reg, (v1, _) = w["s"], w["client"], w["reg"], w["v"]
    broken = register_logged(reg, w["models"]["broken"])
    reg.mark_challenger(broken)
    wait_until(
        lambda: (client.get("/health").json()["rollout"] or {}).get("challenger_version") == broken,
        10,
        "the new canary",
    )
    answers: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while client.get("/health").json()["rollout"]["status"] == "running":
        assert time.monotonic() < deadline, "the guard never rolled the broken canary back"
        answers += _canary_traffic(client, s, 30 + len(answers), 200, f"c{len(answers)}")
    state = client.get("/health").json()["rollout"]
    assert state["status"] == "rolled_back" and "error_rate" in state["reason"], state
    canaried = [a for a in answers if a["arm"] == "challenger"]
    assert canaried and all(a["fallback"] and a["variant"] == "champion" for a in canaried)
    assert all(a["model_version"] == v1 for a in canaried), "users got the champion's answer"
    after = _canary_traffic(client, s, 99, 300, "d")
    assert {a["arm"] for a in after} == {"champion"}
    assert (
        metric_value(client.get("/metrics").text, "challenger_rollbacks_total", by="guard") == 1.0
    )
    history = reg.history()
    result = _flow(s)
    assert result["decision"]["action"] == "rollback"
    # Before any promotion the champion never moved: the canary is retired, nothing restored.
    assert result["decision"]["details"]["rollback"]["kind"] == "retire"
    info = reg.version(broken)
    assert info.tags["challenger.gate_decision"] == "REJECT"
    assert info.aliases == () and reg.alias("challenger") is None
    assert reg.champion().version == v1 and reg.history() == history


def test_an_operator_can_force_a_rollback(canary_world: dict[str, Any]) -> None:
    w = canary_world
    s, client, reg, (_, v2) = w["s"], w["client"], w["reg"], w["v"]
    reg.mark_challenger(v2)
    wait_until(
        lambda: (client.get("/health").json()["rollout"] or {}).get("challenger_version") == v2,
        10,
        "a new canary of v2",
    )
    assert client.get("/health").json()["rollout"]["status"] == "running"
    with serving_client(str(client.base_url), token=None) as anon:
        assert anon.post("/admin/rollback", json={"reason": "x"}).status_code == 401
    r = client.post("/admin/rollback", json={"reason": "customer complaints"})
    assert r.status_code == 200, r.text
    assert r.json()["rollout"]["status"] == "rolled_back"
    assert "customer complaints" in r.json()["rollout"]["reason"]
    after = _canary_traffic(client, s, 120, 300, "e")
    assert {a["arm"] for a in after} == {"champion"}


# ===================================================================== not a binary classifier


def test_models_whose_predictions_cannot_be_compared_are_refused_at_startup(
    tmp_path_factory: pytest.TempPathFactory, models: dict[str, Any]
) -> None:
    import subprocess
    import sys

    from challenger.errors import ChallengerError
    from challenger.online.review import with_overrides

    folder = tmp_path_factory.mktemp("refusal")
    s = serving_project(folder, models["store"], "refusal-model", {"strategy": "shadow"})
    reg = Registry.from_settings(s)
    tracking = Tracking.from_settings(s)
    feats, num, cat = list(s.data.features), s.data.numeric, s.data.categorical
    frame = _records(s, 0, 600)
    ridge = CandidateConfig(name="ridge", estimator="sklearn.linear_model.Ridge", params={})
    fitted = {
        "multiclass": build_pipeline(SERVING_LR, num, cat, 7, task="multiclass").fit(
            frame[feats], pd.qcut(frame["income"], 3, labels=False)
        ),
        "regression": build_pipeline(ridge, num, cat, 7, task="regression").fit(
            frame[feats], frame["income"]
        ),
        "four-classes": build_pipeline(SERVING_LR, num, cat, 7, task="multiclass").fit(
            frame[feats], pd.qcut(frame["income"], 4, labels=False)
        ),
    }
    logged = {}
    for key, model in fitted.items():
        with tracking.start_run(f"log-{key}") as run_id:
            logged[key] = (tracking.log_model(model, frame[feats].head(50)), run_id)
    v1 = register_logged(reg, logged["multiclass"])
    reg.promote(v1, None)
    with pytest.raises(
        ChallengerError,
        match=r"v1 \(champion\) is a classifier with 3 classes .*, but data.task is 'binary'",
    ):
        ServingRuntime(s)
    # The same refusal from `challenger serve`: one sentence, exit code 2, nothing listens.
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    served = subprocess.run(
        [
            sys.executable,
            "-m",
            "challenger.cli",
            "serve",
            "--config",
            str(s.root / "challenger.yaml"),
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        check=False,
    )
    assert served.returncode == 2, served.stderr
    assert "cannot be compared" in served.stderr and "Traceback" not in served.stderr

    v2 = register_logged(reg, models["new"])
    reg.promote(v2, v1)
    v3 = register_logged(reg, logged["regression"])
    reg.mark_challenger(v3)
    with pytest.raises(
        ChallengerError, match=r"shadow 'challenger' \(refusal-model v3\) is a regressor"
    ):
        ServingRuntime(s)
    canary = with_overrides(s, {"rollout": {"strategy": "canary"}})
    with pytest.raises(ChallengerError, match=r"v3 \(challenger\) is a regressor.*'binary'"):
        ServingRuntime(canary)
    # A regression project is served, but not with a classifier as its champion.
    regression = with_overrides(
        s,
        {
            "data": {"task": "regression"},
            "training": {"primary_metric": "rmse"},
            "rollout": {  # the settings were dumped whole: name the regression's metrics
                "ab": {"metric": "mae"},
                "canary": {"metrics": [{"name": "mae", "critical": True, "tolerance": 0}]},
            },
        },
    )
    with pytest.raises(
        ChallengerError, match=r"v2 \(champion\) is a classifier.*, but data.task is 'regression'"
    ):
        ServingRuntime(regression)
    # A multiclass project is served; a model of other classes than the champion's is not
    # (and a regressor is no classifier): what cannot be compared is named at startup.
    multiclass = with_overrides(
        canary, {"data": {"task": "multiclass"}, "training": {"primary_metric": "log_loss"}}
    )
    with pytest.raises(
        ChallengerError, match=r"v3 \(challenger\) is a regressor.*data.task is 'multiclass'"
    ):
        ServingRuntime(multiclass)
    v4 = register_logged(reg, logged["four-classes"])
    reg.mark_challenger(v4)
    with pytest.raises(
        ChallengerError,
        match=r"v4 \(challenger\) is a classifier of the classes \[0, 1, 2, 3\], the "
        r"champion's are \[0, 1\]: their predictions cannot be compared class by class",
    ):
        ServingRuntime(multiclass)
