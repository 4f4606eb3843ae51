"""The rollout state of an A/B test or a canary, and every transition it goes through.

One JSON document under the key ``rollout`` in the prediction log's state table
(``LogStore.read_state``/``write_state``), shared by the serving app (which starts a rollout
when a new challenger is served, and stops it on an operator's or the canary guard's word)
and the online analysis (which advances a canary, restarts it against a new champion, marks
it promoted or rolls it back). Traffic goes to the challenger only while the state is
``running``.

Transitions are pure functions from a state to the next (each appends an entry to the
state's history); ``write`` stores the result compare-and-set on the revision the state was
read at, so of two writers racing from the same revision only one wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from challenger.online.log import LogStore

#: The key of the rollout state in the prediction log's state table.
ROLLOUT_KEY = "rollout"
#: ``by`` of the transitions the online analysis makes.
ANALYSIS = "online-analysis"

__all__ = [
    "ANALYSIS",
    "ROLLOUT_KEY",
    "RolloutState",
    "advance",
    "promoted",
    "read",
    "restart",
    "roll_back",
    "start",
    "stop",
    "write",
]


@dataclass(frozen=True)
class RolloutState:
    """The live state of an A/B test or a canary, shared by the app and the analysis flow.

    Attributes:
        strategy: The strategy the state belongs to.
        challenger_version: The version under test; traffic goes only to this version.
        champion_version: The champion when the rollout started (the promotion's expectation).
        stage: Index into the canary stages (0 for A/B).
        status: running, rolled_back, promoted or stopped.
        since: Unix time the current stage (or test) started.
        reason: Why the state last changed.
        revision: Compare-and-set revision in the prediction log's state table (0: never
            stored).
        history: Every transition: ts, from and to (``status@stage``), by, reason.
    """

    strategy: str
    challenger_version: int
    champion_version: int | None
    stage: int = 0
    status: str = "running"
    since: float = 0.0
    reason: str = ""
    revision: int = 0
    history: tuple[Mapping[str, Any], ...] = ()

    @property
    def running(self) -> bool:
        """Whether the challenger may get traffic."""
        return self.status == "running"

    def to_dict(self) -> dict[str, Any]:
        """JSON form (without the revision, which the store keeps)."""
        return {
            "strategy": self.strategy,
            "challenger_version": self.challenger_version,
            "champion_version": self.champion_version,
            "stage": self.stage,
            "status": self.status,
            "since": self.since,
            "reason": self.reason,
            "history": [dict(h) for h in self.history],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], revision: int) -> RolloutState:
        """Rebuild from the stored JSON."""
        return cls(
            strategy=str(data["strategy"]),
            challenger_version=int(data["challenger_version"]),
            champion_version=(
                None if data.get("champion_version") is None else int(data["champion_version"])
            ),
            stage=int(data.get("stage", 0)),
            status=str(data.get("status", "running")),
            since=float(data.get("since", 0.0)),
            reason=str(data.get("reason", "")),
            revision=revision,
            history=tuple(data.get("history", ())),
        )


# ---------------------------------------------------------------------------- transitions


def start(
    strategy: str,
    challenger_version: int,
    champion_version: int | None,
    *,
    now: float,
    replacing: RolloutState | None = None,
) -> RolloutState:
    """A new rollout of ``challenger_version`` at stage 0, started by the serving app.

    Args:
        strategy: ab or canary.
        challenger_version: The version the rollout sends traffic to.
        champion_version: The champion it is compared with.
        now: Unix time it starts.
        replacing: The stored state it replaces (its revision is the compare-and-set's
            expectation), None when no rollout was ever stored.
    """
    return RolloutState(
        strategy=strategy,
        challenger_version=challenger_version,
        champion_version=champion_version,
        stage=0,
        status="running",
        since=now,
        reason=f"{strategy} of v{challenger_version} started by the serving app",
        revision=0 if replacing is None else replacing.revision,
    )


def _transition(
    state: RolloutState, *, by: str, now: float, reason: str, **changes: Any
) -> RolloutState:
    """The state with ``changes`` and the new ``reason``, one history entry longer."""
    after = replace(state, reason=reason, **changes)
    entry = {
        "ts": now,
        "from": f"{state.status}@{state.stage}",
        "by": by,
        "to": f"{after.status}@{after.stage}",
        "reason": reason,
    }
    return replace(after, history=(*state.history, entry))


def advance(state: RolloutState, stage: int, reason: str, *, now: float) -> RolloutState:
    """The canary moves to ``stage`` (its clock restarts); by the online analysis."""
    return _transition(state, by=ANALYSIS, now=now, reason=reason, stage=stage, since=now)


def restart(
    state: RolloutState, champion_version: int | None, reason: str, *, now: float
) -> RolloutState:
    """The rollout starts again at stage 0 against a new champion; by the online analysis."""
    return _transition(
        state,
        by=ANALYSIS,
        now=now,
        reason=reason,
        champion_version=champion_version,
        stage=0,
        since=now,
    )


def promoted(state: RolloutState, reason: str, *, now: float) -> RolloutState:
    """The challenger became champion: the rollout is over; by the online analysis."""
    return _transition(state, by=ANALYSIS, now=now, reason=reason, status="promoted")


def roll_back(state: RolloutState, reason: str, *, now: float) -> RolloutState:
    """The online analysis rolls the challenger back: its traffic stops."""
    return _transition(state, by=ANALYSIS, now=now, reason=reason, status="rolled_back")


def stop(state: RolloutState, reason: str, *, by: str, now: float) -> RolloutState:
    """Someone in the serving app (an operator, the canary guard) stops the challenger's
    traffic now; the state's reason names who (``by: reason``)."""
    return _transition(state, by=by, now=now, reason=f"{by}: {reason}", status="rolled_back")


# ------------------------------------------------------------------------------- storage


def read(store: LogStore) -> RolloutState | None:
    """The rollout state the serving app follows, or None before any rollout."""
    got = store.read_state(ROLLOUT_KEY)
    return None if got is None else RolloutState.from_dict(got[1], got[0])


def write(store: LogStore, state: RolloutState) -> RolloutState | None:
    """Store ``state`` if the stored revision is still the one it was derived from.

    Returns:
        The state as stored (with its new revision), or None when someone else wrote in
        between (nothing written; read it again).
    """
    revision = store.write_state(ROLLOUT_KEY, state.to_dict(), state.revision or None)
    return None if revision < 0 else replace(state, revision=revision)
