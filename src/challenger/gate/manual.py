"""A promotion a person asks for (``challenger promote VERSION [--force --reason]``).

What the promote flow needs besides the shared judgement and move (``challenger.gate.promotion``):
the request checked before anything is read, the version and the champion it is judged
against, and, once judged, its model card and typed result.
"""

from __future__ import annotations

from dataclasses import dataclass

from challenger.errors import ChallengerError
from challenger.gate import report
from challenger.gate.judge import Verdict
from challenger.results import PromotionResult
from challenger.store.registry import Registry, VersionInfo


@dataclass(frozen=True)
class Request:
    """Promote ``version`` of ``model_name``; ``force`` overrides the gate, for ``reason``."""

    model_name: str
    version: int
    force: bool = False
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.force and not (self.reason and self.reason.strip()):
            raise ChallengerError(
                "--force needs --reason: an override is recorded with the reason a person gave"
            )

    @property
    def trigger(self) -> str:
        """How the version's history names this promotion."""
        return "manual_promotion" + (" (forced)" if self.force else "")

    @property
    def force_reason(self) -> str | None:
        """The override's reason, None for a gated promotion."""
        return self.reason if self.force else None

    def versions(self, registry: Registry) -> tuple[VersionInfo, VersionInfo | None]:
        """The version to judge and the champion now; refused if it is missing or already champion."""
        try:
            target = registry.version(self.version)
        except Exception as exc:
            raise ChallengerError(
                f"model {self.model_name!r} has no version {self.version}"
            ) from exc
        champion = registry.champion()
        if champion is not None and champion.version == self.version:
            raise ChallengerError(f"v{self.version} is already the champion of {self.model_name!r}")
        return target, champion

    def card(self, target: VersionInfo, verdict: Verdict) -> str:
        """The version's model card after this judgement (its earlier card kept below)."""
        return report.promotion_card(
            model_name=self.model_name, version=self.version, trigger=self.trigger,
            reason=self.reason, evidence=verdict.evidence, decision=verdict.decision,
            fingerprint=target.record.data_fingerprint or "unknown", earlier=target.description,
        )  # fmt: skip

    def result(
        self, run_id: str, verdict: Verdict, promoted_from: int | None, batches: list[str]
    ) -> PromotionResult:
        """What the promotion returns (``--json`` prints its ``to_dict()``)."""
        return PromotionResult(
            model_name=self.model_name, trigger=self.trigger, run_id=run_id,
            challenger_version=self.version,
            champion_before=verdict.champion.version if verdict.champion else None,
            decision=verdict.decision, evidence=verdict.evidence, previous_champion=promoted_from,
            holdout_batches=tuple(batches), forced=self.force,
        )  # fmt: skip
