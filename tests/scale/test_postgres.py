"""MLflow and Prefect on a real PostgreSQL server: `challenger up`, the lifecycle, a promotion race.

The session's `challenger up` (tests/scale/conftest.py) serves the Prefect server from the
``prefect`` database (``service.prefect_database_url``) and the MLflow UI and every flow
from the ``mlflow`` database (``mlflow.tracking_uri``). Here: both servers really use
PostgreSQL and never show its password; a first champion from the manual deployment, then
the scheduled monitor's drift event starts the triggered retrain, which promotes a better
challenger; and two retrains that promote at once, from two processes, promote exactly once
with a consistent history (the promotion lock of a PostgreSQL store is an advisory lock in the
``mlflow`` database, and the alias moves by compare-and-set).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.e2e.test_e2e_service import (
    RUN_TIMEOUT,
    api,
    deployment,
    flow_run_id,
    prefect,
    recorded_pids,
)
from tests.scale.conftest import MODEL
from tests.scale.servers import ROLE, Postgres, result, retrain

from challenger.config import load_config
from challenger.demo.simulator import Period, simulate_batch
from challenger.store.batches import write_table
from challenger.store.registry import Registry

pytestmark = pytest.mark.scale


def aliases(postgres: Postgres, model: str) -> dict[str, int]:
    """The model's aliases as the ``mlflow`` database holds them."""
    rows = postgres.query(
        "mlflow", "SELECT alias, version FROM registered_model_aliases WHERE name = %s", [model]
    )
    return {alias: int(version) for alias, version in rows}


