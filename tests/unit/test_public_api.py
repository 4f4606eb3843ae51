"""The public surface: what `import challenger` offers a script, guarded against accidents.

Changing the list below is a decision: the README's "Scripting" section and every user's
scripts depend on it.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import challenger

PUBLIC = [
    "__version__",
    "Settings",
    "load_config",
    "monitor",
    "retrain",
    "promote",
    "rollback",
    "status",
    "MonitorResult",
    "ScanResult",
    "FileCheck",
    "RetrainResult",
    "PromotionResult",
    "RollbackResult",
    "GateDecision",
    "Outcome",
    "Check",
    "Evidence",
    "TriggerDecision",
    "DriftResult",
    "VersionRecord",
    "ChallengerError",
    "ConfigError",
    "DataError",
    "BatchQuarantined",
]


def test_the_public_surface_is_exactly_this() -> None:
    assert sorted(challenger.__all__) == sorted(PUBLIC)
    assert sorted(["__version__", *challenger._EXPORTS]) == sorted(PUBLIC)  # each one loads


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(challenger, name) is not None


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        challenger.nope  # noqa: B018


def test_importing_challenger_loads_neither_prefect_nor_mlflow() -> None:
    code = (
        "import sys, challenger; "
        "print(sorted(m for m in ('prefect', 'mlflow', 'pandas', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
