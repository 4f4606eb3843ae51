"""The promotion gate: a pure function from evidence and policy to a decision with reasons.

Three outcomes (GATE.md): PROMOTE when every hard check passed and the confidence bound
clears the policy; REJECT when a hard check failed or the challenger is worse beyond the
policy's threshold with confidence; INCONCLUSIVE when the data cannot tell, with the holdout
rows a power calculation says would decide it. The champion stays unless the action is
``promote``.

Two ways to win under superiority. (1) The primary metric's lower bound clears
``min_improvement``. (2) With decision-level metrics declared (``gate.decision_metrics``, by
default Brier for classification): the challenger is non-inferior on the primary metric
(lower bound > −margin) and superior on a decision metric by its own smallest improvement —
a ranking metric such as ROC AUC cannot see a moved decision threshold, a proper scoring
rule can. The superiority tests of the routes are one family: Holm's step-down adjustment
over their one-sided p-values keeps the chance of a false promotion by any route at most
α = 1 − confidence. Non-inferiority on the primary is a condition of route (2) that must
hold as well (an intersection), so it needs no adjustment.

Small holdouts. The bounds come from a method valid at the holdout's size (BCa, or the
studentized jackknife t bounds of :mod:`challenger.stats.small` below
``gate.small_sample_rows``). ``gate.min_holdout_rows`` holds back only a PROMOTE: a
REJECT whose upper bound is below the threshold stands on any holdout.

Around the decision: the guardrails it also weighs (budgets, slices, calibration) are
``challenger.gate.guardrails``; how a Δ is said (challenger − champion in the metric's
units, "Δ rmse −23.5 (challenger better)", while it stays oriented inside: positive = the
challenger is better) is ``challenger.gate.describe``. What stays here: the outcome and the
decision types, the statistical check with its routes and power calculation, ``decide``, and
what the promotion step may do to a decision afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from challenger.config import GateConfig
from challenger.gate.describe import describe_bounds, describe_delta, required
from challenger.gate.evidence import Check, Evidence
from challenger.gate.guardrails import budget_checks, calibration_check, slice_checks
from challenger.stats import PairedBootstrap, holm, rows_needed


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


def threshold(policy: GateConfig) -> float:
    """The value the oriented lower bound of Δ must clear: ``min_improvement`` or ``-margin``."""
    return policy.min_improvement if policy.rule == "superiority" else -policy.margin


# ---- the statistics --------------------------------------------------------------------------


def _shown(bs: PairedBootstrap) -> str:
    return f"{describe_delta(bs.metric, bs.delta)}; {describe_bounds(bs)}"


@dataclass(frozen=True)
class _Route:
    """One way to win: a metric, its bootstrap and the oriented threshold it must clear."""

    metric: str
    result: PairedBootstrap
    limit: float
    p_value: float = 1.0
    p_adjusted: float = 1.0
    rejected: bool = False


def _holm(routes: list[_Route], alpha: float) -> list[_Route]:
    pvals = [r.result.p_value(r.limit) for r in routes]
    reject, adjusted = holm(pvals, alpha)
    return [
        replace(r, p_value=p, p_adjusted=float(a), rejected=bool(x))
        for r, p, a, x in zip(routes, pvals, adjusted, reject, strict=True)
    ]


def _inconclusive_rows(bs: PairedBootstrap, limit: float, power: float) -> tuple[int | None, str]:
    if bs.delta > limit:
        needed = rows_needed(bs, limit, power=power)
        if needed is None:
            return None, ""
        return needed, (
            f"; a power calculation ({power:.0%} power, one-sided {1 - bs.confidence:.0%} test) "
            f"says about {needed:,} holdout rows would promote it if the observed difference holds"
        )
    needed = rows_needed(bs, limit, bound="upper", power=power)
    if needed is None:
        return (
            None,
            "; the observed difference sits on the threshold, so more rows would not decide it",
        )
    return needed, (
        f"; a power calculation ({power:.0%} power) says about {needed:,} holdout rows would "
        "show it is not better if the observed difference holds"
    )


def _routes_rows(
    routes: list[_Route], primary: PairedBootstrap, policy: GateConfig
) -> tuple[int | None, str]:
    """The fewest rows with which a route would promote, each at Holm's first-step level α/k."""
    alpha = (1.0 - policy.confidence) / len(routes)
    options = []
    for r in routes:
        possible = r.result is primary or primary.delta > -policy.margin
        if possible and r.result.delta > r.limit:
            rows = rows_needed(r.result, r.limit, power=policy.power, alpha=alpha)
            if rows is not None:
                options.append((rows, r.metric))
    if not options:
        return _inconclusive_rows(primary, threshold(policy), policy.power)
    rows, by = min(options)
    return rows, (
        f"; a power calculation ({policy.power:.0%} power, one-sided {alpha:.1%} test) says about "
        f"{rows:,} holdout rows would promote it on {by} if the observed difference holds"
    )


