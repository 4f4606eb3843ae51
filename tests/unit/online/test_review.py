"""From the prediction log to a recorded decision: the rollout review, what a decision does to
the rollout state and the registry, the report and the tags (a real LogStore in tmp_path, no
MLflow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from challenger.config import Settings
from challenger.gate.evidence import Check
from challenger.online import rollout
from challenger.online.decision import OnlineDecision
from challenger.online.log import FeedbackRow, LogStore, PredictionRow
from challenger.online.log_writer import LogWriter
from challenger.online.review import (
    ONLINE_PROMOTE,
    _numbers,
    _watch_promoted,
    champion_expectation,
    move_rollout,
    plan_rollback,
    report_markdown,
    review_rollout,
    version_tags,
    with_overrides,
)

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


def _running(store: LogStore, stage: int = 0) -> rollout.RolloutState:
    state = rollout.write(store, rollout.start("canary", 3, 2, now=1.0))
    assert state is not None
    if stage:
        state = rollout.write(store, rollout.advance(state, stage, "earlier stage", now=1.0))
        assert state is not None
    return state


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


# ---------------------------------------------------------------------- the rollout review


def test_nothing_is_judged_without_a_running_rollout_of_the_challenger(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "log.db")
    d = _review(store)
    assert d.action == "keep_watching" and "no canary rollout has started" in d.reason  # type: ignore[attr-defined]
    state = _running(store)
    other = _review(store, challenger=4)
    assert other.action == "keep_watching" and "the app starts a new rollout" in other.reason  # type: ignore[attr-defined]
    rollout.write(store, rollout.promoted(state, "full rollout", now=2.0))
    done = _review(store)
    assert done.action == "keep_watching" and "is promoted" in done.reason  # type: ignore[attr-defined]


def test_a_rollout_the_app_stopped_is_rolled_back_until_it_is_recorded(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "log.db")
    state = _running(store)
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
    _running(store, stage=2)
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
    _running(store)
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


def test_a_decision_that_moves_no_rollout_does_nothing(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "log.db")
    state = _running(store)
    d = OnlineDecision("canary", "keep_watching", "too few", (), 3, 2)
    assert move_rollout(d, state, CANARY.rollout.canary, store) == (d, "nothing to do")
    assert rollout.read(store) == state


# ------------------------------------------------------------ what a decision does to the registry


def test_a_rollback_retires_a_challenger_and_restores_only_the_champion_it_replaced() -> None:
    # A canary (or A/B arm, or shadow) of v3 against champion v2: the champion never moved.
    retire = plan_rollback(3, compared_with=2, champion=2, previous=1)
    assert retire.kind == "retire" and retire.target is None
    # v3 was promoted (online) from v2 and has since done worse than v2: restore v2.
    restore = plan_rollback(3, compared_with=2, champion=3, previous=2)
    assert restore.kind == "restore" and restore.target == 2
    # v3 is the champion but previous-champion is not what it was compared with: by hand.
    for previous in (None, 1):
        refuse = plan_rollback(3, compared_with=2, champion=3, previous=previous)
        assert refuse.kind == "refuse" and "challenger rollback" in refuse.reason


def test_promotions_and_champion_rollbacks_expect_the_champion_they_judged() -> None:
    def d(action: str, details: dict[str, object] | None = None) -> OnlineDecision:
        return OnlineDecision("canary", action, "r", (), 3, 2, dict(details or {}))  # type: ignore[arg-type]

    assert champion_expectation(d("promote")) == (True, 2)
    assert champion_expectation(d("rollback", {"watch": {"champion": 3}})) == (True, 3)
    assert champion_expectation(d("rollback")) == (False, None)
    assert champion_expectation(d("advance")) == (False, None)


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


# ------------------------------------------------------------------------- report and tags


def _decision(action: str, **details: object) -> OnlineDecision:
    checks = (
        Check("canary_error_rate", True, "pass", "tolerance 0.01", "error_rate: 0 vs 0"),
        Check("canary_brier", False, "fail", "tolerance 0.02", "brier canary worse"),
    )
    return OnlineDecision("canary", action, "stage 1 failed", checks, 3, 2, dict(details))  # type: ignore[arg-type]


def test_the_report_names_the_decision_every_check_and_the_other_shadows() -> None:
    shadows = [
        {"shadow": "challenger", "version": 3, "action": "rollback", "reason": "judged above"},
        {"shadow": "3", "version": 4, "action": "keep_watching", "reason": "few pairs"},
        {"shadow": "previous-champion", "version": 1},
    ]
    text = report_markdown(_decision("rollback", stage=1), "loan-default", shadows)
    lines = text.splitlines()
    assert lines[0] == ("**REJECT** (rollback) — canary of loan-default v3 against champion v2")
    assert "stage 1 failed" in lines
    assert "| canary_error_rate | pass | pass | tolerance 0.01 | error_rate: 0 vs 0 |" in lines
    assert "| canary_brier | fail | fail | tolerance 0.02 | brier canary worse |" in lines
    assert "Shadow 3 (v4): keep_watching — few pairs" in text
    assert "Shadow previous-champion (v1): no data — no paired requests yet" in text
    assert "judged above" not in text, "the judged version's own shadow row is the report"


def test_final_decisions_leave_the_gate_verdict_watching_ones_do_not() -> None:
    rolled = version_tags(_decision("rollback", stage=1), "run-1")
    assert rolled["challenger.online_action"] == "rollback"
    assert rolled["challenger.online_outcome"] == "REJECT"
    assert rolled["challenger.online_run_id"] == "run-1"
    assert rolled["challenger.online_stage"] == "1"
    assert rolled["challenger.gate_decision"] == "REJECT"
    assert rolled["challenger.gate_stage"] == "online"
    assert rolled["challenger.gate_reason"] == "online canary: stage 1 failed"
    waiting = version_tags(_decision("keep_watching"), "run-2")
    assert "challenger.gate_decision" not in waiting and "challenger.online_stage" not in waiting
    assert waiting["challenger.online_outcome"] == "INCONCLUSIVE"
    # A champion rolled back after its online promotion keeps the verdict that promoted it.
    watched = version_tags(_decision("rollback", watch={"champion": 3}), "run-3")
    assert "challenger.gate_decision" not in watched
    long = OnlineDecision("ab", "promote", "x" * 5000, (), 3, 2)
    assert len(version_tags(long, "r")["challenger.online_reason"]) == 4000


def test_only_finite_numbers_of_the_details_become_metrics() -> None:
    details = {
        "score": 75.0,
        "stage": 1,
        "flag": True,
        "nan": float("nan"),
        "inf": float("inf"),
        "shadow": {"psi": 0.05, "name": "challenger", "deep": {"n": 3}},
        "metrics[0]": 2,
        "gate": {"delta": 0.1},
        "evidence": {"n": 1000},
    }
    assert _numbers(details) == {
        "score": 75.0,
        "stage": 1.0,
        "shadow.psi": 0.05,
        "shadow.deep.n": 3.0,
        "metrics_0": 2.0,
    }


def test_overrides_merge_into_the_nested_settings_and_are_validated() -> None:
    assert CANARY.rollout.strategy == "canary" and CANARY.rollout.canary.min_requests == 10
    assert CANARY.rollout.canary.stages == Settings().rollout.canary.stages, "the rest is kept"
    assert with_overrides(CANARY, None) is CANARY
    with pytest.raises(ValueError, match="strategy"):
        with_overrides(CANARY, {"rollout": {"strategy": "sometimes"}})
