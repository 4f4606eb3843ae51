"""The online demo: simulated traffic replayed through the real serving app on loopback.

Three scenes, each through a real app (uvicorn on a free loopback port, the shadow worker,
the prediction log) and the online analysis after it: a shadow comparison; a canary that
advances stage by stage to a promotion; a broken challenger (labels inverted upstream) as a
canary that the app's guard rolls back at once. ``challenger online-demo`` runs it with the
online-analysis flow as ``analyse``; nothing here imports Prefect.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

from challenger.config import CandidateConfig, Settings
from challenger.demo.reset import mark_demo, reset_demo
from challenger.demo.simulator import Period, simulate_batch
from challenger.online.review import with_overrides
from challenger.online.serve.app import create_app
from challenger.online.serve.runtime import ServingRuntime
from challenger.online.serve.server import BackgroundServer
from challenger.store.record import TAG
from challenger.store.registry import Registry
from challenger.store.tracking import Tracking
from challenger.train.pipeline import build_pipeline

#: The online analysis: called with ``config=`` (the configuration's path) and ``overrides=``
#: (nested settings); returns its record (``decision``, ``done``, ...).
Analyse = Callable[..., dict[str, Any]]


#: The demo's own app, on loopback, for its own admin calls (fresh per process: admin tokens
#: must be at least 16 characters, and nobody else needs to know this one).
DEMO_TOKEN = secrets.token_urlsafe(24)
_LR = CandidateConfig(
    name="logistic_regression",
    estimator="sklearn.linear_model.LogisticRegression",
    params={"C": 1.0, "max_iter": 1000},
)


def _register(
    registry: Registry,
    tracking: Tracking,
    settings: Settings,
    frame: pd.DataFrame,
    y: np.ndarray,
    note: str,
) -> int:
    feats = list(settings.data.features)
    model = build_pipeline(
        _LR, settings.data.numeric, settings.data.categorical, settings.project.seed
    ).fit(frame[feats], y)
    with tracking.start_run(
        f"online-demo-{note.split()[0]}", tags={f"{TAG}kind": "online-demo"}
    ) as run_id:
        uri = tracking.log_model(model, frame[feats].head(200))
        info = registry.register(
            uri,
            run_id,
            {f"{TAG}trigger": "online-demo", f"{TAG}gate_decision": "PENDING"},
            description=f"Online demo: {note}.",
        )
    return info.version


@contextmanager
def _serving(settings: Settings) -> Iterator[tuple[httpx.Client, ServingRuntime]]:
    runtime = ServingRuntime(settings)
    with (
        BackgroundServer(create_app(settings, runtime)) as server,
        httpx.Client(
            base_url=server.url, timeout=30.0, headers={"authorization": f"Bearer {DEMO_TOKEN}"}
        ) as client,
    ):
        yield client, runtime


def _traffic(
    client: httpx.Client,
    frame: pd.DataFrame,
    settings: Settings,
    *,
    start: int,
    n: int,
    labels: bool,
) -> dict[str, int]:
    feats = list(settings.data.features)
    rows = frame.iloc[start : start + n]
    served: dict[str, int] = {}
    feedback = []
    for i, (rec, label) in enumerate(
        zip(rows[feats].to_dict("records"), rows[settings.data.target], strict=True)
    ):
        r = client.post("/predict", json={"user_id": f"user-{start + i}", "record": rec})
        r.raise_for_status()
        body = r.json()
        served[body["variant"]] = served.get(body["variant"], 0) + 1
        feedback.append({"request_id": body["request_id"], "label": int(label)})
    if labels:
        for k in range(0, len(feedback), 1000):
            client.post("/feedback", json={"items": feedback[k : k + 1000]}).raise_for_status()
    return served


def run_online_demo(
    settings: Settings,
    config: str | None,
    analyse: Analyse,
    on_step: Callable[[dict[str, Any]], None] | None = None,
    requests_per_round: int = 1500,
) -> list[dict[str, Any]]:
    """Replay simulated traffic through the real app: a shadow comparison, a canary that
    advances stage by stage to a promotion, and a broken canary the app rolls back at once.

    The registered model must be the demo's (``challenger demo`` made it, or the store is
    fresh): it is reset first. The demo keeps its own prediction log and flags file under
    ``data/online-demo/``.

    Args:
        settings: The loaded configuration.
        config: The path it was loaded from (passed on to ``analyse``).
        analyse: The online analysis run after each round of traffic, e.g.
            ``flows.online.online_flow``.
        on_step: Called with each summary row as it happens.
        requests_per_round: Requests replayed between two analyses.
    """
    registry = Registry.from_settings(settings)
    tracking = Tracking.from_settings(settings)
    reset_demo(registry)
    mark_demo(registry)
    folder = settings.path(Path("data/online-demo"))
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("predictions.db", "predictions.db-wal", "predictions.db-shm", "flags.yaml"):
        (folder / name).unlink(missing_ok=True)

    def overrides(strategy: str) -> dict[str, Any]:
        return {
            "serving": {
                "admin_token": DEMO_TOKEN,
                "reload_seconds": 0.5,
                "flags_seconds": 0.5,
                "prediction_log": str(folder / "predictions.db"),
                "flags_file": str(folder / "flags.yaml"),
            },
            "rollout": {
                "strategy": strategy,
                "canary": {"min_requests": 60, "min_labels": 40, "guard_seconds": 0.5},
            },
        }

    rows: list[dict[str, Any]] = []

    def emit(scene: str, event: str, note: str, **extra: Any) -> None:
        row = {"scene": scene, "event": event, "note": note, **extra}
        rows.append(row)
        if on_step is not None:
            on_step(row)

    seed = settings.project.seed
    target = settings.data.target
    old = simulate_batch(0, 4000, seed, Period())
    new = simulate_batch(1, 4000, seed, Period(1.0, 1.0))
    live = simulate_batch(2, 20_000, seed + 1, Period(1.0, 1.0))
    champion = _register(
        registry,
        tracking,
        settings,
        old,
        old[target].to_numpy(),
        "trained on last year's applicants",
    )
    registry.promote(champion, None)
    good = _register(
        registry, tracking, settings, new, new[target].to_numpy(), "retrained on the new regime"
    )
    registry.mark_challenger(good)
    emit(
        "setup", "registered", f"champion v{champion} (old regime), challenger v{good} (new regime)"
    )

    # Scene 1: shadow. Labels are delayed, so the comparison is agreement, PSI, errors, latency.
    shadow_cfg = with_overrides(settings, overrides("shadow"))
    with _serving(shadow_cfg) as (client, _):
        deadline = time.monotonic() + 120
        while not client.get("/health").json()["shadow"]["ready"]:
            if time.monotonic() > deadline:
                raise RuntimeError("the shadow worker did not start within 120 s")
            time.sleep(0.2)
        served = _traffic(client, live, shadow_cfg, start=0, n=requests_per_round, labels=False)
    result = analyse(config=config, overrides=overrides("shadow"))
    dec = result["decision"]
    shadow = dec["details"].get("shadow", {})
    emit(
        "shadow",
        dec["action"],
        dec["reason"],
        served=served,
        agreement=shadow.get("agreement"),
        psi=shadow.get("psi"),
        added_ms_p99=shadow.get("added_ms_p99"),
    )

    # Scene 2: canary of the good challenger, stage by stage to a promotion.
    canary_cfg = with_overrides(settings, overrides("canary"))
    start = requests_per_round
    with _serving(canary_cfg) as (client, runtime):
        for _ in range(len(canary_cfg.rollout.canary.stages) + 2):
            served = _traffic(
                client, live, canary_cfg, start=start, n=requests_per_round, labels=True
            )
            start += requests_per_round
            assert runtime.writer is not None
            runtime.writer.flush()
            result = analyse(config=config, overrides=overrides("canary"))
            dec = result["decision"]
            emit("canary", dec["action"], dec["reason"], served=served, done=result["done"])
            if dec["action"] in ("promote", "rollback"):
                break
            if dec["action"] == "advance":
                _wait_stage(client, dec["next_stage"])

    # Scene 3: a broken challenger (labels inverted by an upstream join bug) as a canary.
    broken = _register(
        registry, tracking, settings, new, 1 - new[target].to_numpy(), "labels inverted upstream"
    )
    registry.mark_challenger(broken)
    served = {}
    with _serving(canary_cfg) as (client, _):
        state: dict[str, Any] | None = None
        for _ in range(8):
            chunk = requests_per_round // 3
            got = _traffic(client, live, canary_cfg, start=start, n=chunk, labels=True)
            for k, v in got.items():
                served[k] = served.get(k, 0) + v
            start += chunk
            time.sleep(1.0)
            state = client.get("/health").json()["rollout"]
            if state and state["status"] != "running":
                break
        emit(
            "broken canary",
            f"app: {state['status'] if state else 'no rollout'}",
            state["reason"] if state else "",
            served=served,
        )
    result = analyse(config=config, overrides=overrides("canary"))
    dec = result["decision"]
    emit("broken canary", f"recorded {dec['action']}", dec["reason"], done=result["done"])
    final = registry.champion()
    emit("end", "champion", f"v{final.version if final else None} serves production")
    return rows


def _wait_stage(client: httpx.Client, stage: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get("/health").json()["rollout"]
        if state and state["stage"] == stage:
            return
        time.sleep(0.1)
    raise RuntimeError(f"the app did not move to canary stage {stage} within {timeout:.0f} s")
