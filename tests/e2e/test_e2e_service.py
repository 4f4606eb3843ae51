"""End to end: `challenger up` on free loopback ports, the deployments, a manual run, a drift event.

Everything is real: `challenger up` starts a Prefect server, a process worker and the MLflow
UI (on a sqlite store in a temporary project), and deploys prefect.yaml; the manual retrain
runs through `prefect deployment run --watch`; the scheduled monitor deployment checks a
drifted batch and emits `challenger.drift.detected`; the deployment trigger starts
`retrain/on-trigger` with the event's evidence; both retrains leave their versions and
aliases in the MLflow store; the online-analysis deployment runs on its own queue.
`challenger down` stops everything at the end, also when a test fails (and the fixture kills
by pid whatever `down` could not stop).

Takes one to three minutes on two cores (a server start, six flow runs in subprocesses).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.helpers import GATE_TIMING

from challenger.demo.simulator import Period, simulate_batch
from challenger.store.batches import write_table

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
MODEL = "e2e-loan-default"
RUN_TIMEOUT = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without Prefect or MLflow settings of the test session."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PREFECT_", "MLFLOW_", "CHALLENGER_"))
    }
    env.update(
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_WORKER_QUERY_SECONDS="1",  # pick up runs quickly (default: every 10 s)
        GIT_PYTHON_REFRESH="quiet",
        **extra,
    )
    return env


def run(
    argv: list[str], env: dict[str, str], timeout: float = RUN_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )


def challenger(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "challenger.cli", *args], env)


def prefect(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "prefect", *args], env)


def recorded_pids(state: Path) -> list[int]:
    pids = []
    for pid_file in (state / "run").glob("*.pid"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            pids.append(int(json.loads(pid_file.read_text())["pid"]))
    return pids


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def up_config(model_name: str, **sections: dict[str, Any]) -> dict[str, Any]:
    """A small configuration for `challenger up` on free loopback ports; ``sections`` add to it."""
    cfg: dict[str, Any] = {
        "project": {"model_name": model_name},
        "training": {
            "cv": {"n_splits": 3},
            "candidates": [
                {
                    "name": "logistic_regression",
                    "estimator": "sklearn.linear_model.LogisticRegression",
                    "params": {"C": 1.0, "max_iter": 500},
                }
            ],
        },
        "gate": {"n_resamples": 1000, **GATE_TIMING},
        # Active schedules that cannot come due during the test (once a year).
        "triggers": {"interval": {"monitor_minutes": 525_600, "retrain_hours": 8_760}},
        "rollout": {"review_minutes": 525_600},
        "service": {
            "prefect_port": free_port(),
            "mlflow_port": free_port(),
            "runner_port": free_port(),
        },
    }
    for section, values in sections.items():
        cfg.setdefault(section, {}).update(values)
    return cfg


def stop_up(config: Path, state: Path, env: dict[str, str]) -> None:
    """`challenger down`; then kill only what up recorded and down left alive, and fail on it."""
    down = challenger("down", "--config", str(config), "--json", env=env)
    leftovers = [pid for pid in recorded_pids(state) if alive(pid)]
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    assert down.returncode == 0, down.stderr
    assert not leftovers, f"challenger down left {leftovers} running"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("service")
    config = folder / "challenger.yaml"
    config.write_text(
        yaml.safe_dump(
            up_config(
                MODEL,
                simulator={"rows_per_batch": 2000},
                serving={"enabled": True},  # a serving app: the online analysis is scheduled
            )
        )
    )
    state = folder / ".challenger"
    env = clean_env()
    started = time.monotonic()
    try:
        up = challenger("up", "--config", str(config), "--json", env=env)
        assert up.returncode == 0, f"challenger up failed:\n{up.stdout}\n{up.stderr}"
        info = json.loads(up.stdout)
        info.update(
            config=config,
            folder=folder,
            state=state,
            env=clean_env(PREFECT_API_URL=info["prefect_api_url"]),
            up_seconds=time.monotonic() - started,
        )
        yield info
    finally:
        stop_up(config, state, env)


def api(info: dict[str, Any], method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(method, f"{info['prefect_api_url']}{path}", json=body, timeout=20)
    response.raise_for_status()
    return response.json()


def mlflow(info: dict[str, Any], endpoint: str, **params: str) -> Any:
    url = f"{info['mlflow_url']}/api/2.0/mlflow/{endpoint}"
    response = httpx.get(url, params=params, timeout=20)
    response.raise_for_status()
    return response.json()


def deployment(info: dict[str, Any], name: str) -> dict[str, Any]:
    flow, _, deployment_name = name.partition("/")
    return dict(api(info, "GET", f"/deployments/name/{flow}/{deployment_name}"))


def model_state(info: dict[str, Any]) -> tuple[dict[str, int], dict[int, dict[str, str]]]:
    """Aliases and each version's tags, as the MLflow server shows them."""
    model = mlflow(info, "registered-models/get", name=MODEL)["registered_model"]
    aliases = {a["alias"]: int(a["version"]) for a in model.get("aliases", [])}
    found = mlflow(info, "model-versions/search", filter=f"name='{MODEL}'")["model_versions"]
    tags = {int(v["version"]): {t["key"]: t["value"] for t in v.get("tags", [])} for v in found}
    return aliases, tags


