"""Import smoke test: every module imports, and the stack is the one the code was written for.

The APIs of Prefect 3, MLflow 3, Evidently 0.7 and Great Expectations 1 changed a lot between
releases; a resolver picking another major version fails here, with the version named, rather
than deep inside a flow.
"""

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import version

import flows
import pytest

import challenger

MODULES = sorted(
    {m.name for m in pkgutil.walk_packages(challenger.__path__, "challenger.")}
    | {m.name for m in pkgutil.walk_packages(flows.__path__, "flows.")}
)


@pytest.mark.parametrize("module", MODULES)
def test_module_imports(module: str) -> None:
    importlib.import_module(module)


@pytest.mark.parametrize(
    ("distribution", "major"),
    [
        ("prefect", "3."),
        ("mlflow", "3."),
        ("evidently", "0.7."),
        ("great-expectations", "1."),
        ("scikit-learn", "1."),
        ("pandas", "2."),  # evidently 0.7 breaks on pandas 3 (ARCHITECTURE traps)
        ("river", "0.26."),  # the concept trigger pickles its detectors between runs
    ],
)
def test_stack_versions(distribution: str, major: str) -> None:
    assert version(distribution).startswith(major), f"{distribution} {version(distribution)}"


@pytest.mark.parametrize(
    "module",
    [
        "prefect_dask",
        "fastapi",
        "starlette",
        "uvicorn",
        "httpx",
        "prometheus_client",
        "orjson",
        "psutil",
        "threadpoolctl",
        "river.drift",
    ],
)
def test_runtime_dependencies_import(module: str) -> None:
    importlib.import_module(module)
