"""From the prediction log to a recorded decision: the rollout review, what a decision does to
the rollout state and the registry, the report and the tags (a real LogStore in tmp_path, no
MLflow)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.helpers import running_canary

from challenger.config import Settings
from challenger.online import rollout
from challenger.online.act import (
    move_rollout,
)
from challenger.online.decision import OnlineDecision
from challenger.online.log import FeedbackRow, LogStore, PredictionRow
from challenger.online.log_writer import LogWriter
from challenger.online.review import ONLINE_PROMOTE, _watch_promoted, review_rollout, with_overrides

CANARY = with_overrides(
    Settings(),
    {"rollout": {"strategy": "canary", "canary": {"min_requests": 10, "min_labels": 10}}},
)


def _never(version: int) -> bool:
    return False


def _review(store: LogStore, champion: int | None = 2, challenger: int | None = 3) -> object:
    return review_rollout(
        CANARY, store, champion=champion, challenger=challenger, rollback_recorded=_never
    ).decision


def _log_canary(store: LogStore, n_per_arm: int, stage: int = 0) -> None:
    """Both arms answer the same scores at the same latency, labelled: a healthy stage."""
    writer = LogWriter(store)
    for arm in ("champion", "challenger"):
        for i in range(n_per_arm):
            request_id = f"{arm}-{i}"
            writer.put_many(
                PredictionRow.for_records(
                    [{"x": i}],
                    [0.2 + 0.6 * (i % 2)],
                    request_id=request_id,
                    ts=5.0 + i,
                    user_id=f"u{i}",
                    strategy="canary",
                    experiment=CANARY.rollout.canary.experiment,
                    arm=arm,
                    variant=arm,
                    model_version=3 if arm == "challenger" else 2,
                    challenger_version=3,
                    stage=stage,
                    model_ms=1.0,
                    latency_ms=2.0 + 0.1 * (i % 5),
                    status="ok",
                    error=None,
                    attributes={},
                )
            )
            writer.put(FeedbackRow(request_id, 0, float(i % 2), None, 6.0 + i))
    writer.close()


def test_nothing_is_judged_without_a_running_rollout_of_the_challenger(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "log.db")
    d = _review(store)
    assert d.action == "keep_watching" and "no canary rollout has started" in d.reason  # type: ignore[attr-defined]
    state = running_canary(store)
    other = _review(store, challenger=4)
    assert other.action == "keep_watching" and "the app starts a new rollout" in other.reason  # type: ignore[attr-defined]
    rollout.write(store, rollout.promoted(state, "full rollout", now=2.0))
    done = _review(store)
    assert done.action == "keep_watching" and "is promoted" in done.reason  # type: ignore[attr-defined]


def test_a_rollout_the_app_stopped_is_rolled_back_until_it_is_recorded(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "log.db")
    state = running_canary(store)
    rollout.write(store, rollout.stop(state, "critical error_rate", by="guard", now=2.0))
    d = _review(store)
    assert d.action == "rollback" and d.reason == "guard: critical error_rate"  # type: ignore[attr-defined]
    assert [c.name for c in d.checks] == ["rollout_state"]  # type: ignore[attr-defined]

    def recorded(version: int) -> bool:
        return version == 3

    # Recorded and no longer the challenger: nothing left to do.
    gone = review_rollout(CANARY, store, champion=2, challenger=None, rollback_recorded=recorded)
    assert gone.decision.action == "keep_watching" and "already rolled back" in gone.decision.reason
    # Still the challenger: its rollback is decided again (the alias must go).
    still = review_rollout(CANARY, store, champion=2, challenger=3, rollback_recorded=recorded)
    assert still.decision.action == "rollback"


def test_a_champion_that_moved_restarts_the_rollout_against_the_new_one(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "log.db")
    running_canary(store, stage=2)
    rev = review_rollout(CANARY, store, champion=5, challenger=3, rollback_recorded=_never)
    assert rev.decision.action == "keep_watching"
    assert rev.decision.details == {"restart": {"champion_version": 5}}
    _, done = move_rollout(rev.decision, rev.state, CANARY.rollout.canary, store)
    assert done == "the canary of v3 starts again at stage 0 against v5"
    after = rollout.read(store)
    assert after is not None and (after.stage, after.champion_version) == (0, 5)
    assert after.history[-1]["from"] == "running@2" and after.history[-1]["to"] == "running@0"


def test_a_healthy_stage_is_judged_from_the_log_and_advanced_once(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "log.db")
    running_canary(store)
    _log_canary(store, 12)
    rev = review_rollout(CANARY, store, champion=2, challenger=3, rollback_recorded=_never)
    d = rev.decision
    assert d.action == "advance" and d.next_stage == 1, d.reason
    assert {c.name for c in d.checks} == {"canary_error_rate", "canary_latency_ms", "canary_brier"}
    decision, done = move_rollout(d, rev.state, CANARY.rollout.canary, store)
    assert decision.action == "advance" and done == "canary advanced to stage 1 (25 %)"
    state = rollout.read(store)
    assert state is not None and state.stage == 1 and state.reason == d.reason
    # The same decision carried out again from the state it read: refused, nothing moves.
    again, done = move_rollout(d, rev.state, CANARY.rollout.canary, store)
    assert again.action == "keep_watching" and "changed meanwhile" in done
    assert rollout.read(store) == state
    # Rows of stage 0 never count for stage 1: it waits for its own data.
    waiting = _review(store)
    assert waiting.action == "keep_watching" and "need 10" in waiting.reason  # type: ignore[attr-defined]


def test_an_online_promotion_is_watched_against_the_champion_it_replaced() -> None:
    promoted = [{"kind": ONLINE_PROMOTE, "from": 2, "to": 3}]
    better = OnlineDecision("shadow", "promote", "v2 beats v3", (), 2, 3, {"shadow": {}})
    watched = _watch_promoted(promoted, 3, {2: better})
    assert watched is not None and watched.action == "rollback"
    assert (watched.challenger_version, watched.champion_version) == (3, 2)
    assert watched.details["watch"] == {"champion": 3, "promoted_from": 2}
    same = OnlineDecision("shadow", "keep_watching", "no difference", (), 2, 3)
    kept = _watch_promoted(promoted, 3, {2: same})
    assert kept is not None and kept.action == "keep_watching" and "replaced" in kept.reason
    # Only right after an online promotion (never after a rollback), of that very champion.
    assert _watch_promoted([{"kind": "rollback", "from": 3, "to": 2}], 2, {3: better}) is None
    assert _watch_promoted(promoted, 4, {2: better}) is None
    assert _watch_promoted([], 3, {2: better}) is None


def test_overrides_merge_into_the_nested_settings_and_are_validated() -> None:
    assert CANARY.rollout.strategy == "canary" and CANARY.rollout.canary.min_requests == 10
    assert CANARY.rollout.canary.stages == Settings().rollout.canary.stages, "the rest is kept"
    assert with_overrides(CANARY, None) is CANARY
    with pytest.raises(ValueError, match="strategy"):
        with_overrides(CANARY, {"rollout": {"strategy": "sometimes"}})
