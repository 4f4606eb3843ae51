"""Fault-test fixtures: a real MLflow store made once (copy it with ``kit.embedded_store``) and
the Prefect harness, started only for the tests that run flows."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def store_template(mlflow_store_template: Path) -> Path:
    """An empty MLflow store, created once (its migrations take seconds); copy it, never use it."""
    return mlflow_store_template


@pytest.fixture(scope="session")
def prefect_api(prefect_harness: str) -> str:
    """The session's Prefect test harness (tests/conftest.py), for the tests that run flows."""
    return prefect_harness
