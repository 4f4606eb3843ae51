"""What one retrain works on, what it trained, and what is derived from that once it is judged.

:func:`prepare` reads the champion and draws the training window and the fold plan (every
check before any fit). The retrain flow then trains (folds on its executor, the final fit as a task); :class:`Trained`
holds the result and gives, as plain library calls, what the flow records: the run's
parameters, the version's record, the hard checks the gate starts from, the model card and
the typed result. So the flow stays a sequence of steps, not a list of keyword arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from challenger.config import CandidateConfig, Settings
from challenger.gate import report
from challenger.gate.evidence import Check
from challenger.gate.judge import Verdict, holdout_newer_check
from challenger.results import RetrainResult
from challenger.store.record import VersionRecord
from challenger.store.registry import Registry, VersionInfo
from challenger.store.tracking import Tracking
from challenger.train.plan import TrainingPlan, plan_training
from challenger.train.register import registration_record
from challenger.train.selection import (
    CVResult,
    FittedModel,
    KSensitivity,
    compare_best_with_runner_up,
)
from challenger.train.window import TrainingWindow, training_window


@dataclass(frozen=True)
class Prepared:
    """What a retrain trains on: the champion now, the candidates, the window and the fold plan."""

    champion: VersionInfo | None
    candidates: tuple[CandidateConfig, ...]
    window: TrainingWindow
    plan: TrainingPlan

    def summary(self) -> str:
        """One log line: how many candidates on how many rows, from where, against whom."""
        w, c = self.window, self.champion
        return (
            f"Training {len(self.candidates)} candidate(s) on {len(w.train)} rows (holdout "
            f"{len(w.holdout)} rows) from {', '.join(w.batches)}; "
            f"champion: {f'v{c.version}' if c else 'none'}"
        )


def prepare(
    settings: Settings,
    registry: Registry,
    tracking: Tracking,
    data: str | None,
    candidates: tuple[str, ...] = (),
) -> Prepared:
    """The champion, the chosen candidates, the training window (less every row the champion
    trained on from the holdout) and the fold plan; every check runs here, before any fit."""
    champion = registry.champion()
    chosen = settings.enabled_candidates(candidates)
    reference = tracking.load_reference(champion.run_id) if champion else None
    seen = {champion.version: tracking.load_training_rows(champion.run_id)} if champion else {}
    window = training_window(settings, data, reference, seen)
    return Prepared(champion, chosen, window, plan_training(window.train, settings, chosen))


@dataclass(frozen=True)
class Trained:
    """One retrain's training: the window, the plan, every candidate's CV, the best one fitted."""

    reason: str
    metric: str
    window: TrainingWindow
    plan: TrainingPlan
    cv: tuple[CVResult, ...]
    best: CVResult
    k_sensitivity: tuple[KSensitivity, ...]
    fitted: FittedModel
    trigger_evidence: Mapping[str, Any] | None = None

    @property
    def trigger_reasons(self) -> tuple[str, ...]:
        """The monitor's reasons for this retrain (none for a manual or scheduled one)."""
        return tuple((self.trigger_evidence or {}).get("reasons", ()))

    @cached_property
    def cv_test(self) -> dict[str, Any] | None:
        """The best candidate against the runner-up on the same folds (None with one candidate)."""
        return compare_best_with_runner_up(
            self.cv, self.best, self.metric, len(self.window.train), fold_sizes=self.plan.fold_sizes
        )

    def cv_lines(self) -> list[str]:
        """One log line per candidate: its CV mean ± sd."""
        m = self.metric
        return [
            f"CV {r.candidate} ({self.plan.splits.label}): {m} {r.mean(m):.4f} ± {r.std(m):.4f}"
            for r in self.cv
        ]

    def run_params(self, settings: Settings) -> dict[str, Any]:
        """The parameters of the retrain's MLflow run."""
        w, b = self.window, self.best
        return {
            "trigger": self.reason, "training_batches": ",".join(w.batches),
            "train_rows": len(w.train), "holdout_rows": len(w.holdout),
            "data_fingerprint": w.fingerprint, "best_candidate": b.candidate,
            "cv_strategy": b.strategy, "cv_n_splits": b.n_splits,
            "cv_n_repeats": b.n_repeats, "cv_nested": b.nested,
            "executor": settings.training.executor.kind, "primary_metric": self.metric,
            **{f"best.{k}": v for k, v in b.params.items()},
        }  # fmt: skip

    def record(self) -> VersionRecord:
        """The new version's record at registration."""
        return registration_record(
            self.reason, self.window, self.best, self.metric, self.fitted, self.trigger_evidence
        )

    def checks(self, timestamp: str | None) -> tuple[Check, ...]:
        """The hard checks the gate starts from: the data passed validation, the holdout is newer."""
        w = self.window
        return (
            Check(
                "data_validation",
                True,
                f"{w.validation.n_expectations} expectations",
                "all pass",
                f"the {len(w.frame)} training and holdout rows passed validation",
            ),
            holdout_newer_check(w.train_max_ts, w.holdout, timestamp),
        )

    def card(self, model_name: str, version: int, verdict: Verdict) -> str:
        """The model card of the new version, with the gate's evidence and decision."""
        return report.retrain_card(
            model_name=model_name, version=version, best=self.best, all_cv=self.cv,
            trigger=self.reason, trigger_reasons=self.trigger_reasons, evidence=verdict.evidence,
            decision=verdict.decision, fingerprint=self.window.fingerprint,
            n_train=len(self.window.train), k_sensitivity=self.k_sensitivity,
            warnings=self.plan.warnings, cv_test=self.cv_test,
        )  # fmt: skip

    def result(
        self,
        model_name: str,
        run_id: str,
        version: int,
        verdict: Verdict,
        promoted_from: int | None,
    ) -> RetrainResult:
        """What the retrain returns (``--json`` prints its ``to_dict()``)."""
        return RetrainResult(
            model_name=model_name, trigger=self.reason, run_id=run_id, challenger_version=version,
            champion_before=verdict.champion.version if verdict.champion else None,
            decision=verdict.decision, evidence=verdict.evidence, previous_champion=promoted_from,
            trigger_reasons=self.trigger_reasons, training_batches=self.window.batches,
            data_fingerprint=self.window.fingerprint, primary_metric=self.metric, cv=self.cv,
            best=self.best, cv_strategy=self.plan.splits.label, cv_best_vs_runner_up=self.cv_test,
            k_sensitivity=self.k_sensitivity, leakage_warnings=self.plan.warnings,
        )  # fmt: skip
