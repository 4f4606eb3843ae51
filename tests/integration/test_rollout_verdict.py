"""The rollout verdict for real: the serving app on a loopback port (uvicorn, a sqlite MLflow
registry in tmp_path), asked over HTTP in the recorded request shapes of Argo Rollouts and
Flagger (tests/fixtures/rollouts), with a canary seeded in its prediction log that has too
little data (inconclusive), is clearly better than the champion (pass) and, at the next stage,
clearly worse (fail). Each answer is read the way the tool reads it (Argo: jsonPath, then
successCondition/failureCondition; Flagger: a status above 202 is "not passed") and its numbers
are checked against the canary judge run on the same logged rows.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests.helpers import log_served_model, register_logged, serving_client, serving_project

from challenger.config import Settings
from challenger.demo.simulator import Period, simulate_batch
from challenger.online import rollout
from challenger.online.judges.canary import judge_canary
from challenger.online.log import FeedbackRow, PredictionRow
from challenger.online.serve.app import create_app
from challenger.online.serve.runtime import ServingRuntime
from challenger.online.serve.server import BackgroundServer
from challenger.store.registry import Registry

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rollouts"
ARGO = ("argo-web-get.json", "argo-web-post.json")
FLAGGER = (
    "flagger-confirm-promotion.json",
    "flagger-rollout.json",
    "flagger-rollback.json",
    "flagger-legacy.json",
)


def _fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return loaded


# ------------------------------------------------------------ how each tool reads an answer


def _json_path(data: Any, path: str) -> Any:
    """Argo's jsonPath for the plain forms the fixtures use: ``{$}`` and ``{$.a.b}``."""
    match = re.fullmatch(r"\{\$((?:\.\w+)*)\}", path)
    assert match, f"unsupported jsonPath {path!r}"
    for key in filter(None, match.group(1).split(".")):
        data = data[key]
    return data


def _condition(result: Any, condition: str) -> bool:
    """``result(.field)* == "literal"``, the only condition form the fixtures use."""
    match = re.fullmatch(r'result((?:\.\w+)*) == "([^"]*)"', condition)
    assert match, f"unsupported condition {condition!r}"
    for key in filter(None, match.group(1).split(".")):
        result = result[key]
    return bool(result == match.group(2))


def argo_phase(metric: dict[str, Any], response: httpx.Response) -> str:
    """The measurement phase Argo Rollouts' web provider gives this answer (webmetric.go and
    evaluate.EvaluateResult, both conditions set)."""
    if not 200 <= response.status_code < 300:
        return "Error"
    result = _json_path(response.json(), metric["provider"]["web"].get("jsonPath") or "{$}")
    success = _condition(result, metric["successCondition"])
    failure = _condition(result, metric["failureCondition"])
    if failure:
        return "Failed"
    return "Successful" if success else "Inconclusive"


def flagger_outcome(hook_type: str, response: httpx.Response) -> str:
    """What Flagger does with this answer (webhook.go: a status above 202 is an error)."""
    ok = response.status_code <= 202
    if hook_type == "rollback":
        return "rollback" if ok else "no rollback"
    if hook_type.startswith("confirm-"):
        return "proceed" if ok else "wait"
    return "proceed" if ok else "failed check"  # pre-rollout, rollout: counts to threshold


def send(client: httpx.Client, name: str, version: int) -> tuple[dict[str, Any], httpx.Response]:
    """Send a recorded request as the tool sends it (its method, path, headers and body)."""
    fx = _fixture(name)
    req = fx["request"]
    body = req["body"]
    response = client.request(
        req["method"],
        req["path"].replace("{{version}}", str(version)),
        headers=req["headers"],
        content=None if body is None else body.replace("{{version}}", str(version)).encode(),
    )
    return fx, response


# ----------------------------------------------------------------------------- the world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("verdict")
    s = serving_project(
        folder,
        tmp_path_factory.mktemp("store"),
        "verdict-model",
        {
            "strategy": "canary",
            # The guard would stop the broken stage by itself; here only the judge speaks.
            "canary": {"min_requests": 40, "min_labels": 30, "guard_seconds": 3600},
        },
    )
    reg = Registry.from_settings(s)
    logged = log_served_model(s, simulate_batch(0, 2000, 11, Period()))
    v1 = register_logged(reg, logged)
    reg.promote(v1, None)
    v2 = register_logged(reg, logged)
    reg.mark_challenger(v2)
    runtime = ServingRuntime(s)
    # Argo and Flagger send no admin token: the verdict must not need one.
    with (
        BackgroundServer(create_app(s, runtime)) as server,
        serving_client(server.url, token=None) as client,
    ):
        yield {"s": s, "v": (v1, v2), "client": client, "runtime": runtime}


