"""What the fault tests share: a small project, the real command line as a subprocess, a
read-only file (even for root)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

# Small enough to train in seconds if a test ever gets that far.
SMALL: dict[str, Any] = {
    "simulator": {"rows_per_batch": 400},
    "validation": {"min_rows": 20},
    "training": {
        "cv": {"n_splits": 2},
        "candidates": [
            {
                "name": "logistic_regression",
                "estimator": "sklearn.linear_model.LogisticRegression",
                "params": {"max_iter": 300},
            }
        ],
    },
    "gate": {"n_resamples": 200, "min_holdout_rows": 20, "plots": False},
}


def write_config(folder: Path, overrides: dict[str, Any] | None = None) -> Path:
    """A challenger.yaml in ``folder``: the small configuration plus ``overrides`` by section."""
    cfg = {k: dict(v) for k, v in SMALL.items()}
    for section, values in (overrides or {}).items():
        cfg.setdefault(section, {}).update(values)
    path = folder / "challenger.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def embedded_store(project: Path, template: Path) -> Path:
    """Give a project folder its embedded store (``mlflow/mlflow.db``), copied from the template."""
    target = project / "mlflow" / "mlflow.db"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
    return target


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a command: offline telemetry off, no inherited MLflow store."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return env | {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"} | extra


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> tuple[int, dict[str, Any], str]:
    """Run ``python -m challenger.cli ARGS --json``; returns (exit code, JSON document, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "challenger.cli", *args, "--json"],
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    try:
        document = json.loads(proc.stdout) if proc.stdout.strip() else {}
    except ValueError:
        document = {"stdout": proc.stdout}
    return proc.returncode, document, proc.stderr


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make a file read-only, even for root (``chattr +i``); skip where that is impossible."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: no way to make a file read-only")
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {made.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)