def flow_run_id(output: str) -> str:
    match = re.search(r"UUID: ([0-9a-f-]{36})", output)
    assert match, output
    return match.group(1)


def test_up_serves_both_uis_with_the_deployments_and_their_schedules(
    service: dict[str, Any],
) -> None:
    assert service["prefect_url"].startswith("http://127.0.0.1:")
    assert httpx.get(service["prefect_url"], timeout=10).status_code == 200  # the Prefect UI
    assert httpx.get(f"{service['mlflow_url']}/health", timeout=10).text.strip() == "OK"
    assert httpx.get(service["model_url"].split("#")[0], timeout=10).status_code == 200
    names = [d["name"] for d in service["deployments"]]
    assert names == [
        "monitor/check-incoming",
        "online-analysis/review-live-traffic",
        "retrain/manual",
        "retrain/on-schedule",
        "retrain/on-trigger",
    ]

    monitor = deployment(service, "monitor/check-incoming")
    [schedule] = monitor["schedules"]
    assert schedule["active"] is True
    assert schedule["schedule"]["cron"] == "0 0 1 1 *"  # "At 00:00 on 1 January" in the UI
    assert monitor["parameters"] == {"config": str(service["config"]), "retrain_via": "event"}
    assert deployment(service, "retrain/manual")["schedules"] == []
    scheduled = deployment(service, "retrain/on-schedule")
    assert scheduled["parameters"]["reason"] == "interval" and scheduled["schedules"][0]["active"]

    online = deployment(service, "online-analysis/review-live-traffic")
    [schedule] = online["schedules"]
    assert schedule["active"] is True
    assert schedule["schedule"]["cron"] == "0 0 1 1 *"  # "At 00:00 on 1 January" in the UI
    assert online["parameters"] == {"config": str(service["config"])}
    assert online["entrypoint"] == "flows/online.py:online_flow"
    assert online["work_queue_name"] == "online"
    assert online["global_concurrency_limit"]["limit"] == 1
    assert online["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"

    queues = {
        q["name"]: q for q in api(service, "POST", "/work_pools/challenger/queues/filter", {})
    }
    assert queues["retrain"]["concurrency_limit"] == 1  # one retrain at a time
    assert queues["online"]["concurrency_limit"] == 1  # one online analysis at a time
    on_trigger = deployment(service, "retrain/on-trigger")
    automations = api(service, "POST", "/automations/filter", {})
    [automation] = [
        a for a in automations if a["actions"][0].get("deployment_id") == on_trigger["id"]
    ]
    assert "challenger.drift.detected" in automation["trigger"]["expect"]
    assert automation["actions"][0]["parameters"]["trigger_evidence"] == (
        "{{ event.payload.evidence }}"
    )
    pids = service["processes"]
    assert set(pids) == {"prefect-server", "mlflow", "worker-challenger", "runner"}
    assert httpx.get(f"{service['runner_url']}/health", timeout=10).json()["ok"] is True


def test_a_manual_run_from_prefect_trains_the_first_champion(service: dict[str, Any]) -> None:
    seed = write_table(simulate_batch(0, 2000, 7), service["folder"] / "seed" / "day-000.parquet")

    done = prefect(
        "deployment", "run", "retrain/manual",
        "--param", f"data={seed}",
        "--watch", "--watch-timeout", str(RUN_TIMEOUT),
        env=service["env"],
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Flow run finished successfully" in done.stdout
    run = api(service, "GET", f"/flow_runs/{flow_run_id(done.stdout)}")
    assert run["parameters"]["reason"] == "manual" and run["state_type"] == "COMPLETED"
    assert "gate:PROMOTE" in run["tags"] and run["name"].startswith("v1 PROMOTE · ")  # run list
    aliases, tags = model_state(service)
    assert aliases == {"champion": 1}
    assert tags[1]["challenger.trigger"] == "manual"
    assert tags[1]["challenger.gate_decision"] == "PROMOTE"
    assert len(tags[1]) <= 8, tags[1]  # a handful to scan in the registry list
    # Started from the UI, without monitor evidence: its run still says why (trigger.json),
    # and keeps the version's whole record beside it.
    run_id = mlflow(service, "model-versions/get", name=MODEL, version="1")["model_version"][
        "run_id"
    ]
    root = {f["path"] for f in mlflow(service, "artifacts/list", run_id=run_id)["files"]}
    assert "trigger.json" in root, root
    kept = mlflow(service, "artifacts/list", run_id=run_id, path="record")["files"]
    assert "record/v1.json" in {f["path"] for f in kept}


def test_the_drift_event_starts_the_triggered_retrain(service: dict[str, Any]) -> None:
    drifted = simulate_batch(3, 2000, 7, Period(1.0, 1.0))
    write_table(drifted, service["folder"] / "data" / "incoming" / "day-003.parquet")
    on_trigger = deployment(service, "retrain/on-trigger")

    done = prefect(
        "deployment", "run", "monitor/check-incoming",
        "--watch", "--watch-timeout", str(RUN_TIMEOUT),
        env=service["env"],
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    monitor_run = flow_run_id(done.stdout)
    # The server's event persister writes events in batches (every few seconds): an event
    # emitted just before the run completed may not be readable yet.
    deadline = time.monotonic() + 60
    while True:
        events = api(
            service,
            "POST",
            "/events/filter",
            {"filter": {"event": {"name": ["challenger.drift.detected"]}}, "limit": 10},
        )["events"]
        if events or time.monotonic() > deadline:
            break
        time.sleep(1)
    [event] = events
    assert event["resource"]["prefect.resource.id"] == f"challenger.model.{MODEL}"
    assert event["payload"]["trigger"] == "data_change"
    assert event["payload"]["batches"] == ["day-003"]

    deadline = time.monotonic() + RUN_TIMEOUT
    triggered: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        triggered = api(
            service,
            "POST",
            "/flow_runs/filter",
            {"deployments": {"id": {"any_": [on_trigger["id"]]}}},
        )
        if triggered and triggered[0]["state_type"] in ("COMPLETED", "FAILED", "CRASHED"):
            break
        time.sleep(2)
    [run] = triggered
    assert run["state_type"] == "COMPLETED", run["state"]
    assert run["created_by"]["type"] == "AUTOMATION"
    evidence = run["parameters"]["trigger_evidence"]
    assert run["parameters"]["reason"] == "data_change" == evidence["trigger"]
    assert evidence["evidence"]["drift_share"] >= 0.3
    assert "channel" in evidence["evidence"]["drifted_columns"]

    aliases, tags = model_state(service)
    assert aliases == {"champion": 2, "previous-champion": 1}
    assert tags[2]["challenger.trigger"] == "data_change"
    assert tags[2]["challenger.gate_decision"] == "PROMOTE"
    assert tags[2]["challenger.trained_on"].endswith(" · 1 batch (day-003)")

    # The monitor run links the Evidently report it logged to MLflow.
    artifacts = api(
        service,
        "POST",
        "/artifacts/filter",
        {"artifacts": {"flow_run_id": {"any_": [monitor_run]}}},
    )
    [link] = [a for a in artifacts if a["key"] == "drift-report"]
    assert f"]({service['mlflow_url']}/#/experiments/" in link["data"]  # a markdown link
    mlflow_run = re.search(r"/runs/([0-9a-f]{32})/", link["data"])
    assert mlflow_run, link["data"]
    files = mlflow(service, "artifacts/list", run_id=mlflow_run.group(1), path="drift")["files"]
    assert "drift/day-003-drift.html" in {f["path"] for f in files}


def test_monitor_hands_its_batch_to_up_s_warm_runner(service: dict[str, Any]) -> None:
    batch = write_table(simulate_batch(4, 1000, 7), service["folder"] / "warm-day-004.parquet")

    def monitor(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        args = ("monitor", "--batch", str(path), "--no-retrain", "--json", *extra)
        return challenger(*args, "--config", str(service["config"]), env=service["env"])

    done = monitor(batch)

    assert done.returncode == 0, done.stderr
    assert "checked by the warm runner" in done.stderr
    out = json.loads(done.stdout)
    assert (out["batch"], out["status"], out["rows"]) == ("warm-day-004", "accepted", 1000)
    assert out["champion"] == 2 and out["retrain"] is None and out["drift"]["columns"]
    # The runner ran the monitor flow on up's server: its run is in the Prefect UI.
    runs = api(
        service,
        "POST",
        "/flow_runs/filter",
        {"flows": {"name": {"any_": ["monitor"]}}, "sort": "START_TIME_DESC", "limit": 20},
    )
    [run] = [r for r in runs if r["parameters"].get("batch") == str(batch)]
    assert run["state_type"] == "COMPLETED"

    # An expected outcome crosses over as itself: one sentence, exit 2, the same JSON.
    bad = simulate_batch(5, 200, 7).drop(columns=["income"])
    broken = write_table(bad, service["folder"] / "warm-day-005.parquet")
    refused = monitor(broken)
    assert refused.returncode == 2, refused.stderr
    assert json.loads(refused.stdout)["kind"] == "BatchQuarantined"
    assert "Traceback" not in refused.stderr
    # --local does the same work in the command's own process.
    other = write_table(simulate_batch(6, 1000, 8), service["folder"] / "warm-day-006.parquet")
    here = monitor(other, "--local")
    assert here.returncode == 0, here.stderr
    assert "warm runner" not in here.stderr
    assert json.loads(here.stdout)["rows"] == 1000


def test_the_online_analysis_deployment_runs_on_its_queue(service: dict[str, Any]) -> None:
    done = prefect(
        "deployment", "run", "online-analysis/review-live-traffic",
        "--watch", "--watch-timeout", str(RUN_TIMEOUT),
        env=service["env"],
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
    run = api(service, "GET", f"/flow_runs/{flow_run_id(done.stdout)}")
    assert run["state_type"] == "COMPLETED" and run["work_queue_name"] == "online"
    # Nothing is served yet: the analysis records that there is nothing to decide.
    [artifact] = api(
        service,
        "POST",
        "/artifacts/filter",
        {"artifacts": {"flow_run_id": {"any_": [run["id"]]}, "key": {"any_": ["online-decision"]}}},
    )
    assert "keep_watching" in artifact["description"]


def test_down_stops_everything(service: dict[str, Any]) -> None:
    pids = recorded_pids(service["state"])
    assert len(pids) == 4 and all(alive(p) for p in pids)

    down = challenger("down", "--config", str(service["config"]), "--json", env=clean_env())

    assert down.returncode == 0, down.stderr
    stopped = json.loads(down.stdout)["stopped"]
    assert set(stopped) == {"prefect-server", "mlflow", "worker-challenger", "runner"}
    assert not any(alive(p) for p in pids)
    assert not (service["state"] / "run" / "runner.json").exists()
    for url in (service["prefect_url"], service["mlflow_url"], service["runner_url"]):
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=2)
