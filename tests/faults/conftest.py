"""Fault-test fixtures: a real MLflow store made once (copy it with ``kit.embedded_store``) and
the Prefect harness, started only for the tests that run flows."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty MLflow store, created once (its migrations take seconds); copy it, never use it."""
    from challenger.store.connection import create_store

    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    create_store(f"sqlite:///{path}")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    return path


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """A temporary Prefect server for the tests that run flows; yields its API URL."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())
