"""Hostile requests against the real serving app: uvicorn on a free loopback port, httpx over
real HTTP, the shadow worker process and the SQLite prediction log.

Each request a fault probe would try gets a clear 4xx that names what is wrong, and none of
them disturbs the app: after all of them, /health is ok, the log writes, and every answer
that says ``logged: true`` is in the log. One bad value never affects another request (the
shadow worker isolates the row it fails on), labels are first-wins, the admin API never
opens to an empty token, and nothing is loaded from a CDN.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from tests.helpers import (
    SERVING_LR,
    log_served_model,
    register_logged,
    serving_client,
    serving_project,
    wait_until,
)

from challenger.config import Settings
from challenger.demo.simulator import Period, simulate_batch
from challenger.online.serve.app import create_app
from challenger.online.serve.runtime import ServingRuntime
from challenger.online.serve.server import BackgroundServer
from challenger.store.registry import Registry
from challenger.store.tracking import Tracking
from challenger.train.pipeline import build_pipeline


def _features(s: Settings, n: int, day: int = 5) -> list[dict[str, Any]]:
    return simulate_batch(day, n, 11, Period())[list(s.data.features)].to_dict("records")


def _log_squaring_model(s: Settings, frame: pd.DataFrame) -> tuple[str, str]:
    """A shadow that squares its scaled inputs: fine on the training range, but a huge value
    overflows to infinity and the model refuses the whole frame it is in (as the issue's
    shadow did on age = 1e300)."""
    feats = list(s.data.features)
    base = build_pipeline(SERVING_LR, s.data.numeric, s.data.categorical, 7)
    model = Pipeline(
        [
            ("preprocess", base.named_steps["preprocess"]),
            ("square", FunctionTransformer(np.square)),
            ("model", LogisticRegression(max_iter=500)),
        ]
    ).fit(frame[feats], frame[s.data.target])
    tracking = Tracking.from_settings(s)
    with tracking.start_run("log-squaring") as run_id:
        return tracking.log_model(model, frame[feats].head(50)), run_id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A store with a champion (its training data logged as the reference) and a shadow."""
    store = tmp_path_factory.mktemp("store")
    folder = tmp_path_factory.mktemp("refuse")
    s = serving_project(
        folder, store, "hostile", {"strategy": "shadow", "shadow": {"models": ["challenger"]}}
    )
    train = simulate_batch(0, 2000, 11, Period())
    reg = Registry.from_settings(s)
    v1 = register_logged(reg, log_served_model(s, train, reference=True))
    reg.promote(v1, None)
    v2 = register_logged(reg, _log_squaring_model(s, train))
    reg.mark_challenger(v2)
    return {"store": store, "s": s, "v": (v1, v2)}


@pytest.fixture(scope="module")
def app(world: dict[str, Any]) -> Iterator[dict[str, Any]]:
    s = world["s"]
    runtime = ServingRuntime(s)
    with BackgroundServer(create_app(s, runtime)) as server, serving_client(server.url) as c:
        wait_until(lambda: c.get("/health").json()["shadow"]["ready"], 120, "the shadow worker")
        yield {"client": c, "runtime": runtime, "s": s, "url": server.url}


def _post(c: httpx.Client, body: bytes, content_type: str = "application/json") -> httpx.Response:
    return c.post("/predict", content=body, headers={"content-type": content_type})


