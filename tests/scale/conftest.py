"""Scale fixtures: one PostgreSQL server and one `challenger up` on it for the whole session.

`challenger up` reads both database URLs from the project's challenger.yaml:
``mlflow.tracking_uri: postgresql://...`` (the flows and the MLflow UI) and
``service.prefect_database_url: postgresql+asyncpg://...`` (the Prefect server). Everything
is stopped at the end, also when a test fails: `challenger down`, then SIGKILL by pid for
whatever it left, then ``pg_ctl stop``.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from tests.e2e.test_e2e_service import (
    challenger,
    clean_env,
    free_port,
    stop_up,
)
from tests.scale.servers import Postgres

MODEL = "scale-loan-default"


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server on loopback with the databases ``mlflow`` and ``prefect``."""
    server = Postgres()
    try:
        server.start()
        for name in ("mlflow", "prefect"):
            server.create_database(name)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def service(
    postgres: Postgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """`challenger up` with both servers on PostgreSQL; `challenger down` at the end."""
    folder = tmp_path_factory.mktemp("scale-service")
    config = folder / "challenger.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "project": {"model_name": MODEL},
                "mlflow": {"tracking_uri": postgres.url("mlflow")},
                "simulator": {"rows_per_batch": 2000},
                "training": {
                    "cv": {"n_splits": 3},
                    "candidates": [
                        {
                            "name": "logistic_regression",
                            "estimator": "sklearn.linear_model.LogisticRegression",
                            "params": {"C": 1.0, "max_iter": 500},
                        },
                        {
                            "name": "shallow_tree",
                            "estimator": "sklearn.tree.DecisionTreeClassifier",
                            "params": {"max_depth": 2},
                            "enabled": False,
                        },
                    ],
                },
                "gate": {"n_resamples": 1000},
                # Active schedules that cannot come due during the tests (once a year).
                "triggers": {"interval": {"monitor_minutes": 525_600, "retrain_hours": 8_760}},
                "rollout": {"review_minutes": 525_600},
                "service": {
                    "prefect_port": free_port(),
                    "mlflow_port": free_port(),
                    "runner_port": free_port(),
                    "prefect_database_url": postgres.url("prefect", "postgresql+asyncpg"),
                },
            }
        )
    )
    state = folder / ".challenger"
    env = clean_env()
    up: subprocess.CompletedProcess[str] | None = None
    try:
        started = time.monotonic()
        up = challenger("up", "--config", str(config), "--json", env=env)
        assert up.returncode == 0, f"challenger up failed:\n{up.stdout}\n{up.stderr}"
        info = json.loads(up.stdout)
        info.update(
            config=config,
            folder=folder,
            state=state,
            env=clean_env(PREFECT_API_URL=info["prefect_api_url"]),
            up_output=up.stdout + up.stderr,
            up_seconds=time.monotonic() - started,
        )
        yield info
    finally:
        stop_up(config, state, env)
