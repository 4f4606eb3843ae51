"""Carrying out an online decision and recording it beside the offline evidence.

:func:`act` moves ``champion`` through the one promotion step (``challenger.gate.promotion``)
and the rollout state through ``challenger.online.rollout``; :func:`record` writes the decision
on the version (its record's online fields and, once final, the gate verdict), in the model
card's "Online comparison" section and on an MLflow run (``online/decision.json``,
``online/report.md``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from challenger.config import CanaryConfig, Settings
from challenger.gate.promotion import Lock, Move, settle
from challenger.online import rollout
from challenger.online.decision import OnlineDecision
from challenger.online.log import LogStore
from challenger.online.review import Review, review
from challenger.online.rollout import RolloutState
from challenger.store.record import TAG, VersionRecord
from challenger.store.registry import CHALLENGER, PREVIOUS, Registry, VersionInfo
from challenger.store.tracking import Tracking

CARD_MARKER = "\n\n## Online comparison"
RollbackKind = Literal["retire", "restore", "refuse"]
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RollbackPlan:
    """What a rollback decision does to the registry.

    Attributes:
        kind: retire (the version never became champion: drop its challenger alias),
            restore (it is the champion: ``Registry.rollback`` to ``target``), refuse (it is
            the champion but the rollback target is not what it was compared with).
        reason: One sentence for the record.
        target: The version ``champion`` goes back to (restore only).
    """

    kind: RollbackKind
    reason: str
    target: int | None = None


def plan_rollback(
    version: int, compared_with: int | None, champion: int | None, previous: int | None
) -> RollbackPlan:
    """Decide what rolling ``version`` back means, from where the aliases point now.

    Args:
        version: The version the decision rolls back.
        compared_with: The champion its evidence was gathered against.
        champion: The version ``champion`` points at now.
        previous: The version ``previous-champion`` points at now.
    """
    if version != champion:
        return RollbackPlan(
            "retire",
            f"v{version} never became the champion (v{champion} serves): its traffic stops "
            "and it is retired",
        )
    if previous is not None and previous == compared_with:
        return RollbackPlan(
            "restore",
            f"v{version} is the champion and does worse than v{previous}, the champion it "
            f"replaced: champion goes back to v{previous} (previous-champion)",
            previous,
        )
    return RollbackPlan(
        "refuse",
        f"v{version} is the champion, but previous-champion is "
        f"{'unset' if previous is None else f'v{previous}'} and the evidence compared it with "
        f"v{compared_with}: not rolled back automatically (challenger rollback --to VERSION)",
    )


def champion_expectation(decision: OnlineDecision) -> tuple[bool, int | None]:
    """Whether the decision depends on where ``champion`` points, and where that must be.

    A promotion expects the champion its evidence was gathered against, a rollback of the
    champion expects the champion it judged; other decisions do not depend on it.
    """
    if decision.action == "promote":
        return True, decision.champion_version
    if decision.action == "rollback" and "watch" in decision.details:
        return True, decision.challenger_version
    return False, None


def report_markdown(
    decision: OnlineDecision, model_name: str, shadows: list[dict[str, Any]]
) -> str:
    """The decision as a short markdown report (model card section, MLflow and Prefect)."""
    d = decision
    lines = [
        f"**{d.outcome.value}** ({d.action}) — {d.strategy} of {model_name} "
        f"v{d.challenger_version} against champion v{d.champion_version}",
        "",
        d.reason,
        "",
        "| check | result | value | threshold | reason |",
        "|---|---|---|---|---|",
    ]
    for c in d.checks:
        mark = "pass" if c.passed else "fail"
        lines.append(f"| {c.name} | {mark} | {c.value} | {c.threshold} | {c.reason} |")
    for s in shadows:
        if s.get("version") != d.challenger_version:
            lines.append(
                f"\nShadow {s['shadow']} (v{s['version']}): {s.get('action', 'no data')} — "
                f"{s.get('reason', 'no paired requests yet')}"
            )
    return "\n".join(lines)


def version_record(decision: OnlineDecision, run_id: str) -> VersionRecord:
    """What a decision adds to the judged version's record (its ``online`` fields; once
    final, the gate's verdict)."""
    d = decision
    online = {
        "strategy": d.strategy,
        "action": d.action,
        "outcome": d.outcome.value,
        "reason": d.reason,
        "run_id": run_id,
        "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if d.strategy == "canary" and "stage" in d.details:
        online["stage"] = str(d.details["stage"])
    record = VersionRecord(online=online)
    # The gate's verdict on a challenger; a champion watched after its promotion keeps the
    # verdict that promoted it (its rollback is recorded as ``rolled_back``).
    if d.action in ("promote", "rollback") and "watch" not in d.details:
        record = replace(
            record,
            gate_decision=d.outcome.value,
            gate_reason=f"online {d.strategy}: {d.reason}",
            gate_stage="online",
        )
    return record


def version_tags(decision: OnlineDecision, run_id: str) -> dict[str, str]:
    """The tags :func:`version_record` writes on the judged version."""
    return version_record(decision, run_id).to_tags()


def act(
    rev: Review,
    settings: Settings,
    registry: Registry,
    store: LogStore,
    run_id: str | None,
    lock: Lock,
) -> tuple[Review, OnlineDecision, str]:
    """Carry out a decision with the registry's operations and the rollout state.

    A promotion, or a rollback that restores the previous champion, moves ``champion``
    through :func:`challenger.gate.promotion.settle` (the promotion lock, compare-and-set,
    the history); if ``champion`` moved since the review and the decision depended on it,
    the log is reviewed again inside the lock and the new decision is the one carried out.

    Args:
        rev: The review to act on.
        settings: The configuration.
        registry: The registry.
        store: The prediction log (rollout state).
        run_id: The MLflow run the champion history entry points at.
        lock: Gives the promotion lock.

    Returns:
        The review acted on (the new one if it was reviewed again), the decision as carried
        out (a refused promotion becomes keep_watching) and one sentence saying what was done.
    """
    if rev.decision.action not in ("promote", "rollback"):
        decision, done = move_rollout(rev.decision, rev.state, settings.rollout.canary, store)
        return rev, decision, done
    depends, expected = champion_expectation(rev.decision)
    plans: dict[int, RollbackPlan] = {}

    def why(d: OnlineDecision) -> str:
        return f"online {d.strategy}: {d.reason}"

    def move_of(r: Review) -> Move | None:
        d, version = r.decision, r.decision.challenger_version
        if version is None:
            return None
        if d.action == "promote":
            return Move("online-promote", version, why(d), run_id)
        if d.action != "rollback":
            return None
        champion, previous = registry.champion(), registry.alias(PREVIOUS)
        plan = plan_rollback(
            version,
            d.champion_version,
            champion.version if champion else None,
            previous.version if previous else None,
        )
        plans[version] = plan
        if plan.kind == "restore" and plan.target is not None:
            return Move("rollback", plan.target, why(d), run_id)
        return None

    def rejudge(current: VersionInfo | None) -> Review:
        now = current.version if current else None
        logger.warning(
            "Champion moved from v%s to v%s since the review; reviewing again", expected, now
        )
        again = review(settings, registry, store)
        note = f"reviewed again after the champion moved from v{expected} to v{now}"
        return replace(
            again, decision=replace(again.decision, reason=f"{note}: {again.decision.reason}")
        )

    rev, settled = settle(
        registry, lock, rev, expected, move_of=move_of, rejudge=rejudge if depends else None
    )
    decision, state, version = rev.decision, rev.state, rev.decision.challenger_version
    if decision.action == "promote" and version is not None:
        if settled.refused is not None:
            decision = replace(
                decision,
                action="keep_watching",
                reason=f"compare-and-set refused the promotion: {settled.refused}",
            )
            return rev, decision, "promotion refused: the champion moved"
        if state is not None:
            rollout.write(store, rollout.promoted(state, decision.reason, now=time.time()))
        return rev, decision, f"champion moved from v{settled.before} to v{version}"
    if decision.action != "rollback" or version is None:
        decision, done = move_rollout(decision, state, settings.rollout.canary, store)
        return rev, decision, done
    done = ""
    if state is not None and state.running:
        stopped = rollout.roll_back(state, decision.reason, now=time.time())
        if rollout.write(store, stopped) is None:
            done = "the rollout state changed meanwhile; "
        else:
            done = "traffic back to the champion; "
    plan = plans[version]
    decision = replace(decision, details={**decision.details, "rollback": plan.__dict__})
    if plan.kind == "retire":
        current = registry.alias(CHALLENGER)
        if current is not None and current.version == version:
            registry.retire_challenger(version)
            done += f"v{version} retired (alias challenger removed)"
        else:
            done += f"v{version} was no longer the challenger"
    elif plan.kind == "restore" and settled.moved:
        done += f"champion rolled back from v{settled.before} to v{settled.to} (previous-champion)"
    elif plan.kind == "restore":
        done += f"not rolled back: {settled.refused or 'the champion changed'}"
    else:
        done += plan.reason
    return rev, decision, done


def move_rollout(
    decision: OnlineDecision, state: RolloutState | None, canary: CanaryConfig, store: LogStore
) -> tuple[OnlineDecision, str]:
    """Carry out a decision that moves only the rollout state: advance a canary, or restart
    a rollout against the champion that serves now (a ``restart`` detail).

    Returns:
        The decision as carried out (an advance refused by the compare-and-set becomes
        keep_watching) and one sentence saying what was done.
    """
    version = decision.challenger_version
    done = "nothing to do"
    if decision.action == "advance" and state is not None and decision.next_stage is not None:
        weight = canary.stages[decision.next_stage]
        advanced = rollout.advance(state, decision.next_stage, decision.reason, now=time.time())
        if rollout.write(store, advanced) is not None:
            done = f"canary advanced to stage {decision.next_stage} ({weight:g} %)"
        else:
            decision = replace(
                decision, action="keep_watching", reason="the rollout state changed meanwhile"
            )
            done = "not advanced: the rollout state changed meanwhile"
    elif "restart" in decision.details and state is not None and state.running:
        new_champion = decision.details["restart"]["champion_version"]
        again = rollout.restart(state, new_champion, decision.reason, now=time.time())
        if rollout.write(store, again) is not None:
            done = f"the {state.strategy} of v{version} starts again at stage 0 against v{new_champion}"
        else:
            done = "not restarted: the rollout state changed meanwhile"
    return decision, done


def record(
    rev: Review,
    decision: OnlineDecision,
    done: str,
    registry: Registry,
    tracking: Tracking,
    run_id: str,
) -> dict[str, Any]:
    """Record a decision on the active MLflow run (``run_id``) and on the judged version.

    Returns:
        The record: decision, what was done, the MLflow run id and the markdown report.
    """
    state = rev.state
    version = decision.challenger_version
    report = report_markdown(decision, registry.model_name, rev.shadows)
    result: dict[str, Any] = {
        "model_name": registry.model_name,
        "decision": decision.to_dict(),
        "done": done,
        "shadows": rev.shadows,
        "rollout": None if state is None else state.to_dict(),
        "run_id": run_id,
    }
    tracking.set_run_tags({f"{TAG}online_action": decision.action})
    tracking.log_params(
        {
            "strategy": decision.strategy,
            "challenger_version": decision.challenger_version,
            "champion_version": decision.champion_version,
        }
    )
    metrics = _numbers(decision.details)
    if metrics:
        tracking.log_metrics(metrics)
    tracking.log_dict(result, "online/decision.json")
    tracking.log_text(report, "online/report.md")
    if version is not None:
        try:
            info = registry.version(version)
        except Exception:
            info = None
        if info is not None:
            card = info.description.split(CARD_MARKER)[0]
            registry.tag_version(
                version,
                version_tags(decision, run_id),
                description=f"{card}{CARD_MARKER}\n\n{report}\n\n_{done}_",
            )
    result["report"] = report
    return result


def _numbers(details: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers of a decision's details, flattened (``a.b``) as MLflow metrics."""
    out: dict[str, float] = {}
    for key, value in details.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            continue
        if isinstance(value, int | float) and value == value and abs(value) != float("inf"):
            out[name] = float(value)
        elif isinstance(value, Mapping) and key not in ("gate", "evidence"):
            out.update(_numbers(value, f"{name}."))
    return {k.replace("[", "_").replace("]", ""): v for k, v in out.items()}