def _raw_status(url: str, path: bytes, authorization: bytes) -> int:
    """GET ``path`` with an Authorization header written byte for byte; the status code."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"GET "
            + path
            + b" HTTP/1.1\r\nHost: x\r\nAuthorization: "
            + authorization
            + b"\r\nConnection: close\r\n\r\n"
        )
        head = sock.recv(1024)
    return int(head.split(b" ", 2)[1])


def _post_feedback(c: httpx.Client, body: bytes) -> httpx.Response:
    return c.post("/feedback", content=body, headers={"content-type": "application/json"})


def _field_error(r: httpx.Response) -> tuple[list[Any], str]:
    assert r.status_code == 422, r.text
    first = r.json()["detail"][0]
    return first["loc"], first["msg"]


def test_numbers_beyond_64_bits_or_not_finite_get_422_naming_the_field(
    app: dict[str, Any],
) -> None:
    c, s = app["client"], app["s"]
    good = _features(s, 1)[0]
    single = json.dumps({"record": {**good, "age": "AGE"}})
    batch = json.dumps({"records": [good, {**good, "age": "AGE"}]})
    for literal, why in (
        ("20000000000000000000", "beyond 64 bits"),
        ("1" + "0" * 400, "beyond 64 bits"),
        ("NaN", "not a finite number"),
        ("-Infinity", "not a finite number"),
        ("1e400", "too large for a double"),
    ):
        loc, msg = _field_error(_post(c, single.replace('"AGE"', literal).encode()))
        assert loc == ["record", "age"] and why in msg, (literal, msg)
        loc, msg = _field_error(_post(c, batch.replace('"AGE"', literal).encode()))
        assert loc == ["records", 1, "age"] and why in msg, (literal, msg)
    # A label's fields are held to it too.
    r = _post_feedback(c, b'{"request_id": "x", "index": 99999999999999999999, "label": 1}')
    assert r.status_code == 422


def test_values_outside_the_champions_training_profile_are_refused(app: dict[str, Any]) -> None:
    c, s = app["client"], app["s"]
    good = _features(s, 1)[0]
    for column, value in (("age", 1e300), ("income", -5.0), ("region", "atlantis")):
        loc, msg = _field_error(c.post("/predict", json={"record": {**good, column: value}}))
        assert loc == ["record", column], msg
        assert "training" in msg and "serving.out_of_profile" in msg
    profile = c.get("/health").json()["input_profile"]
    assert "training data (2000 rows)" in profile["source"]
    assert profile["categories"]["region"] == ["central", "east", "north", "south", "west"]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        (b'{"record": {"age": 1}}', "text/plain", 415, "must be JSON"),
        (b"record=1", "application/x-www-form-urlencoded", 415, "must be JSON"),
        (b'{"record": {"age": 1}}', "", 415, "must be JSON"),
        (b'{"user_id": "\xff\xfe", "record": {}}', "application/json", 422, "not UTF-8"),
        (b'{"user_id": "\\ud800", "record": {}}', "application/json", 422, "surrogate"),
        (b'{"record": {"\\udfff": 1}}', "application/json", 422, "surrogate"),
        (b'{"record": ' * 5000 + b"1" + b"}" * 5000, "application/json", 422, "nested"),
        (b"[" * 200_000, "application/json", 422, "nested"),
        (b'{"record": {"age": 1}', "application/json", 422, "not valid JSON"),
        (b"[1, 2, 3]", "application/json", 422, ""),
        (b'"a string"', "application/json", 422, ""),
        (b'{"record": [1, 2]}', "application/json", 422, ""),
        (b'{"records": []}', "application/json", 422, ""),
        (b'{"record": {}, "model": "3"}', "application/json", 422, ""),
        (b'{"user_id": "' + b"u" * 10_000 + b'", "record": {}}', "application/json", 422, ""),
    ],
)
def test_bodies_that_are_not_a_prediction_request_get_a_clear_4xx(
    app: dict[str, Any], body: bytes, content_type: str, status: int, says: str
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    r = app["client"].post("/predict", content=body, headers=headers)
    assert r.status_code == status, r.text[:300]
    assert says in r.text
    assert r.headers["content-type"] == "application/json"


def test_unknown_and_missing_fields_are_named(app: dict[str, Any]) -> None:
    c, s = app["client"], app["s"]
    good = _features(s, 1)[0]
    loc, msg = _field_error(c.post("/predict", json={"record": {**good, "colour": "red"}}))
    assert loc == ["record", "colour"] and "unknown field" in msg
    missing = {k: v for k, v in good.items() if k != "income"}
    assert _field_error(c.post("/predict", json={"record": missing}))[0] == ["record", "income"]


def test_huge_bodies_get_413_before_anyone_reads_them(app: dict[str, Any]) -> None:
    r = _post(app["client"], b'{"records": [' + b"1," * 600_000 + b"1]}")
    assert r.status_code == 413 and "larger than" in r.json()["detail"]


def test_labels_are_first_wins_and_unknown_requests_are_refused(app: dict[str, Any]) -> None:
    c, s = app["client"], app["s"]
    answer = c.post("/predict", json={"records": _features(s, 2)}).json()
    assert answer["logged"] is True
    rid = answer["request_id"]
    first = c.post("/feedback", json={"request_id": rid, "index": 1, "label": 1})
    assert first.status_code == 202 and first.json()["accepted"] == 1
    again = c.post("/feedback", json={"request_id": rid, "index": 1, "label": 1})
    assert again.status_code == 202 and again.json()["duplicates"] == 1
    other = c.post("/feedback", json={"request_id": rid, "index": 1, "label": 0})
    assert other.status_code == 409 and "labelled differently" in other.json()["detail"]
    assert other.json()["conflicts"] == [
        {"request_id": rid, "index": 1, "label": 1.0, "value": None}
    ]
    forced = c.post(
        "/feedback", json={"request_id": rid, "index": 1, "label": 0, "overwrite": True}
    )
    assert forced.status_code == 202 and forced.json()["replaced"] == 1
    labels = app["runtime"].store.frame("SELECT label FROM feedback WHERE request_id = ?", [rid])
    assert labels["label"].tolist() == [0.0]
    r = c.post("/feedback", json={"request_id": "never-answered", "label": 1})
    assert r.status_code == 404 and "unknown request id" in r.json()["detail"]
    infinite = b'{"request_id": "%s", "value": Infinity}' % rid.encode()
    assert _post_feedback(c, infinite).status_code == 422


def test_docs_load_nothing_from_a_cdn_and_admin_needs_the_token(app: dict[str, Any]) -> None:
    c, url = app["client"], app["url"]
    assert c.get("/docs").status_code == 404 and c.get("/redoc").status_code == 404
    spec = c.get("/openapi.json")
    assert spec.status_code == 200 and "/predict" in spec.json()["paths"]
    assert "cdn" not in spec.text.lower()
    for header in ("Bearer", "bearer x", "Basic dGVzdA==", "Bearer test-admin-tokenX"):
        with httpx.Client(base_url=url, headers={"authorization": header}) as anon:
            assert anon.get("/admin/state").status_code == 401, header
            assert anon.patch("/admin/flags", json={}).status_code == 401, header
    for raw in (b"Bearer ", b"Bearer   ", b"Bearer \t"):  # httpx will not send these
        assert _raw_status(url, b"/admin/state", raw) == 401, raw
    assert c.get("/admin/state").status_code == 200


@pytest.mark.parametrize("token", ["", "short-token"])
def test_an_empty_or_short_admin_token_refuses_to_start(world: dict[str, Any], token: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["CHALLENGER_SERVING__ADMIN_TOKEN"] = token
    config = world["s"].root / "challenger.yaml"
    served = subprocess.run(
        [sys.executable, "-m", "challenger.cli", "serve", "--config", str(config), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert served.returncode == 2, served.stderr[-2000:]
    assert "serving.admin_token" in served.stderr and "at least 16" in served.stderr
    assert "Traceback" not in served.stderr and (not token or token not in served.stderr)


def test_one_bad_value_does_not_cost_the_shadow_its_other_rows(
    world: dict[str, Any], tmp_path: Path
) -> None:
    s = serving_project(
        tmp_path,
        world["store"],
        "hostile",
        {"strategy": "shadow", "shadow": {"models": ["challenger"]}},
        {"out_of_profile": "flag"},
    )
    runtime = ServingRuntime(s)
    records = _features(s, 12, day=6)
    poisoned = [*records[:3], {**records[3], "age": 1e300}, *records[4:6]]
    with BackgroundServer(create_app(s, runtime)) as server, serving_client(server.url) as c:
        wait_until(lambda: c.get("/health").json()["shadow"]["ready"], 120, "the shadow worker")

        def send(body: dict[str, Any]) -> dict[str, Any]:
            r = c.post("/predict", json=body)
            assert r.status_code == 200, r.text
            return dict(r.json())

        bodies = [{"records": poisoned}] + [{"record": r} for r in records[6:]]
        with ThreadPoolExecutor(len(bodies)) as pool:  # at once: one micro-batch, or a few
            answers = list(pool.map(send, bodies))
        flagged = answers[0]["predictions"][3]
        assert flagged["out_of_profile"] == ["age"], "served, and flagged"
        assert all("out_of_profile" not in p for a in answers for p in a["predictions"][:3])
        ids = [a["request_id"] for a in answers]
        marks = ",".join("?" * len(ids))
        sql = f"SELECT request_id, idx, score, error FROM shadows WHERE request_id IN ({marks})"
        wait_until(lambda: len(runtime.store.frame(sql, ids)) == 12, 60, "the shadow rows")
        rows = runtime.store.frame(sql, ids)
        bad = rows[rows["error"].notna()]
        assert list(zip(bad["request_id"], bad["idx"], strict=True)) == [(ids[0], 3)]
        assert "infinity" in bad["error"].iloc[0].lower()
        assert rows["score"].notna().sum() == 11, "every other row has its shadow score"
        logged = runtime.store.frame(
            f"SELECT request_id, idx, flagged FROM predictions WHERE request_id IN ({marks})", ids
        )
        assert logged.dropna(subset=["flagged"])[["idx", "flagged"]].values.tolist() == [[3, "age"]]


def test_after_all_of_it_the_app_is_healthy_and_every_logged_answer_is_in_the_log(
    app: dict[str, Any],
) -> None:
    c, s, runtime = app["client"], app["s"], app["runtime"]
    answers = [c.post("/predict", json={"record": r}).json() for r in _features(s, 20, day=7)]
    assert all(a["logged"] for a in answers)
    health = c.get("/health").json()
    assert health["status"] == "ok", health["problems"]
    assert health["log"]["healthy"] and health["log"]["failed"] == 0
    assert runtime.writer is not None and runtime.writer.alive
    ids = [a["request_id"] for a in answers]
    marks = ",".join("?" * len(ids))
    found = runtime.store.frame(
        f"SELECT request_id FROM predictions WHERE request_id IN ({marks})", ids
    )
    assert sorted(found["request_id"]) == sorted(ids), "answered, so committed"
