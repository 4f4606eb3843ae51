"""Unit tests for challenger.online.act: carrying out and recording online decisions."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import running_canary

from challenger.config import Settings
from challenger.gate.evidence import Check
from challenger.online import rollout
from challenger.online.act import (
    _numbers,
    champion_expectation,
    move_rollout,
    plan_rollback,
    report_markdown,
    version_tags,
)
from challenger.online.decision import OnlineDecision
from challenger.online.log import LogStore
from challenger.online.review import with_overrides

CANARY = with_overrides(
    Settings(),
    {"rollout": {"strategy": "canary", "canary": {"min_requests": 10, "min_labels": 10}}},
)


def _decision(action: str, **details: object) -> OnlineDecision:
    checks = (
        Check("canary_error_rate", True, "pass", "tolerance 0.01", "error_rate: 0 vs 0"),
        Check("canary_brier", False, "fail", "tolerance 0.02", "brier canary worse"),
    )
    return OnlineDecision("canary", action, "stage 1 failed", checks, 3, 2, dict(details))  # type: ignore[arg-type]


def test_a_decision_that_moves_no_rollout_does_nothing(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "log.db")
    state = running_canary(store)
    d = OnlineDecision("canary", "keep_watching", "too few", (), 3, 2)
    assert move_rollout(d, state, CANARY.rollout.canary, store) == (d, "nothing to do")
    assert rollout.read(store) == state


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
