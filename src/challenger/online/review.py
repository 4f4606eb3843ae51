"""Reading the prediction log and deciding: the online review (used by the online flow).

``review`` reads what the serving app logged and asks the judges (``challenger.online.judges``)
for a decision (``review_rollout`` for a running A/B test or canary, ``_watch_promoted`` for a
champion the online analysis promoted and still watches against the one it replaced).
Carrying the decision out and recording it is ``challenger.online.act``. Nothing here
imports Prefect or moves an alias.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from challenger.config import Settings
from challenger.gate.evidence import Check
from challenger.online import rollout
from challenger.online.decision import OnlineDecision
from challenger.online.judges.ab import analyse_ab, decide_ab
from challenger.online.judges.canary import judge_canary
from challenger.online.judges.shadow import analyse_shadow, decide_shadow
from challenger.online.log import LogStore
from challenger.online.rollout import RolloutState
from challenger.online.serve.models import resolve
from challenger.store.registry import CHALLENGER, Registry

#: ``kind`` of a champion-history entry written by an online promotion.
ONLINE_PROMOTE = "online-promote"


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
    """
    strategy = settings.rollout.strategy
    champion = registry.champion()
    challenger = registry.alias(CHALLENGER)
    champ_v = champion.version if champion else None
    chal_v = challenger.version if challenger else None
    if strategy == "champion" and not settings.rollout.shadow.batch:
        return _waiting(strategy, "strategy 'champion' serves only the champion", chal_v, champ_v)
    if strategy in ("shadow", "champion"):  # champion: only batch shadows were logged
        return _review_shadows(settings, registry, store, champ_v, chal_v)

    def rollback_recorded(version: int) -> bool:
        return registry.version(version).record.online.get("action") == "rollback"

    return review_rollout(
        settings, store, champion=champ_v, challenger=chal_v, rollback_recorded=rollback_recorded
    )


def _review_shadows(
    settings: Settings,
    registry: Registry,
    store: LogStore,
    champ_v: int | None,
    chal_v: int | None,
) -> Review:
    """Judge every configured shadow against the champion; decide on the challenger's."""
    strategy = settings.rollout.strategy
    cfg = settings.rollout.shadow
    reports: list[dict[str, Any]] = []
    chosen: OnlineDecision | None = None
    decided: dict[int, OnlineDecision] = {}
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
            analyse_shadow(pairs, cfg, settings.data.task),
            cfg,
            settings.gate,
            primary_metric=settings.training.primary_metric,
            seed=settings.project.seed,
        )
        reports.append({"shadow": ref, "version": version, **decision.to_dict()})
        decided[version] = decision
        if version == chal_v:
            chosen = decision
    if chosen is None and chal_v is None and champ_v is not None:
        watched = _watch_promoted(registry.history(), champ_v, decided)
        if watched is not None:
            return Review(watched, None, reports)
    if chosen is None:
        why = (
            "no challenger alias to decide on"
            if chal_v is None
            else f"no shadow output of challenger v{chal_v} against champion v{champ_v} yet"
        )
        waiting = _waiting(strategy, why, chal_v, champ_v)
        return Review(waiting.decision, None, reports)
    return Review(chosen, None, reports)


def review_rollout(
    settings: Settings,
    store: LogStore,
    *,
    champion: int | None,
    challenger: int | None,
    rollback_recorded: Callable[[int], bool],
) -> Review:
    """Judge the running A/B test or canary stage from the rollout state and the log.

    Args:
        settings: The configuration (``rollout.strategy`` is ab or canary).
        store: The prediction log: the rollout state and the logged requests.
        champion: The version ``champion`` points at now.
        challenger: The version ``challenger`` points at now.
        rollback_recorded: Whether a version's rollback was already recorded (its
            ``online_action`` tag), asked only of a rolled-back rollout.

    Returns:
        rollback for a rollout the app stopped (until it is recorded), keep_watching while
        nothing can be judged (no rollout, another challenger, a champion that moved: then
        with a ``restart`` detail), otherwise the strategy's judge on the logged rows.
    """
    strategy = settings.rollout.strategy
    champ_v, chal_v = champion, challenger
    state = rollout.read(store)
    if state is None or state.strategy != strategy:
        return _waiting(
            strategy, f"no {strategy} rollout has started (is the app serving?)", chal_v, champ_v
        )
    sv = state.challenger_version
    if state.status == "rolled_back":
        if chal_v == sv or not rollback_recorded(sv):
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
    if champ_v != state.champion_version:
        # Its evidence compares the challenger with a champion that no longer serves.
        return Review(
            OnlineDecision(
                strategy,
                "keep_watching",
                f"the champion moved from v{state.champion_version} to v{champ_v} since the "
                f"{strategy} of v{sv} started; it starts again against v{champ_v}",
                (),
                sv,
                champ_v,
                {"restart": {"champion_version": champ_v}},
            ),
            state,
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


def _watch_promoted(
    history: Sequence[Mapping[str, Any]], champion: int, decided: Mapping[int, OnlineDecision]
) -> OnlineDecision | None:
    """After an online promotion, the champion it replaced is shadowed against it.

    Only when the last move of ``champion`` was an online promotion (so a rollback is never
    followed by another one) and that former champion is among the shadows. The shadow's
    decision is read the other way round: a shadow that would be promoted means the new
    champion does worse on live traffic than the one it replaced (roll it back); anything
    else keeps watching.

    Returns:
        The decision on the champion, or None when there is nothing to watch.
    """
    last = history[-1] if history else {}
    if last.get("kind") != ONLINE_PROMOTE or last.get("to") != champion:
        return None
    former = last.get("from")
    if not isinstance(former, int) or former not in decided:
        return None
    d = decided[former]
    details = {**d.details, "watch": {"champion": champion, "promoted_from": former}}
    if d.action == "promote":
        return OnlineDecision(
            "shadow",
            "rollback",
            f"champion v{champion}, promoted online from v{former}, does worse on live "
            f"traffic than v{former}: {d.reason}",
            d.checks,
            champion,
            former,
            details,
        )
    return OnlineDecision(
        "shadow",
        "keep_watching",
        f"watching champion v{champion} (promoted online) against v{former}, which it "
        f"replaced: {d.reason}",
        d.checks,
        champion,
        former,
        details,
    )
