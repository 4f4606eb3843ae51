"""The one way ``champion`` moves: under the promotion lock, compare-and-set, judged again if needed.

Every move of the alias goes through :func:`settle`: a gated promotion after a retrain, a
promotion a person asks for (``challenger promote``, forced or not), a rollback
(``challenger rollback``) and the online review's promotions and rollbacks. Inside the lock:

1. the champion is read again; if it moved since the decision was taken (another run
   promoted meanwhile) and the decision depended on it, the caller's ``rejudge`` gives a new
   decision against the champion that is there now;
2. the decision names the move (or none): :class:`Move`;
3. :meth:`~challenger.store.registry.Registry.promote` moves ``champion`` only if it still
   points where the decision saw it (compare-and-set), keeps the rollback target, mirrors
   the stages and writes the history entry;
4. a rollback leaves a note on both versions.

The lock itself is the caller's (a context manager factory): the flows pass Prefect's
global concurrency limit, so two runs cannot interleave steps 1–4.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Literal, TypeVar

import pandas as pd

from challenger.errors import ChallengerError, ChampionMoved
from challenger.gate.decide import (
    GateDecision,
    already_champion,
    forced,
    refused,
    rejudged,
)
from challenger.gate.describe import natural
from challenger.gate.evidence import Check
from challenger.gate.judge import JudgeSettings, Provenance, Verdict, judge
from challenger.store.record import VersionRecord
from challenger.store.registry import Registry, VersionInfo
from challenger.store.tracking import Tracking

MoveKind = Literal["promote", "forced", "rollback", "online-promote"]
Lock = Callable[[], AbstractContextManager[object]]
D = TypeVar("D")


@dataclass(frozen=True)
class Move:
    """A move of ``champion`` that a decision asks for."""

    kind: MoveKind
    to: int
    reason: str
    run_id: str | None = None


@dataclass(frozen=True)
class Settled:
    """What the promotion step did.

    Attributes:
        moved: ``champion`` moved to ``to``.
        to: The version the decision wanted as champion (None: no move was asked for).
        before: The champion when the step started (inside the lock).
        already: ``to`` was the champion already; nothing moved.
        refused: Why the compare-and-set refused the move (None when it did not).
        rejudged: The champion had moved since the decision, which was taken again.
    """

    moved: bool
    to: int | None
    before: int | None
    already: bool = False
    refused: str | None = None
    rejudged: bool = False


def _version(champion: VersionInfo | None) -> int | None:
    return champion.version if champion is not None else None


def settle(
    registry: Registry,
    lock: Lock,
    decision: D,
    expected: int | None,
    *,
    move_of: Callable[[D], Move | None],
    rejudge: Callable[[VersionInfo | None], D] | None = None,
) -> tuple[D, Settled]:
    """Carry out a decision's move of ``champion`` under the lock, or nothing.

    Args:
        registry: The registered model.
        lock: Gives the promotion lock as a context manager.
        decision: The decision, taken while ``champion`` pointed at ``expected``.
        expected: The champion the decision saw (None: there was none).
        move_of: The move a decision asks for (None: nothing moves).
        rejudge: Takes the decision again against the champion now in place; None when
            the decision does not depend on which version is champion (the move's
            compare-and-set then expects the champion in place inside the lock).

    Returns:
        The decision carried out (the new one if it was taken again) and what happened.
    """
    with lock():
        current = registry.champion()
        now = _version(current)
        again = False
        if rejudge is None:
            expected = now
        elif now != expected:
            decision, expected, again = rejudge(current), now, True
        move = move_of(decision)
        if move is None:
            return decision, Settled(False, None, now, rejudged=again)
        if move.to == now:
            return decision, Settled(False, move.to, now, already=True, rejudged=again)
        try:
            registry.promote(
                move.to, expected, reason=move.reason, run_id=move.run_id, kind=move.kind
            )
        except ChampionMoved as exc:
            return decision, Settled(False, move.to, now, refused=str(exc), rejudged=again)
        if move.kind == "rollback" and now is not None:
            registry.update_record(move.to, VersionRecord(restored_by_rollback=move.reason))
            registry.update_record(now, VersionRecord(rolled_back=move.reason))
        return decision, Settled(True, move.to, now, rejudged=again)


def recover(registry: Registry, tracking: Tracking, lock: Lock) -> list[str]:
    """Put right what an interrupted run left behind, under the lock; returns what changed.

    Runs whose process was killed are closed (KILLED), a move of ``champion`` that was
    started is completed or marked abandoned, PENDING versions of dead runs are ABANDONED,
    and the stage mirror follows the aliases (:meth:`Registry.repair`).
    """
    with lock():
        closed = tracking.close_dead_runs()
        return closed + registry.repair(live_runs=tracking.run_alive)


def rollback(
    registry: Registry, lock: Lock, to: int | None, reason: str, run_id: str | None = None
) -> tuple[int, int]:
    """Move ``champion`` back to ``previous-champion`` (or to ``to``) under the lock.

    A rollback rolls back the champion that was in place when it was asked for: if another
    move came first (two rollbacks at once), it refuses instead of undoing that move. The
    target is resolved again inside the lock.

    Returns:
        (the version that was champion, the version that is champion now).

    Raises:
        ChallengerError: Nothing to roll back to, or the champion moved meanwhile.
    """
    seen, _ = registry.rollback_target(to)  # a clear error before waiting for the lock

    def move_of(intent: str | None) -> Move | None:
        if intent is None:  # the champion moved since the rollback was asked for
            return None
        _, target = registry.rollback_target(to)  # where the aliases point now
        return Move("rollback", target, reason, run_id)

    def moved_meanwhile(current: VersionInfo | None) -> str | None:
        return None

    intent: str | None = "rollback"
    _, done = settle(registry, lock, intent, seen.version, move_of=move_of, rejudge=moved_meanwhile)
    if not done.moved or done.to is None or done.before is None:
        now = f"v{done.before}" if done.before is not None else "none"
        raise ChallengerError(
            f"the rollback of {registry.model_name!r} from v{seen.version} did not happen: "
            f"{done.refused or f'the champion is {now} now (another move came first)'}; "
            "run challenger status and try again"
        )
    return done.before, done.to


Judge = Callable[..., Verdict]


def history_reason(verdict: Verdict, decision: GateDecision) -> str:
    """Why a judged version moved, as its champion-history line says it.

    The gate's outcome and the primary metric's Δ (challenger − champion) come first: the
    MLflow UI cuts a long tag, and these are what a person scanning the history looks for.
    """
    bs = verdict.evidence.primary
    delta = f", {bs.metric} {natural(bs.metric, bs.delta):+.4f}" if bs is not None else ""
    return f"gate {decision.outcome.value}{delta}: {decision.reason}"


def promote_if_better(
    cfg: JudgeSettings,
    registry: Registry,
    lock: Lock,
    version: VersionInfo,
    champion: VersionInfo | None,
    holdout: pd.DataFrame,
    base_checks: tuple[Check, ...],
    run_id: str | None,
    provenance: Provenance,
    *,
    force_reason: str | None = None,
    judge_with: Judge = judge,
) -> tuple[Verdict, int | None]:
    """Judge a registered version against the champion; promote it if it passes (or is forced).

    Two runs finishing at once cannot both promote: the move happens in :func:`settle`, under
    the lock and with compare-and-set, and if the champion moved since the judgement the
    version is judged again against the champion now in place. A version that is not
    promoted loses the ``challenger`` alias (stage None).

    Args:
        cfg: What a judgement reads from the configuration.
        registry: The registered model.
        lock: Gives the promotion lock.
        version: The version to judge.
        champion: The champion it is judged against.
        holdout: The frozen holdout rows.
        base_checks: Hard checks already made.
        run_id: The MLflow run recording this (written into the history).
        provenance: How the holdout was drawn and what each version trained on (a judgement
            again against a champion that moved checks that champion's training rows too).
        force_reason: A person's reason to promote whatever the gate says.
        judge_with: The judgement (the flows pass it wrapped as a Prefect task).

    Returns:
        The final verdict, and the previous champion's version when a promotion happened.
    """
    verdict = judge_with(cfg, registry, version, champion, holdout, base_checks, provenance)
    expected = champion.version if champion else None
    promoted_from: int | None = None
    if verdict.decision.promotes or force_reason is not None:

        def rejudge(current: VersionInfo | None) -> Verdict:
            again = judge_with(cfg, registry, version, current, holdout, base_checks, provenance)
            now = current.version if current else None
            return replace(again, decision=rejudged(again.decision, expected, now))

        def wanted(v: Verdict) -> GateDecision:
            return v.decision if force_reason is None else forced(v.decision, force_reason)

        def move_of(v: Verdict) -> Move | None:
            d = wanted(v)
            if not d.promotes:
                return None
            kind: MoveKind = "forced" if force_reason is not None else "promote"
            return Move(kind, version.version, history_reason(v, d), run_id)

        verdict, done = settle(registry, lock, verdict, expected, move_of=move_of, rejudge=rejudge)
        decision = wanted(verdict)
        if done.already:
            decision = already_champion(decision, version.version)
        elif done.refused is not None:
            decision = refused(decision, done.refused)
        elif done.moved:
            promoted_from = done.before
        verdict = replace(verdict, decision=decision)
    if not verdict.decision.promotes:
        registry.retire_challenger(version.version)
    return verdict, promoted_from
