"""From the prediction log to a recorded decision: what a decision does to the registry."""

from __future__ import annotations

from challenger.online.decision import OnlineDecision
from challenger.online.review import champion_expectation, plan_rollback


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
