"""The judge's decision read as a verdict: every action, the version a caller asks about, and a
canary judged from a real prediction log in tmp_path (no MLflow)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from tests.helpers import running_canary

from challenger.config import Settings
from challenger.gate.evidence import Check
from challenger.online import rollout
from challenger.online.decision import Action, OnlineDecision
from challenger.online.judges.canary import judge_canary
from challenger.online.log import FeedbackRow, LogStore, PredictionRow
from challenger.online.log_writer import LogWriter
from challenger.online.review import Review, review_rollout, with_overrides
from challenger.online.verdict import VERDICT_OF_ACTION, Verdict, verdict_of

CANARY = with_overrides(
    Settings(),
    {"rollout": {"strategy": "canary", "canary": {"min_requests": 30, "min_labels": 30}}},
)


def _decision(action: Action, version: int | None = 3) -> Review:
    checks = (
        Check("canary_error_rate", action != "rollback", "fail", "tolerance 0.01", "error_rate: x"),
        Check("canary_brier", True, "pass", "tolerance 0.02", "brier: y"),
    )
    d = OnlineDecision("canary", action, "the deciding reason", checks, version, 2, {"score": 50.0})
    return Review(d, None)


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("advance", "pass"),
        ("promote", "pass"),
        ("rollback", "fail"),
        ("keep_watching", "inconclusive"),
    ],
)
def test_every_action_has_one_verdict(action: Action, expected: str) -> None:
    v = verdict_of(_decision(action))
    assert v.verdict == expected == VERDICT_OF_ACTION[action]
    assert v.action == action and v.challenger_version == 3 and v.champion_version == 2
    assert v.reasons == ("the deciding reason", "error_rate: x", "brier: y")
    assert v.numbers == {"score": 50.0}
    body = orjson.loads(orjson.dumps(v.to_dict()))
    assert list(body)[:2] == ["verdict", "reasons"] and body["verdict"] == expected
    assert [c["name"] for c in body["checks"]] == ["canary_error_rate", "canary_brier"]


def test_a_decision_about_another_version_is_inconclusive() -> None:
    same = verdict_of(_decision("advance"), expected_version=3)
    assert same.verdict == "pass" and same.expected_version == 3
    other = verdict_of(_decision("advance"), expected_version=4)
    assert other.verdict == "inconclusive"
    assert other.reasons[0] == (
        "asked about challenger v4, but the judge's decision is about v3 (it would be pass)"
    )
    assert other.reasons[1] == "the deciding reason"
    nothing = verdict_of(_decision("rollback", version=None), expected_version=4)
    assert nothing.verdict == "inconclusive" and "about no challenger" in nothing.reasons[0]


def _log(
    store: LogStore, n_per_arm: int, *, canary_error: float, stage: int = 0, t0: float = 5.0
) -> None:
    """Both arms labelled; a share ``canary_error`` of the canary's answers fell back."""
    writer = LogWriter(store)
    for arm in ("champion", "challenger"):
        for i in range(n_per_arm):
            request_id = f"{arm}-{stage}-{i}"
            failed = arm == "challenger" and i < canary_error * n_per_arm
            writer.put_many(
                PredictionRow.for_records(
                    [{"x": i}],
                    [0.2 + 0.6 * (i % 2)],
                    request_id=request_id,
                    ts=t0 + i,
                    user_id=f"u{i}",
                    strategy="canary",
                    experiment=CANARY.rollout.canary.experiment,
                    arm=arm,
                    variant="champion" if failed else arm,
                    model_version=3 if arm == "challenger" else 2,
                    challenger_version=3,
                    stage=stage,
                    model_ms=1.0,
                    latency_ms=2.0 + 0.1 * (i % 5),
                    status="fallback" if failed else "ok",
                    error=None,
                    attributes={},
                )
            )
            writer.put(FeedbackRow(request_id, 0, float(i % 2), None, t0 + 1.0 + i))
    writer.close()


def _verdict(store: LogStore) -> tuple[Review, Verdict]:
    rev = review_rollout(CANARY, store, champion=2, challenger=3, rollback_recorded=lambda v: False)
    return rev, verdict_of(rev, expected_version=3)


def test_a_canary_judged_from_the_log_reads_inconclusive_then_pass_then_fail(
    tmp_path: Path,
) -> None:
    store = LogStore(tmp_path / "log.db")
    state = running_canary(store)
    _log(store, 10, canary_error=0.0)
    _, early = _verdict(store)
    assert early.verdict == "inconclusive" and "need 30" in early.reasons[0]

    _log(store, 60, canary_error=0.0)
    rev, healthy = _verdict(store)
    assert healthy.verdict == "pass" and healthy.action == "advance"
    rows = store.predictions(since=state.since, challenger_version=3)
    again = judge_canary(
        rows, CANARY.rollout.canary, stage=0, challenger_version=3, champion_version=2
    )
    assert healthy.numbers == again.details  # the judge's own numbers
    assert healthy.rollout is not None and healthy.rollout["stage"] == 0

    assert rev.state is not None
    moved = rollout.write(store, rollout.advance(rev.state, 1, "stage 0 passed", now=100.0))
    assert moved is not None
    _log(store, 60, canary_error=0.5, stage=1, t0=100.0)
    _, broken = _verdict(store)
    assert broken.verdict == "fail" and broken.action == "rollback"
    assert "critical error_rate" in broken.reasons[0]
