"""What each step returns: typed results, and the one JSON form (``to_dict``) scripts read.

The flows return these, the command line renders them and prints ``to_dict()`` with
``--json``; nobody indexes a result by string.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from challenger.gate.decide import GateDecision
from challenger.gate.evidence import Evidence
from challenger.monitor.drift import DriftResult
from challenger.monitor.triggers import TriggerDecision
from challenger.train.leakage import Finding
from challenger.train.selection import CVResult, KSensitivity


@dataclass(frozen=True)
class Judged:
    """A challenger judged against the champion, and what became of it."""

    model_name: str
    trigger: str
    run_id: str
    challenger_version: int
    champion_before: int | None
    decision: GateDecision
    evidence: Evidence
    previous_champion: int | None  # the champion it replaced, when it was promoted

    @property
    def promoted(self) -> bool:
        """Whether ``champion`` moved to the challenger."""
        return self.decision.promotes

    @property
    def champion_after(self) -> int | None:
        """The champion once the step finished."""
        return self.challenger_version if self.promoted else self.champion_before

    def _judged(self) -> dict[str, Any]:
        return {
            "challenger_version": self.challenger_version,
            "champion_before": self.champion_before,
            "champion_after": self.champion_after,
            "promoted": self.promoted,
        }


@dataclass(frozen=True)
class RetrainResult(Judged):
    """A retrain: candidates cross-validated, the best registered and judged."""

    trigger_reasons: tuple[str, ...] = ()
    training_batches: tuple[str, ...] = ()
    data_fingerprint: str = ""
    primary_metric: str = ""
    cv: tuple[CVResult, ...] = ()
    best: CVResult | None = None
    cv_strategy: str = ""
    cv_best_vs_runner_up: Mapping[str, Any] | None = None
    k_sensitivity: tuple[KSensitivity, ...] = ()
    leakage_warnings: tuple[Finding, ...] = ()

    @property
    def candidate(self) -> str:
        """The winning candidate's name."""
        return self.best.candidate if self.best is not None else ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``challenger retrain --json``."""
        metric = self.primary_metric
        return {
            "model_name": self.model_name,
            "trigger": self.trigger,
            "trigger_reasons": list(self.trigger_reasons),
            "run_id": self.run_id,
            "training_batches": list(self.training_batches),
            "data_fingerprint": self.data_fingerprint,
            "candidate": self.candidate,
            "cv": [
                {
                    "candidate": r.candidate,
                    "estimator": r.estimator,
                    f"{metric}_mean": r.mean(metric),
                    f"{metric}_std": None if math.isnan(r.std(metric)) else r.std(metric),
                    "folds": list(r.fold_scores[metric]),
                }
                for r in self.cv
            ],
            "cv_strategy": self.cv_strategy,
            "cv_best_vs_runner_up": None
            if self.cv_best_vs_runner_up is None
            else dict(self.cv_best_vs_runner_up),
            "k_sensitivity": [k.to_dict() for k in self.k_sensitivity],
            "leakage_warnings": [w.to_dict() for w in self.leakage_warnings],
            "best_params": dict(self.best.params) if self.best is not None else {},
            **self._judged(),
            "previous_champion": self.previous_champion,
            "decision": self.decision.to_dict(),
            "evidence": self.evidence.to_dict(),
        }


@dataclass(frozen=True)
class PromotionResult(Judged):
    """A registered version judged (or forced) into production by a person."""

    holdout_batches: tuple[str, ...] = ()
    forced: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``challenger promote --json``."""
        return {
            "model_name": self.model_name,
            "trigger": self.trigger,
            "run_id": self.run_id,
            "holdout_batches": list(self.holdout_batches),
            **self._judged(),
            "forced": self.forced,
            "previous_champion": self.previous_champion,
            "decision": self.decision.to_dict(),
            "evidence": self.evidence.to_dict(),
        }


@dataclass(frozen=True)
class RollbackResult:
    """``champion`` moved back."""

    model_name: str
    was: int
    now: int
    reason: str
    run_id: str
    history: Sequence[Mapping[str, Any]] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``challenger rollback --json``."""
        return {
            "model_name": self.model_name,
            "from": self.was,
            "to": self.now,
            "reason": self.reason,
            "run_id": self.run_id,
            "history": [dict(h) for h in self.history],
        }


@dataclass(frozen=True)
class RetrainRequest:
    """A retrain asked for with a Prefect event (the deployment's way) instead of run here."""

    event: str
    id: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"event": self.event, "id": self.id}


@dataclass(frozen=True)
class FileCheck:
    """What the monitor saw in one file (a batch or a label file) and decided."""

    batch: str
    kind: str  # batch | labels
    status: str
    rows: int
    champion: int | None
    decision: TriggerDecision
    drift: DriftResult | None = None
    labelled_batches: tuple[str, ...] | None = None  # label files: the batches they labelled

    def to_dict(self) -> dict[str, Any]:
        """JSON form (without the retrain, which the monitor result carries)."""
        out: dict[str, Any] = {
            "batch": self.batch,
            "kind": self.kind,
            "status": self.status,
            "rows": self.rows,
        }
        if self.labelled_batches is not None:
            out["labelled_batches"] = list(self.labelled_batches)
        out |= {
            "champion": self.champion,
            "drift": None if self.drift is None else self.drift.to_dict(),
            "retrain": None,
            "trigger": self.decision.to_dict(),
        }
        return out


@dataclass(frozen=True)
class MonitorResult:
    """One file checked by ``challenger monitor --batch``, and the retrain it started."""

    file: FileCheck
    retrain: RetrainResult | None = None
    retrain_request: RetrainRequest | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``challenger monitor --json``."""
        return self.file.to_dict() | {
            "retrain": None if self.retrain is None else self.retrain.to_dict(),
            "retrain_request": None
            if self.retrain_request is None
            else self.retrain_request.to_dict(),
        }


@dataclass(frozen=True)
class ScanResult:
    """Every new file of the incoming folder checked by the scheduled monitor."""

    batches: tuple[FileCheck, ...] = ()
    retrain: RetrainResult | None = None
    retrain_request: RetrainRequest | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "batches": [b.to_dict() for b in self.batches],
            "retrain": None if self.retrain is None else self.retrain.to_dict(),
            "retrain_request": None
            if self.retrain_request is None
            else self.retrain_request.to_dict(),
        }
