"""The rollout state: each transition from a state to the next, and compare-and-set storage."""

from __future__ import annotations

from pathlib import Path

from challenger.online import rollout
from challenger.online.log import LogStore
from challenger.online.rollout import RolloutState


def test_a_new_rollout_starts_at_stage_zero_and_is_stored_once(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "log.db")
    assert rollout.read(store) is None
    fresh = rollout.start("canary", 3, 2, now=100.0)
    assert (fresh.stage, fresh.status, fresh.since, fresh.revision) == (0, "running", 100.0, 0)
    assert fresh.reason == "canary of v3 started by the serving app" and fresh.history == ()
    stored = rollout.write(store, fresh)
    assert stored is not None and stored.revision == 1
    assert rollout.read(store) == stored
    # A second writer that also saw no rollout loses: the first one's state stays.
    assert rollout.write(store, rollout.start("canary", 4, 2, now=101.0)) is None
    again = rollout.start("canary", 4, 2, now=102.0, replacing=stored)
    replaced = rollout.write(store, again)
    assert replaced is not None and replaced.revision == 2 and replaced.challenger_version == 4


def test_each_transition_records_who_moved_it_from_where_to_where() -> None:
    state = RolloutState("canary", 3, 2, stage=1, since=10.0, revision=5)
    advanced = rollout.advance(state, 2, "stage 1 passed", now=20.0)
    assert (advanced.stage, advanced.since, advanced.status) == (2, 20.0, "running")
    assert advanced.revision == 5, "the expectation of the compare-and-set is kept"
    assert advanced.history == (
        {
            "ts": 20.0,
            "from": "running@1",
            "by": "online-analysis",
            "to": "running@2",
            "reason": "stage 1 passed",
        },
    )
    restarted = rollout.restart(advanced, 4, "champion moved", now=30.0)
    assert (restarted.stage, restarted.champion_version, restarted.since) == (0, 4, 30.0)
    assert len(restarted.history) == 2 and restarted.history[-1]["to"] == "running@0"
    done = rollout.promoted(restarted, "full rollout", now=40.0)
    assert done.status == "promoted" and not done.running and done.reason == "full rollout"
    back = rollout.roll_back(state, "brier worse", now=50.0)
    assert back.status == "rolled_back" and back.reason == "brier worse"
    assert back.history[-1]["by"] == "online-analysis"
    stopped = rollout.stop(state, "customer complaints", by="admin", now=60.0)
    assert stopped.status == "rolled_back" and stopped.reason == "admin: customer complaints"
    assert stopped.history[-1]["by"] == "admin" and stopped.history[-1]["to"] == "rolled_back@1"
    assert state.history == (), "transitions never change the state they start from"


def test_a_transition_from_a_stale_read_is_refused(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "log.db")
    read = rollout.write(store, rollout.start("ab", 3, 2, now=1.0))
    assert read is not None
    by_app = rollout.write(store, rollout.stop(read, "guard says no", by="guard", now=2.0))
    assert by_app is not None
    assert rollout.write(store, rollout.advance(read, 1, "late", now=3.0)) is None
    current = rollout.read(store)
    assert current is not None and current.status == "rolled_back"
    assert RolloutState.from_dict(current.to_dict(), current.revision) == current
