"""What an online judge decides: ``OnlineDecision``, its actions and their gate outcomes.

Every strategy's judge (``challenger.online.judges``) returns an ``OnlineDecision``: an action
(promote, advance, keep_watching, rollback), the deciding reason and every check behind it.
Carrying a decision out is ``challenger.online.review``'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from challenger.gate.decide import Outcome
from challenger.gate.evidence import Check

Action = Literal["promote", "advance", "keep_watching", "rollback"]

__all__ = ["Action", "OnlineDecision"]

_OUTCOME: dict[str, Outcome] = {
    "promote": Outcome.PROMOTE,
    "rollback": Outcome.REJECT,
    "keep_watching": Outcome.INCONCLUSIVE,
    "advance": Outcome.INCONCLUSIVE,
}


@dataclass(frozen=True)
class OnlineDecision:
    """What the live evidence says and what to do about it.

    Attributes:
        strategy: shadow, ab or canary.
        action: promote (challenger becomes champion), advance (next canary stage),
            keep_watching (not enough evidence yet), rollback (stop its traffic, retire it).
        reason: One line: the deciding check.
        checks: Every check with its value, threshold and reason.
        challenger_version: The version judged.
        champion_version: The champion it was compared with.
        details: The numbers behind the checks (for the record).
        next_stage: The canary stage to move to (advance only).
    """

    strategy: str
    action: Action
    reason: str
    checks: tuple[Check, ...]
    challenger_version: int | None
    champion_version: int | None
    details: dict[str, Any] = field(default_factory=dict)
    next_stage: int | None = None

    @property
    def outcome(self) -> Outcome:
        """The gate outcome this maps to (advance is still INCONCLUSIVE: more stages to go)."""
        return _OUTCOME[self.action]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "strategy": self.strategy,
            "action": self.action,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "challenger_version": self.challenger_version,
            "champion_version": self.champion_version,
            "next_stage": self.next_stage,
            "checks": [c.to_dict() for c in self.checks],
            "details": self.details,
        }