def statistical_check(
    evidence: Evidence, policy: GateConfig
) -> tuple[Outcome, list[Check], int | None]:
    """Judge the primary metric (and the decision-level metrics) against the policy.

    Returns:
        The outcome the statistics give, one check per route (primary first), and the rows
        a power calculation says would decide an INCONCLUSIVE.
    """
    bs = evidence.primary
    assert bs is not None  # callers only ask with a champion to compare against
    limit = threshold(policy)
    alpha = 1.0 - policy.confidence
    metric = bs.metric
    if policy.rule == "superiority":
        what = f"improvement > {policy.min_improvement:g}"
    else:
        what = f"non-inferiority within margin {policy.margin:g}"
    wanted = (
        policy.decision_metrics_for(evidence.task, metric) if policy.rule == "superiority" else {}
    )
    routes = [_Route(metric, bs, limit)] + [
        _Route(m, b, wanted[m]) for m, b in evidence.decision.items() if m in wanted
    ]
    shown = _shown(bs)
    if len(routes) == 1:
        if bs.lower > limit:
            outcome = Outcome.PROMOTE
            reason = f"{shown}: even the least favourable bound clears {required(metric, limit)} ({what})"
        elif bs.upper < limit:
            outcome = Outcome.REJECT
            worse = (
                "worse than the champion" if bs.upper < 0 else "not better by the required amount"
            )
            reason = f"{shown}: even the most favourable bound misses {required(metric, limit)}; the challenger is {worse}"
        else:
            outcome = Outcome.INCONCLUSIVE
            reason = f"{shown}: the interval straddles {required(metric, limit)}"
        needed, more = (
            _inconclusive_rows(bs, limit, policy.power)
            if outcome is Outcome.INCONCLUSIVE
            else (None, "")
        )
        check = Check(
            name=f"primary_metric_{policy.rule}",
            passed=outcome is Outcome.PROMOTE,
            value=f"{describe_delta(metric, bs.delta)}; {describe_bounds(bs)}",
            threshold=f"least favourable bound {required(metric, limit)}",
            reason=reason + more,
            hard=False,
        )
        return outcome, [check], needed

    judged = _holm(routes, alpha)
    primary, others = judged[0], judged[1:]
    non_inferior = bs.lower > -policy.margin
    ni_text = (
        f"{'non-inferior' if non_inferior else 'not shown non-inferior'} on {metric} "
        f"(least favourable bound {'clears' if non_inferior else 'misses'} {required(metric, -policy.margin)})"
    )
    winners = [r for r in others if r.rejected and non_inferior]
    holm = f"Holm-adjusted over {len(judged)} tests"
    checks = [
        Check(
            name="primary_metric_superiority",
            passed=primary.rejected,
            value=f"{describe_delta(metric, bs.delta)}; {describe_bounds(bs)}; Holm p={primary.p_adjusted:.3g}",
            threshold=f"{required(metric, limit)}, Holm p < {alpha:g}",
            reason=f"{shown}; superiority ({what}) p={primary.p_value:.3g}, {holm} p={primary.p_adjusted:.3g}",
            hard=False,
        )
    ]
    for r in others:
        checks.append(
            Check(
                name=f"decision_metric_{r.metric}",
                passed=r.rejected and non_inferior,
                value=f"{describe_delta(r.metric, r.result.delta)}; {describe_bounds(r.result)}; Holm p={r.p_adjusted:.3g}",
                threshold=f"{required(r.metric, r.limit)} (Holm p < {alpha:g}) and {required(metric, -policy.margin)} on {metric}",
                reason=(
                    f"decision metric {_shown(r.result)}; superiority by {r.limit:g} p={r.p_value:.3g}, "
                    f"{holm} p={r.p_adjusted:.3g}; {ni_text}"
                ),
                hard=False,
            )
        )
    if primary.rejected:
        reason = f"{shown}: the challenger is better on {metric} ({what}; {holm}, p={primary.p_adjusted:.3g} < {alpha:g})"
        checks[0] = replace(checks[0], reason=reason)
        return Outcome.PROMOTE, checks, None
    if winners:
        w = winners[0]
        reason = (
            f"{shown}: {ni_text}, and superior on the decision metric {w.metric}: "
            f"{describe_delta(w.metric, w.result.delta)}, {describe_bounds(w.result)}, "
            f"{required(w.metric, w.limit)} with {holm} p={w.p_adjusted:.3g} < {alpha:g}"
        )
        checks[0] = replace(checks[0], reason=reason)
        return Outcome.PROMOTE, checks, None
    primary_cannot = bs.upper < limit
    others_cannot = bs.upper < -policy.margin or all(r.result.upper < r.limit for r in others)
    if primary_cannot and others_cannot:
        worse = "worse than the champion" if bs.upper < 0 else "not better by the required amount"
        names = ", ".join(r.metric for r in others)
        reason = (
            f"{shown}: even the most favourable bound misses {required(metric, limit)}, and no decision "
            f"metric ({names}) can make up for it; the challenger is {worse}"
        )
        checks[0] = replace(checks[0], reason=reason)
        return Outcome.REJECT, checks, None
    needed, more = _routes_rows(judged, bs, policy)
    reason = f"{shown}: neither the primary metric nor a decision metric decides ({holm})" + more
    checks[0] = replace(checks[0], reason=reason)
    return Outcome.INCONCLUSIVE, checks, needed


# ---- the decision ----------------------------------------------------------------------------


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

    outcome, stat_checks, rows = statistical_check(evidence, policy)
    reason = stat_checks[0].reason
    size_ok = evidence.n_rows >= policy.min_holdout_rows
    checks.append(
        Check(
            name="min_holdout_rows",
            passed=size_ok,
            value=str(evidence.n_rows),
            threshold=f">= {policy.min_holdout_rows} to promote",
            reason=f"holdout has {evidence.n_rows} rows; a promotion needs "
            f"{policy.min_holdout_rows} (gate.min_holdout_rows), a rejection no minimum",
            hard=False,
        )
    )
    checks.extend(stat_checks)
    if outcome is Outcome.PROMOTE and not size_ok:
        # The bounds are valid at this size; only the policy's floor for a promotion is missing.
        return judged(
            Outcome.INCONCLUSIVE,
            f"{reason}; but the holdout has {evidence.n_rows} rows and a promotion needs "
            f"gate.min_holdout_rows {policy.min_holdout_rows}",
            policy.min_holdout_rows,
        )
    return judged(outcome, reason, rows)


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
