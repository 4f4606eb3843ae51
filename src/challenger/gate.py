"""The promotion gate: a pure function from evidence and policy to a decision with reasons.

Three outcomes (GATE.md): PROMOTE when every hard check passed and the confidence bound
clears the policy; REJECT when a hard check failed or the challenger is worse beyond the
policy's threshold with confidence; INCONCLUSIVE when the data cannot tell, with a rough
count of the holdout rows that would decide it. The champion stays unless the action is
``promote``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from challenger.config import GateConfig
from challenger.evaluation import Check, Evidence
from challenger.stats import rows_needed


class Outcome(StrEnum):
    """What the evidence says."""

    PROMOTE = "PROMOTE"
    REJECT = "REJECT"
    INCONCLUSIVE = "INCONCLUSIVE"


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict and what happens because of it."""

    outcome: Outcome
    action: str  # "promote" or "keep_champion"
    reason: str
    mode: str
    rule: str
    checks: tuple[Check, ...] = field(default_factory=tuple)
    rows_needed: int | None = None

    @property
    def promotes(self) -> bool:
        """Whether ``champion`` should move to the challenger."""
        return self.action == "promote"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "outcome": self.outcome.value,
            "action": self.action,
            "reason": self.reason,
            "mode": self.mode,
            "rule": self.rule,
            "rows_needed": self.rows_needed,
            "checks": [c.to_dict() for c in self.checks],
        }


def _fmt(x: float) -> str:
    return f"{x:+.4f}"


def statistical_check(evidence: Evidence, policy: GateConfig) -> tuple[Outcome, Check, int | None]:
    """Judge the primary metric's paired bootstrap bounds against the policy's threshold."""
    bs = evidence.primary
    assert bs is not None  # callers only ask with a champion to compare against
    conf = f"{policy.confidence:.0%}"
    if policy.rule == "superiority":
        threshold = policy.min_improvement
        what = f"improvement > {threshold:g}"
    else:
        threshold = -policy.margin
        what = f"non-inferiority within margin {policy.margin:g}"
    shown = f"Δ {bs.metric} = {_fmt(bs.delta)}, one-sided {conf} bounds [{_fmt(bs.lower)}, {_fmt(bs.upper)}]"
    if bs.lower > threshold:
        outcome, passed = Outcome.PROMOTE, True
        reason = f"{shown}: the lower bound clears {threshold:+g} ({what})"
        needed = None
    elif bs.upper < threshold:
        outcome, passed = Outcome.REJECT, False
        worse = "worse than the champion" if bs.upper < 0 else "not better by the required amount"
        reason = f"{shown}: even the upper bound is below {threshold:+g}; the challenger is {worse}"
        needed = None
    else:
        outcome, passed = Outcome.INCONCLUSIVE, False
        needed = rows_needed(bs, threshold)
        more = (
            f"; about {needed:,} holdout rows would decide it if the observed difference holds"
            if needed is not None
            else "; the observed difference is on the wrong side, so more rows would not promote it"
        )
        reason = f"{shown}: the interval straddles {threshold:+g}{more}"
    check = Check(
        name=f"primary_metric_{policy.rule}",
        passed=passed,
        value=f"lower {_fmt(bs.lower)} / upper {_fmt(bs.upper)}",
        threshold=f"lower > {threshold:+g}",
        reason=reason,
        hard=False,
    )
    return outcome, check, needed


def decide(evidence: Evidence, hard_checks: tuple[Check, ...], policy: GateConfig) -> GateDecision:
    """Decide whether the challenger replaces the champion.

    Args:
        evidence: Champion and challenger scored on the same holdout (``evidence.primary``
            is None when there is no champion yet: the first-champion case).
        hard_checks: Checks whose failure rejects outright (validation, smoke test, ...).
        policy: The ``gate`` section of the configuration.

    Returns:
        The decision. ``mode=dry_run`` records the outcome but never blocks a challenger
        that passed its hard checks; ``mode=disabled`` skips the statistics.
    """
    checks = list(hard_checks)
    failed = [c for c in checks if c.hard and not c.passed]

    def done(outcome: Outcome, reason: str, needed: int | None = None) -> GateDecision:
        if failed:
            action = "keep_champion"
        elif policy.mode in ("dry_run", "disabled"):
            action = "promote"
        else:
            action = "promote" if outcome is Outcome.PROMOTE else "keep_champion"
        if policy.mode == "dry_run" and outcome is not Outcome.PROMOTE and not failed:
            reason = f"[dry run: promoted anyway] {reason}"
        return GateDecision(
            outcome, action, reason, policy.mode, policy.rule, tuple(checks), needed
        )

    if failed:
        return done(Outcome.REJECT, f"hard check {failed[0].name} failed: {failed[0].reason}")

    metric = evidence.primary_metric
    if evidence.champion_version is None:
        value = evidence.challenger_value
        ok = (
            value >= policy.first_champion_floor
            if evidence.higher_is_better
            else value <= policy.first_champion_floor
        )
        cmp = ">=" if evidence.higher_is_better else "<="
        checks.append(
            Check(
                name="first_champion_floor",
                passed=ok,
                value=f"{value:.4f}",
                threshold=f"{cmp} {policy.first_champion_floor:g}",
                reason=(
                    f"no champion yet: {metric} {value:.4f} on {evidence.n_rows} holdout rows "
                    f"{'clears' if ok else 'misses'} the floor {policy.first_champion_floor:g}"
                ),
            )
        )
        if not ok:
            failed.append(checks[-1])
        return done(Outcome.PROMOTE if ok else Outcome.REJECT, checks[-1].reason)

    if policy.mode == "disabled":
        return done(Outcome.PROMOTE, "gate disabled: hard checks passed, statistics not consulted")

    size_ok = evidence.n_rows >= policy.min_holdout_rows
    checks.append(
        Check(
            name="min_holdout_rows",
            passed=size_ok,
            value=str(evidence.n_rows),
            threshold=f">= {policy.min_holdout_rows}",
            reason=f"holdout has {evidence.n_rows} rows; the policy needs {policy.min_holdout_rows}",
            hard=False,
        )
    )
    if not size_ok:
        return done(Outcome.INCONCLUSIVE, checks[-1].reason + " to decide", policy.min_holdout_rows)

    outcome, check, rows = statistical_check(evidence, policy)
    checks.append(check)
    return done(outcome, check.reason, rows)
