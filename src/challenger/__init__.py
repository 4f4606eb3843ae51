"""challenger: prove that a new model beats the one in production before it ships.

The public API a script uses: load the configuration, run a step, read its typed result::

    import challenger

    settings = challenger.load_config("challenger.yaml")
    result = challenger.retrain(config="challenger.yaml")
    print(result.decision.outcome, result.decision.reason)

Names are imported on first use, so ``import challenger`` (and the command line) stays fast;
``challenger.__all__`` lists them and ``tests/unit/test_public_api.py`` guards the list.
Everything else lives in the stage packages (``challenger.monitor``, ``challenger.train``,
``challenger.gate``, ``challenger.store``, ``challenger.online``, ...), free to change.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    # configuration
    "Settings": "challenger.config",
    "load_config": "challenger.config",
    # the steps
    "monitor": "challenger.api",
    "retrain": "challenger.api",
    "promote": "challenger.api",
    "rollback": "challenger.api",
    "status": "challenger.api",
    # what they return
    "MonitorResult": "challenger.results",
    "ScanResult": "challenger.results",
    "FileCheck": "challenger.results",
    "RetrainResult": "challenger.results",
    "PromotionResult": "challenger.results",
    "RollbackResult": "challenger.results",
    # the decisions inside
    "GateDecision": "challenger.gate.decide",
    "Outcome": "challenger.gate.decide",
    "Check": "challenger.gate.evidence",
    "Evidence": "challenger.gate.evidence",
    "TriggerDecision": "challenger.monitor.triggers",
    "DriftResult": "challenger.monitor.drift",
    "VersionRecord": "challenger.store.record",
    # errors a script may catch
    "ChallengerError": "challenger.errors",
    "ConfigError": "challenger.errors",
    "DataError": "challenger.errors",
    "BatchQuarantined": "challenger.errors",
}

__all__ = [
    "BatchQuarantined",
    "ChallengerError",
    "Check",
    "ConfigError",
    "DataError",
    "DriftResult",
    "Evidence",
    "FileCheck",
    "GateDecision",
    "MonitorResult",
    "Outcome",
    "PromotionResult",
    "RetrainResult",
    "RollbackResult",
    "ScanResult",
    "Settings",
    "TriggerDecision",
    "VersionRecord",
    "__version__",
    "load_config",
    "monitor",
    "promote",
    "retrain",
    "rollback",
    "status",
]

if TYPE_CHECKING:
    from challenger.api import monitor, promote, retrain, rollback, status
    from challenger.config import Settings, load_config
    from challenger.errors import BatchQuarantined, ChallengerError, ConfigError, DataError
    from challenger.gate.decide import GateDecision, Outcome
    from challenger.gate.evidence import Check, Evidence
    from challenger.monitor.drift import DriftResult
    from challenger.monitor.triggers import TriggerDecision
    from challenger.results import (
        FileCheck,
        MonitorResult,
        PromotionResult,
        RetrainResult,
        RollbackResult,
        ScanResult,
    )
    from challenger.store.record import VersionRecord


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'challenger' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