def _seed(
    w: dict[str, Any], n_per_arm: int, *, canary_better: bool, rng_seed: int
) -> rollout.RolloutState:
    """Log ``n_per_arm`` labelled requests per arm at the running stage, as the app would.

    The champion's scores are loosely related to the label; a better canary's closely, a worse
    one's inversely, with a fifth of its answers failing over to the champion.
    """
    s: Settings = w["s"]
    rt: ServingRuntime = w["runtime"]
    v1, v2 = w["v"]
    state = rollout.read(rt.store)
    assert state is not None and state.running and state.challenger_version == v2, state
    rng = np.random.default_rng(rng_seed)
    t0 = max(time.time(), state.since)
    rows: list[Any] = []
    for arm in ("champion", "challenger"):
        label = (rng.random(n_per_arm) < 0.3).astype(float)
        if arm == "champion":
            score = 0.3 + 0.2 * (label - 0.3) + rng.normal(0, 0.15, n_per_arm)
        elif canary_better:
            score = 0.3 + 0.6 * (label - 0.3) + rng.normal(0, 0.05, n_per_arm)
        else:
            score = 0.7 - 0.6 * label + rng.normal(0, 0.1, n_per_arm)
        failed = (arm == "challenger") & (not canary_better) & (rng.random(n_per_arm) < 0.2)
        for i in range(n_per_arm):
            request_id = f"seed-{rng_seed}-{arm}-{i}"
            rows += PredictionRow.for_records(
                [{"seeded": i}],
                [float(np.clip(score[i], 0.001, 0.999))],
                request_id=request_id,
                ts=t0 + i * 1e-3,
                user_id=f"{arm}-{i}",
                strategy="canary",
                experiment=s.rollout.canary.experiment,
                arm=arm,
                variant="champion" if failed[i] else arm,
                model_version=v1 if arm == "champion" or failed[i] else v2,
                challenger_version=v2,
                stage=state.stage,
                model_ms=1.0,
                latency_ms=float(rng.gamma(4.0, 0.5)),
                status="fallback" if failed[i] else "ok",
                error="seeded failure" if failed[i] else None,
                attributes={},
            )
            rows.append(FeedbackRow(request_id, 0, float(label[i]), None, t0 + 1.0))
    assert rt.writer is not None
    rt.writer.put_many(rows)
    assert rt.writer.flush(timeout=30.0)
    return state


def _judged(w: dict[str, Any], state: rollout.RolloutState) -> dict[str, Any]:
    """The canary judge on the same logged rows, as JSON (what the endpoints must report)."""
    rt: ServingRuntime = w["runtime"]
    rows = rt.store.predictions(since=state.since, challenger_version=state.challenger_version)
    d = judge_canary(
        rows,
        w["s"].rollout.canary,
        stage=state.stage,
        challenger_version=state.challenger_version,
        champion_version=state.champion_version,
    )
    judged: dict[str, Any] = json.loads(json.dumps({"action": d.action, "numbers": d.details}))
    return judged


def _ask_everyone(w: dict[str, Any]) -> dict[str, tuple[dict[str, Any], httpx.Response]]:
    return {name: send(w["client"], name, w["v"][1]) for name in (*ARGO, *FLAGGER)}


def _check_numbers(
    answers: dict[str, Any], judged: dict[str, Any], verdict: str, version: int
) -> None:
    for name, (_, r) in answers.items():
        body = r.json()
        assert body["verdict"] == verdict, (name, body["reasons"])
        assert body["action"] == judged["action"], name
        assert body["numbers"] == judged["numbers"], name
        assert body["challenger_version"] == version, name
        # Every shape names the version it rolls out, but the legacy Flagger hook (no metadata).
        assert body["expected_version"] == (None if "legacy" in name else version), name
    flagger = answers["flagger-confirm-promotion.json"][1].json()["flagger"]
    assert flagger == {
        "name": "loan-scorer",
        "namespace": "ml",
        "phase": "Progressing",
        "checksum": "5c8b7dd694",
        "hook": "gate",
    }


# ----------------------------------------------------------------------------- the tests


