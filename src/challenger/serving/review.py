"""From the prediction log to a recorded online decision (used by the online flow).

``review`` reads what the serving app logged and asks ``challenger.online`` for a decision;
``apply`` carries it out and records it beside the offline evidence: the version's tags
(``challenger.online_*`` and, once final, ``challenger.gate_decision``), an "Online
comparison" section in its model card, an MLflow run with ``online/decision.json`` and
``online/report.md``, and the rollout state the serving app follows. A promotion is the
registry's compare-and-set; a rollback stops the challenger's traffic and retires it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from challenger.config import Settings
from challenger.errors import ChampionMoved
from challenger.evaluation import Check
from challenger.online import (
    OnlineDecision,
    analyse_ab,
    analyse_shadow,
    decide_ab,
    decide_shadow,
    judge_canary,
)
from challenger.registry import CHALLENGER, TAG, Registry
from challenger.serving.log import LogStore
from challenger.serving.models import require_binary_task, resolve
from challenger.serving.router import RolloutState

ROLLOUT_KEY = "rollout"
CARD_MARKER = "\n\n## Online comparison"


def with_overrides(settings: Settings, overrides: Mapping[str, Any] | None) -> Settings:
    """The settings with a nested mapping of overrides merged in (validated again)."""
    if not overrides:
        return settings

    def merge(base: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(base)
        for k, v in patch.items():
            out[k] = (
                merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
            )
        return out

    return type(settings).model_validate(merge(settings.model_dump(), overrides))


def store_for(settings: Settings) -> LogStore:
    """The prediction log named by the configuration."""
    return LogStore(settings.path(settings.serving.prediction_log))


def read_rollout(store: LogStore) -> RolloutState | None:
    """The rollout state the serving app follows, or None before any rollout."""
    got = store.read_state(ROLLOUT_KEY)
    return None if got is None else RolloutState.from_dict(got[1], got[0])


@dataclass(frozen=True)
class Review:
    """A decision and what it was based on."""

    decision: OnlineDecision
    state: RolloutState | None
    shadows: list[dict[str, Any]] = field(default_factory=list)


def _waiting(strategy: str, reason: str, challenger: int | None, champion: int | None) -> Review:
    return Review(OnlineDecision(strategy, "keep_watching", reason, (), challenger, champion), None)


def review(settings: Settings, registry: Registry, store: LogStore) -> Review:
    """Analyse the log for the configured strategy and decide.

    Returns:
        keep_watching with the reason when there is nothing to decide yet (no challenger,
        no rollout running, too little data); otherwise the analysis's decision.

    Raises:
        ConfigError: ``data.task`` is not binary (the online analysis compares positive-class
            probabilities and 0/1 labels).
    """
    require_binary_task(settings.data.task)
    strategy = settings.rollout.strategy
    champion = registry.champion()
    challenger = registry.alias(CHALLENGER)
    champ_v = champion.version if champion else None
    chal_v = challenger.version if challenger else None
    if strategy == "champion":
        return _waiting(strategy, "strategy 'champion' serves only the champion", chal_v, champ_v)

    if strategy == "shadow":
        cfg = settings.rollout.shadow
        reports: list[dict[str, Any]] = []
        chosen: OnlineDecision | None = None
        for ref in cfg.models:
            version = resolve(registry, ref)
            if version is None or version == champ_v:
                continue
            pairs = store.shadow_pairs(version)
            if champ_v is not None:
                pairs = pairs[pairs["champion_version"] == champ_v]
            if pairs.empty:
                reports.append({"shadow": ref, "version": version, "pairs": 0})
                continue
            decision = decide_shadow(
                analyse_shadow(pairs, cfg),
                cfg,
                settings.gate,
                primary_metric=settings.training.primary_metric,
                seed=settings.project.seed,
            )
            reports.append({"shadow": ref, "version": version, **decision.to_dict()})
            if version == chal_v:
                chosen = decision
        if chosen is None:
            why = (
                "no challenger alias to decide on"
                if chal_v is None
                else f"no shadow output of challenger v{chal_v} against champion v{champ_v} yet"
            )
            waiting = _waiting(strategy, why, chal_v, champ_v)
            return Review(waiting.decision, None, reports)
        return Review(chosen, None, reports)

    state = read_rollout(store)
    if state is None or state.strategy != strategy:
        return _waiting(
            strategy, f"no {strategy} rollout has started (is the app serving?)", chal_v, champ_v
        )
    sv = state.challenger_version
    if state.status == "rolled_back":
        recorded = registry.version(sv).tags.get(f"{TAG}online_action") == "rollback"
        if chal_v == sv or not recorded:
            check = Check("rollout_state", False, state.status, "running", state.reason)
            return Review(
                OnlineDecision(
                    strategy, "rollback", state.reason, (check,), sv, state.champion_version
                ),
                state,
            )
        return _waiting(strategy, f"v{sv} was already rolled back: {state.reason}", chal_v, champ_v)
    if state.status != "running":
        return _waiting(strategy, f"the {strategy} of v{sv} is {state.status}", chal_v, champ_v)
    if chal_v != sv:
        return _waiting(
            strategy,
            f"the rollout is of v{sv} but the challenger alias points at "
            f"{'nothing' if chal_v is None else f'v{chal_v}'}; the app starts a new rollout",
            chal_v,
            champ_v,
        )
    rows = store.predictions(since=state.since, challenger_version=sv)
    if strategy == "ab":
        decision = decide_ab(
            analyse_ab(rows, settings.rollout.ab),
            settings.rollout.ab,
            challenger_version=sv,
            champion_version=state.champion_version,
        )
    else:
        decision = judge_canary(
            rows,
            settings.rollout.canary,
            stage=state.stage,
            challenger_version=sv,
            champion_version=state.champion_version,
        )
    return Review(decision, state)


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


def _tags(decision: OnlineDecision, run_id: str) -> dict[str, str]:
    d = decision
    tags = {
        f"{TAG}online_strategy": d.strategy,
        f"{TAG}online_action": d.action,
        f"{TAG}online_outcome": d.outcome.value,
        f"{TAG}online_reason": d.reason[:4000],
        f"{TAG}online_run_id": run_id,
        f"{TAG}online_checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if d.strategy == "canary" and "stage" in d.details:
        tags[f"{TAG}online_stage"] = str(d.details["stage"])
    if d.action in ("promote", "rollback"):
        tags[f"{TAG}gate_decision"] = d.outcome.value
        tags[f"{TAG}gate_reason"] = f"online {d.strategy}: {d.reason}"[:4000]
        tags[f"{TAG}gate_stage"] = "online"
    return tags


def _set_state(store: LogStore, state: RolloutState, **changes: Any) -> bool:
    doc = state.to_dict()
    entry = {"ts": time.time(), "from": f"{state.status}@{state.stage}", "by": "online-analysis"}
    doc.update(changes)
    entry["to"] = f"{doc['status']}@{doc['stage']}"
    entry["reason"] = str(doc.get("reason", ""))
    doc["history"] = [*doc["history"], entry]
    return store.write_state(ROLLOUT_KEY, doc, state.revision) >= 0


def apply(rev: Review, settings: Settings, registry: Registry, store: LogStore) -> dict[str, Any]:
    """Carry out and record a decision.

    Returns:
        The record: decision, what was done, the MLflow run id and the markdown report.
    """
    decision = rev.decision
    state = rev.state
    version = decision.challenger_version
    done = "nothing to do"
    if decision.action == "promote" and version is not None:
        try:
            before = registry.promote(version, decision.champion_version)
            done = f"champion moved from v{before} to v{version}"
            if state is not None:
                _set_state(store, state, status="promoted", reason=decision.reason)
        except ChampionMoved as exc:
            decision = replace(
                decision,
                action="keep_watching",
                reason=f"compare-and-set refused the promotion: {exc}",
            )
            done = "promotion refused: the champion moved"
    elif decision.action == "rollback" and version is not None:
        if state is not None and state.running:
            if not _set_state(store, state, status="rolled_back", reason=decision.reason):
                done = "the rollout state changed meanwhile; "
            else:
                done = "traffic back to the champion; "
        else:
            done = ""
        current = registry.alias(CHALLENGER)
        if current is not None and current.version == version:
            registry.retire_challenger(version)
            done += f"v{version} retired (alias challenger removed)"
        else:
            done += f"v{version} was no longer the challenger"
    elif decision.action == "advance" and state is not None and decision.next_stage is not None:
        weight = settings.rollout.canary.stages[decision.next_stage]
        if _set_state(
            store, state, stage=decision.next_stage, since=time.time(), reason=decision.reason
        ):
            done = f"canary advanced to stage {decision.next_stage} ({weight:g} %)"
        else:
            decision = replace(
                decision, action="keep_watching", reason="the rollout state changed meanwhile"
            )
            done = "not advanced: the rollout state changed meanwhile"
    report = report_markdown(decision, registry.model_name, rev.shadows)
    result: dict[str, Any] = {
        "model_name": registry.model_name,
        "decision": decision.to_dict(),
        "done": done,
        "shadows": rev.shadows,
        "rollout": None if state is None else state.to_dict(),
    }
    with registry.start_run(
        f"online-{decision.strategy}",
        tags={f"{TAG}kind": "online", f"{TAG}online_action": decision.action},
    ) as run_id:
        registry.log_params(
            {
                "strategy": decision.strategy,
                "challenger_version": decision.challenger_version,
                "champion_version": decision.champion_version,
            }
        )
        metrics = _numbers(decision.details)
        if metrics:
            registry.log_metrics(metrics)
        result["run_id"] = run_id
        registry.log_dict(result, "online/decision.json")
        registry.log_text(report, "online/report.md")
    if version is not None:
        try:
            info = registry.version(version)
        except Exception:
            info = None
        if info is not None:
            card = info.description.split(CARD_MARKER)[0]
            registry.tag_version(
                version,
                _tags(decision, str(result["run_id"])),
                description=f"{card}{CARD_MARKER}\n\n{report}\n\n_{done}_",
            )
    result["report"] = report
    return result


def _numbers(details: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
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
