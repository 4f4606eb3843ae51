"""The promotion gate: a pure function from evidence and policy to a decision with reasons.

Three outcomes (GATE.md): PROMOTE when every hard check passed and the confidence bound
clears the policy; REJECT when a hard check failed or the challenger is worse beyond the
policy's threshold with confidence; INCONCLUSIVE when the data cannot tell, with a rough
count of the holdout rows that would decide it. The champion stays unless the action is
``promote``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from challenger.config import GateConfig
from challenger.gate.evidence import Check, Evidence
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


def threshold(policy: GateConfig) -> float:
    """The value the lower bound of Δ must clear: ``min_improvement`` or ``-margin``."""
    return policy.min_improvement if policy.rule == "superiority" else -policy.margin


def statistical_check(evidence: Evidence, policy: GateConfig) -> tuple[Outcome, Check, int | None]:
    """Judge the primary metric's paired bootstrap bounds against the policy's threshold."""
    bs = evidence.primary
    assert bs is not None  # callers only ask with a champion to compare against
    conf = f"{policy.confidence:.0%}"
    limit = threshold(policy)
    if policy.rule == "superiority":
        what = f"improvement > {limit:g}"
    else:
        what = f"non-inferiority within margin {policy.margin:g}"
    shown = f"Δ {bs.metric} = {_fmt(bs.delta)}, one-sided {conf} bounds [{_fmt(bs.lower)}, {_fmt(bs.upper)}]"
    if bs.lower > limit:
        outcome, passed = Outcome.PROMOTE, True
        reason = f"{shown}: the lower bound clears {limit:+g} ({what})"
        needed = None
    elif bs.upper < limit:
        outcome, passed = Outcome.REJECT, False
        worse = "worse than the champion" if bs.upper < 0 else "not better by the required amount"
        reason = f"{shown}: even the upper bound is below {limit:+g}; the challenger is {worse}"
        needed = None
    else:
        outcome, passed = Outcome.INCONCLUSIVE, False
        if bs.delta > limit:
            needed = rows_needed(bs, limit)
            more = (
                f"; about {needed:,} holdout rows would promote it if the observed difference holds"
            )
        else:
            needed = rows_needed(bs, limit, bound="upper")
            more = (
                f"; about {needed:,} holdout rows would show it is not better if the observed difference holds"
                if needed is not None
                else "; the observed difference sits on the threshold, so more rows would not decide it"
            )
        reason = f"{shown}: the interval straddles {limit:+g}{more}"
    check = Check(
        name=f"primary_metric_{policy.rule}",
        passed=passed,
        value=f"lower {_fmt(bs.lower)} / upper {_fmt(bs.upper)}",
        threshold=f"lower > {limit:+g}",
        reason=reason,
        hard=False,
    )
    return outcome, check, needed


_BUDGETS = (
    ("latency_p50_ms", "latency_p50", "ms", "single-row p50 latency"),
    ("latency_p99_ms", "latency_p99", "ms", "single-row p99 latency"),
    ("model_size_mb", "model_size", "MB", "model size"),
    ("training_seconds", "training_seconds", "s", "training time"),
    ("peak_memory_mb", "peak_memory", "MB", "peak training memory"),
)


def budget_checks(evidence: Evidence, policy: GateConfig) -> list[Check]:
    """Absolute and champion-relative operational budgets (only those configured)."""
    chal = evidence.operational.get("challenger")
    champ = evidence.operational.get("champion")
    checks: list[Check] = []
    if chal is None:
        return checks
    for attr, rel_attr, unit, label in _BUDGETS:
        value = getattr(chal, attr)
        limit = getattr(policy.budgets, attr)
        if limit is not None:
            if value is None:
                checks.append(
                    Check(
                        f"budget_{attr}",
                        False,
                        "not measured",
                        f"<= {limit:g} {unit}",
                        f"{label} has a budget of {limit:g} {unit} but was not measured",
                    )
                )
            else:
                ok = value <= limit
                checks.append(
                    Check(
                        f"budget_{attr}",
                        ok,
                        f"{value:.3g} {unit}",
                        f"<= {limit:g} {unit}",
                        f"challenger {label} {value:.3g} {unit} {'within' if ok else 'exceeds'} the budget {limit:g} {unit}",
                    )
                )
        ratio_limit = getattr(policy.relative_budgets, rel_attr)
        base = getattr(champ, attr) if champ is not None else None
        if ratio_limit is not None and value is not None and base:
            ratio = value / base
            ok = ratio <= ratio_limit
            checks.append(
                Check(
                    f"relative_{rel_attr}",
                    ok,
                    f"{ratio:.2f}x",
                    f"<= {ratio_limit:g}x champion",
                    f"challenger {label} is {ratio:.2f}x the champion's ({value:.3g} vs {base:.3g} {unit}); "
                    f"budget {ratio_limit:g}x",
                )
            )
    return checks


def slice_checks(evidence: Evidence) -> list[Check]:
    """One check per judged slice: no confident regression beyond its margin (Holm)."""
    checks = []
    for s in evidence.slices:
        if s.skipped is not None or s.delta is None:
            continue
        checks.append(
            Check(
                f"slice {s.column}={s.value}",
                not s.regressed,
                f"Δ {s.delta:+.4f} (n={s.n_rows}, Holm p={s.p_adjusted:.3g})",
                f"not below -{s.margin:g}",
                f"slice {s.column}={s.value}: Δ{evidence.primary_metric} {s.delta:+.4f} on {s.n_rows} rows "
                + ("regressed beyond" if s.regressed else "no confident regression beyond")
                + f" the margin {s.margin:g} (Holm-adjusted p={s.p_adjusted:.3g})",
            )
        )
    return checks


def calibration_check(evidence: Evidence, policy: GateConfig) -> list[Check]:
    """The challenger's calibration may not be worse than the champion's beyond a margin."""
    cfg = policy.calibration
    if cfg.max_increase is None or evidence.champion_version is None:
        return []
    if cfg.metric == "brier":
        row = evidence.secondary.get("brier", {})
        lower = row.get("lower")  # oriented: positive = challenger better (lower loss)
        if lower is None:
            return []
        # Worse calibration beyond the margin with confidence: the upper bound of the
        # oriented improvement is below -max_increase.
        upper = row.get("upper")
        assert upper is not None
        ok = upper >= -cfg.max_increase
        return [
            Check(
                "calibration_brier",
                ok,
                f"Δ upper bound {upper:+.4f}",
                f">= -{cfg.max_increase:g}",
                "Brier score "
                + ("not confidently worse" if ok else "confidently worse")
                + f" than the champion's beyond {cfg.max_increase:g}",
            )
        ]
    chal = evidence.calibration.get("ece_challenger")
    champ = evidence.calibration.get("ece_champion")
    if chal is None or champ is None:
        return []
    increase = chal - champ
    ok = increase <= cfg.max_increase
    return [
        Check(
            "calibration_ece",
            ok,
            f"{chal:.4f} vs champion {champ:.4f}",
            f"increase <= {cfg.max_increase:g}",
            f"expected calibration error {chal:.4f} vs the champion's {champ:.4f}: "
            + ("within" if ok else "beyond")
            + f" the tolerated increase {cfg.max_increase:g}",
        )
    ]


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
    if policy.mode != "disabled":
        guards = (
            budget_checks(evidence, policy)
            + slice_checks(evidence)
            + calibration_check(evidence, policy)
        )
        checks += [replace(c, guardrail=True) for c in guards]
    failed = [c for c in checks if c.hard and not c.passed]
    integrity_failed = [c for c in failed if not c.guardrail]

    def done(outcome: Outcome, reason: str, needed: int | None = None) -> GateDecision:
        if integrity_failed:
            action = "keep_champion"
        elif policy.mode in ("dry_run", "disabled"):
            action = "promote"
        elif failed:
            action = "keep_champion"
        else:
            action = "promote" if outcome is Outcome.PROMOTE else "keep_champion"
        if policy.mode == "dry_run" and outcome is not Outcome.PROMOTE and not integrity_failed:
            reason = f"[dry run: promoted anyway] {reason}"
        return GateDecision(
            outcome, action, reason, policy.mode, policy.rule, tuple(checks), needed
        )

    if integrity_failed:
        first = integrity_failed[0]
        return done(Outcome.REJECT, f"check {first.name} failed: {first.reason}")

    guard_failed = [c for c in failed if c.guardrail]

    def judged(outcome: Outcome, reason: str, needed: int | None = None) -> GateDecision:
        # A failed guardrail rejects whatever the primary metric says; say both.
        if not guard_failed:
            return done(outcome, reason, needed)
        first = guard_failed[0]
        more = f" (and {len(guard_failed) - 1} more)" if len(guard_failed) > 1 else ""
        return done(
            Outcome.REJECT,
            f"guardrail {first.name} failed{more}: {first.reason}. Primary metric: {reason}",
        )

    metric = evidence.primary_metric
    if evidence.champion_version is None:
        value = evidence.challenger_value
        floor = policy.first_champion_floor
        cmp = ">=" if evidence.higher_is_better else "<="
        if floor is None:
            ok, shown, said = True, "none", "no floor is set (gate.first_champion_floor: null)"
        else:
            ok = value >= floor if evidence.higher_is_better else value <= floor
            shown = f"{cmp} {floor:g}"
            said = f"{'clears' if ok else 'misses'} the floor {floor:g}"
        checks.append(
            Check(
                name="first_champion_floor",
                passed=ok,
                value=f"{value:.4f}",
                threshold=shown,
                reason=(
                    f"no champion yet: {metric} {value:.4f} on {evidence.n_rows} holdout rows; "
                    + said
                ),
            )
        )
        if not ok:
            integrity_failed.append(checks[-1])  # no model below the floor, in any mode
        return judged(Outcome.PROMOTE if ok else Outcome.REJECT, checks[-1].reason)

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
        return judged(
            Outcome.INCONCLUSIVE, checks[-1].reason + " to decide", policy.min_holdout_rows
        )

    outcome, check, rows = statistical_check(evidence, policy)
    checks.append(check)
    return judged(outcome, check.reason, rows)


# ---- what the promotion step may do to a decision --------------------------------------------


def forced(decision: GateDecision, reason: str) -> GateDecision:
    """A person overrides the gate: the challenger is promoted whatever it said, recorded."""
    if decision.promotes:
        return decision
    return replace(
        decision,
        action="promote",
        reason=f"FORCED by a person ({reason}); the gate said {decision.outcome.value}: "
        f"{decision.reason}",
    )


def already_champion(decision: GateDecision, version: int) -> GateDecision:
    """The version to promote already serves production: nothing moves."""
    return replace(decision, action="keep_champion", reason=f"v{version} is already the champion")


def refused(decision: GateDecision, why: str) -> GateDecision:
    """The compare-and-set refused the move (the champion moved under it)."""
    return replace(
        decision,
        outcome=Outcome.REJECT,
        action="keep_champion",
        reason=f"compare-and-set refused the promotion: {why}",
    )


def rejudged(decision: GateDecision, expected: int | None, now: int | None) -> GateDecision:
    """A decision judged again because the champion moved from ``expected`` to ``now``."""
    note = f"re-evaluated against v{now} after the champion moved from v{expected}"
    return replace(decision, reason=f"{note}: {decision.reason}")