def test_too_little_data_is_inconclusive_for_both_tools(world: dict[str, Any]) -> None:
    state = _seed(world, 10, canary_better=True, rng_seed=1)
    answers = _ask_everyone(world)
    _check_numbers(answers, _judged(world, state), "inconclusive", world["v"][1])
    for name in ARGO:
        fx, r = answers[name]
        assert r.status_code == 200
        assert argo_phase(fx["metric"], r) == "Inconclusive"  # pauses the Rollout, no abort
    assert "need 40" in answers[ARGO[0]][1].json()["reasons"][0]
    outcome = {
        n: flagger_outcome(fx["hook"]["type"], r) for n, (fx, r) in answers.items() if n in FLAGGER
    }
    assert outcome == {
        "flagger-confirm-promotion.json": "wait",
        "flagger-rollout.json": "failed check",
        "flagger-rollback.json": "no rollback",
        "flagger-legacy.json": "wait",
    }
    assert answers["flagger-confirm-promotion.json"][1].status_code == 425


def test_a_clearly_better_canary_passes_for_both_tools(world: dict[str, Any]) -> None:
    state = _seed(world, 120, canary_better=True, rng_seed=2)
    answers = _ask_everyone(world)
    judged = _judged(world, state)
    assert judged["action"] == "advance", judged
    _check_numbers(answers, judged, "pass", world["v"][1])
    brier = next(m for m in judged["numbers"]["metrics"] if m["name"] == "brier")
    assert brier["canary"] < brier["baseline"]  # better, not merely not worse
    for name in ARGO:
        fx, r = answers[name]
        assert r.status_code == 200 and argo_phase(fx["metric"], r) == "Successful"
    outcome = {
        n: flagger_outcome(fx["hook"]["type"], r) for n, (fx, r) in answers.items() if n in FLAGGER
    }
    assert outcome == {
        "flagger-confirm-promotion.json": "proceed",
        "flagger-rollout.json": "proceed",
        "flagger-rollback.json": "no rollback",
        "flagger-legacy.json": "proceed",
    }
    # A tool rolling out another version never reads this pass as its own.
    r = world["client"].get("/rollout/verdict", params={"challenger_version": 99})
    assert r.status_code == 200 and r.json()["verdict"] == "inconclusive"
    assert "asked about challenger v99" in r.json()["reasons"][0]


def test_a_clearly_worse_canary_fails_for_both_tools(world: dict[str, Any]) -> None:
    rt: ServingRuntime = world["runtime"]
    state = rollout.read(rt.store)
    assert state is not None
    # The online analysis advanced the stage that passed; the next one goes badly.
    moved = rollout.write(rt.store, rollout.advance(state, 1, "stage 0 passed", now=time.time()))
    assert moved is not None
    state = _seed(world, 120, canary_better=False, rng_seed=3)
    assert state.stage == 1
    answers = _ask_everyone(world)
    judged = _judged(world, state)
    assert judged["action"] == "rollback", judged
    _check_numbers(answers, judged, "fail", world["v"][1])
    assert "critical" in answers[ARGO[0]][1].json()["reasons"][0]
    for name in ARGO:
        fx, r = answers[name]
        assert r.status_code == 200 and argo_phase(fx["metric"], r) == "Failed"
    outcome = {
        n: flagger_outcome(fx["hook"]["type"], r) for n, (fx, r) in answers.items() if n in FLAGGER
    }
    assert outcome == {
        "flagger-confirm-promotion.json": "wait",
        "flagger-rollout.json": "failed check",
        "flagger-rollback.json": "rollback",
        "flagger-legacy.json": "wait",
    }
    assert answers["flagger-confirm-promotion.json"][1].status_code == 412
    # The verdict only reads: the rollout is still running until the analysis acts on it.
    after = rollout.read(rt.store)
    assert after is not None and after.running and after.revision == moved.revision


def test_bad_requests_are_refused_with_what_is_wrong(world: dict[str, Any]) -> None:
    client: httpx.Client = world["client"]
    # A POST without a body is a plain ask, the same as a GET.
    plain = client.post("/rollout/verdict")
    assert plain.status_code == 200 and plain.json()["expected_version"] is None
    assert plain.json()["verdict"] == client.get("/rollout/verdict").json()["verdict"]
    r = client.post("/rollout/flagger", json={"namespace": "ml"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "name"
    r = client.post(
        "/rollout/flagger",
        json={"name": "a", "namespace": "b", "metadata": {"challenger_version": "seven"}},
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][:2] == [
        "metadata",
        "challenger_version",
    ]
    r = client.post(
        "/rollout/verdict", content=b"version=2", headers={"content-type": "text/plain"}
    )
    assert r.status_code == 415
    r = client.get("/rollout/verdict", params={"challenger_version": "x"})
    assert r.status_code == 422
