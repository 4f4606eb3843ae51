"""Integration fixtures: one Prefect test harness per session, a real sqlite MLflow store per test module."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from tests.helpers import GATE_TIMING

# A small but real configuration: fewer rows, folds and resamples keep the suite fast.
SMALL = {
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
    # The holdout plots (about 0.4 s a retrain) and Evidently's HTML report
    # (about a second and a half a monitored batch) are read by no decision; the tests of
    # them turn them on (test_task_flows, test_monitor_sketch; the e2e run and the demo use
    # the defaults).
    "gate": {"n_resamples": 1000, "plots": False, **GATE_TIMING},
    "drift": {"report": False},
}


@pytest.fixture(scope="session", autouse=True)
def _integration_harness(prefect_harness: str, mlflow_store_template: Path) -> str:
    """Every integration test runs against the session's Prefect test harness, and each new
    MLflow store it makes is a copy of the session's empty one."""
    return prefect_harness


def write_config(folder: Path, overrides: dict | None = None) -> Path:
    """A challenger.yaml in ``folder`` (its MLflow store and data live beside it)."""
    cfg = {k: dict(v) if isinstance(v, dict) else v for k, v in SMALL.items()}
    for section, values in (overrides or {}).items():
        cfg.setdefault(section, {}).update(values)
    path = folder / "challenger.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh project folder with the small configuration."""
    folder = tmp_path_factory.mktemp("project")
    return write_config(folder)


@pytest.fixture(scope="session")
def make_project(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """Make a fresh project folder: ``make_project(name, overrides)`` -> its challenger.yaml."""

    def make(name: str, overrides: dict | None = None) -> Path:
        return write_config(tmp_path_factory.mktemp(name), overrides)

    return make
