"""A verdict other tools can ask: the online judge's decision read as pass, fail or inconclusive.

Argo Rollouts (a ``web`` metric of an AnalysisTemplate) and Flagger (a Canary's webhooks) ask
the serving app for it (``challenger.online.serve.verdict_routes``). The verdict is not a
second judge: ``judge`` runs ``challenger.online.review.review``, the very path the online
analysis (``challenger online``, the online-analysis flow) decides with — for a canary,
``review_rollout`` on the rollout state and then ``judge_canary`` on the logged requests of
the running stage — and ``verdict_of`` only translates its ``OnlineDecision``:

============== ============ ==========================================================
judge's action verdict      when
============== ============ ==========================================================
advance        pass         the running canary stage passed (score ≥ ``pass_score`` with
                            enough data for every metric); the next stage may start
promote        pass         the last stage below 100 % passed, or the stage is the full
                            rollout with no critical metric failing (for A/B and shadow:
                            the challenger wins)
rollback       fail         a critical metric is worse, the score is below
                            ``marginal_score``, or the app already stopped the rollout
keep_watching  inconclusive too little data, a marginal score, no rollout running, a
                            rollout of another challenger, a champion that moved
============== ============ ==========================================================

Asking about a particular challenger version (``expected_version``) turns a decision about
any other version into inconclusive: a tool that rolls out v7 must never read v6's pass.
Nothing here moves an alias or writes the rollout state: carrying a decision out stays the
online analysis's job (``challenger.online.act``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from challenger.config import Settings
from challenger.gate.evidence import Check
from challenger.online.decision import Action
from challenger.online.log import LogStore
from challenger.online.review import Review, review
from challenger.store.registry import Registry

VerdictValue = Literal["pass", "fail", "inconclusive"]

__all__ = ["VERDICT_OF_ACTION", "Verdict", "VerdictValue", "judge", "verdict_of"]

#: How each action of an online judge reads as a verdict (see the module docstring).
VERDICT_OF_ACTION: Mapping[Action, VerdictValue] = {
    "advance": "pass",
    "promote": "pass",
    "rollback": "fail",
    "keep_watching": "inconclusive",
}


@dataclass(frozen=True)
class Verdict:
    """The judge's decision as a verdict, with the numbers it was based on.

    Attributes:
        verdict: pass, fail or inconclusive.
        reasons: The deciding reason first, then every check's reason (once each).
        strategy: The rollout strategy judged (canary, ab, shadow, champion).
        action: The judge's own action (promote, advance, keep_watching, rollback).
        challenger_version: The version the judge's decision is about.
        champion_version: The champion it was compared with.
        numbers: The judge's numbers (for a canary: stage, weight, score, request counts
            and, per metric, both arms' values, the effect, the p-value and the counts).
        checks: Every check behind the decision.
        rollout: The rollout state the decision was read from (None when there was none
            to judge).
        expected_version: The challenger version the caller asked about, if any.
    """

    verdict: VerdictValue
    reasons: tuple[str, ...]
    strategy: str
    action: Action
    challenger_version: int | None
    champion_version: int | None
    numbers: Mapping[str, Any] = field(default_factory=dict)
    checks: tuple[Check, ...] = ()
    rollout: Mapping[str, Any] | None = None
    expected_version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form; ``verdict`` and ``reasons`` come first, for short readers."""
        return {
            "verdict": self.verdict,
            "reasons": list(self.reasons),
            "strategy": self.strategy,
            "action": self.action,
            "challenger_version": self.challenger_version,
            "champion_version": self.champion_version,
            "expected_version": self.expected_version,
            "numbers": dict(self.numbers),
            "checks": [c.to_dict() for c in self.checks],
            "rollout": None if self.rollout is None else dict(self.rollout),
        }


def verdict_of(judged: Review, *, expected_version: int | None = None) -> Verdict:
    """Translate a review's decision into a verdict (pure).

    Args:
        judged: What ``review`` returned: the decision and the rollout state it read.
        expected_version: The challenger version the caller rolls out; a decision about
            another version is inconclusive.

    Returns:
        The verdict of ``VERDICT_OF_ACTION`` for the decision's action, its reasons and
        numbers.
    """
    d = judged.decision
    reasons = [d.reason]
    for check in d.checks:
        if check.reason and check.reason not in reasons:
            reasons.append(check.reason)
    value = VERDICT_OF_ACTION[d.action]
    if expected_version is not None and d.challenger_version != expected_version:
        judged_about = (
            "no challenger" if d.challenger_version is None else f"v{d.challenger_version}"
        )
        reasons.insert(
            0,
            f"asked about challenger v{expected_version}, but the judge's decision is about "
            f"{judged_about} (it would be {value})",
        )
        value = "inconclusive"
    return Verdict(
        verdict=value,
        reasons=tuple(reasons),
        strategy=d.strategy,
        action=d.action,
        challenger_version=d.challenger_version,
        champion_version=d.champion_version,
        numbers=d.details,
        checks=d.checks,
        rollout=None if judged.state is None else judged.state.to_dict(),
        expected_version=expected_version,
    )


def judge(
    settings: Settings,
    registry: Registry,
    store: LogStore,
    *,
    expected_version: int | None = None,
) -> Verdict:
    """The online analysis's decision now, as a verdict (reads the registry and the log).

    Args:
        settings: The configuration (``rollout.strategy`` picks the judge).
        registry: Where ``champion`` and ``challenger`` point.
        store: The prediction log (rollout state and logged requests).
        expected_version: See ``verdict_of``.
    """
    return verdict_of(review(settings, registry, store), expected_version=expected_version)