def process_tree_cmdlines(leaders: list[int]) -> list[str]:
    """Command lines of every process in the process groups `up` started."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            pgid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2])
            if pgid in leaders:
                out.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, IndexError, ValueError):
            continue
    return out


def test_up_serves_both_servers_from_postgresql_and_never_shows_the_password(
    service: dict[str, Any], postgres: Postgres
) -> None:
    where = f"{ROLE}:***@127.0.0.1:{postgres.port}"
    assert service["prefect_database"] == f"postgresql+asyncpg://{where}/prefect"
    assert service["mlflow_store"] == f"postgresql://{where}/mlflow"
    assert httpx.get(f"{service['prefect_api_url']}/health", timeout=10).status_code == 200
    assert httpx.get(f"{service['mlflow_url']}/health", timeout=10).text.strip() == "OK"
    assert set(service["processes"]) == {"prefect-server", "mlflow", "worker-challenger", "runner"}

    # Both schemas live in PostgreSQL, and neither server fell back to a SQLite file.
    def tables(database: str) -> set[str]:
        rows = postgres.query(
            database, "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            ["public"],
        )  # fmt: skip
        return {name for (name,) in rows}

    assert {"flow_run", "deployment", "work_pool", "events", "automation"} <= tables("prefect")
    assert {"experiments", "runs", "registered_models", "model_versions"} <= tables("mlflow")
    deployments = postgres.query(
        "prefect",
        "SELECT f.name || '/' || d.name FROM deployment d JOIN flow f ON f.id = d.flow_id",
    )
    assert sorted(name for (name,) in deployments) == [d["name"] for d in service["deployments"]]
    assert list(service["folder"].rglob("*.db")) == []

    # The password is in the configuration only: not in up's output, its pid files, logs and
    # up.json, nor on the command line of any process it started.
    assert postgres.password not in service["up_output"]
    for path in service["state"].rglob("*"):
        if path.is_file():
            assert postgres.password.encode() not in path.read_bytes(), path
    cmdlines = process_tree_cmdlines(recorded_pids(service["state"]))
    assert len(cmdlines) >= 3
    assert not [c for c in cmdlines if postgres.password in c]


def test_a_drift_event_retrains_and_promotes_with_everything_in_postgresql(
    service: dict[str, Any], postgres: Postgres
) -> None:
    seed = write_table(simulate_batch(0, 2000, 7), service["folder"] / "seed" / "day-000.parquet")
    manual = prefect(
        "deployment", "run", "retrain/manual",
        "--param", f"data={seed}",
        "--watch", "--watch-timeout", str(RUN_TIMEOUT),
        env=service["env"],
    )  # fmt: skip
    assert manual.returncode == 0, manual.stdout + manual.stderr
    assert aliases(postgres, MODEL) == {"champion": 1}

    drifted = simulate_batch(3, 2000, 7, Period(1.0, 1.0))
    write_table(drifted, service["folder"] / "data" / "incoming" / "day-003.parquet")
    monitor = prefect(
        "deployment", "run", "monitor/check-incoming",
        "--watch", "--watch-timeout", str(RUN_TIMEOUT),
        env=service["env"],
    )  # fmt: skip
    assert monitor.returncode == 0, monitor.stdout + monitor.stderr

    on_trigger = deployment(service, "retrain/on-trigger")
    deadline = time.monotonic() + RUN_TIMEOUT
    runs: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        runs = api(
            service, "POST", "/flow_runs/filter",
            {"deployments": {"id": {"any_": [on_trigger["id"]]}}},
        )  # fmt: skip
        if runs and runs[0]["state_type"] in ("COMPLETED", "FAILED", "CRASHED"):
            break
        time.sleep(2)
    [run] = runs
    assert run["state_type"] == "COMPLETED", run["state"]
    assert run["created_by"]["type"] == "AUTOMATION"
    assert run["parameters"]["reason"] == "data_change"

    # The registry in the mlflow database: v2 beat v1 and took the champion alias.
    assert aliases(postgres, MODEL) == {"champion": 2, "previous-champion": 1}
    tags = dict(
        postgres.query(
            "mlflow",
            "SELECT key, value FROM model_version_tags WHERE name = %s AND version = 2",
            [MODEL],
        )
    )
    assert tags["challenger.gate_decision"] == "PROMOTE"
    assert tags["challenger.trigger"] == "data_change"
    # The Prefect side in the prefect database: the three runs (besides the schedules' future
    # runs) and the event.
    finished = postgres.query(
        "prefect",
        "SELECT f.name || '/' || d.name, r.state_type FROM flow_run r "
        "JOIN deployment d ON d.id = r.deployment_id JOIN flow f ON f.id = r.flow_id "
        "WHERE r.state_type <> 'SCHEDULED'",
    )
    assert sorted(finished) == [
        ("monitor/check-incoming", "COMPLETED"),
        ("retrain/manual", "COMPLETED"),
        ("retrain/on-trigger", "COMPLETED"),
    ]
    assert flow_run_id(monitor.stdout) in {
        str(i) for (i,) in postgres.query("prefect", "SELECT id FROM flow_run")
    }
    [(events,)] = postgres.query(
        "prefect", "SELECT count(*) FROM events WHERE event = %s", ["challenger.drift.detected"]
    )
    assert events == 1


def test_two_promotions_at_once_from_two_processes_promote_exactly_once(
    service: dict[str, Any], postgres: Postgres
) -> None:
    """Two processes train on the same drifted data and reach the gate together."""
    model = "scale-race"
    cfg = yaml.safe_load(service["config"].read_text())
    cfg["project"]["model_name"] = model
    race = service["config"].parent / "race.yaml"
    race.write_text(yaml.safe_dump(cfg))
    old = write_table(simulate_batch(0, 2000, seed=7), race.parent / "race-old.parquet")
    new = write_table(
        simulate_batch(3, 2000, seed=7, period=Period(1, 1)), race.parent / "race-new.parquet"
    )

    env = service["env"]
    first = result(retrain(race, old, env, "bootstrap"))
    assert first["promoted"] and first["challenger_version"] == 1

    outs = [result(p) for p in [retrain(race, new, env), retrain(race, new, env)]]

    promoted = [o for o in outs if o["promoted"]]
    assert len(promoted) == 1, [o["decision"]["reason"] for o in outs]
    [winner] = promoted
    [loser] = [o for o in outs if not o["promoted"]]
    assert {winner["challenger_version"], loser["challenger_version"]} == {2, 3}
    assert winner["champion_before"] == 1
    # The loser was judged against whoever was champion when it took the lock.
    if loser["champion_before"] == winner["challenger_version"]:
        assert loser["decision"]["outcome"] != "PROMOTE"
    assert aliases(postgres, model) == {
        "champion": winner["challenger_version"],
        "previous-champion": 1,
    }
    registry = Registry.from_settings(load_config(race))
    assert registry.version(loser["challenger_version"]).stage == "None"
    assert registry.version(winner["challenger_version"]).stage == "Production"
    assert registry.version(1).stage == "Archived"
    history = [(h["n"], h["kind"], h["from"], h["to"], h["status"]) for h in registry.history()]
    assert history == [
        (1, "promote", None, 1, "done"),
        (2, "promote", 1, winner["challenger_version"], "done"),
    ]
    assert registry.reconcile_stages() == []  # nothing left to repair
    # The promotion lock of a PostgreSQL store is an advisory lock; both holders released it.
    assert postgres.query("mlflow", "SELECT objid FROM pg_locks WHERE locktype = 'advisory'") == []
