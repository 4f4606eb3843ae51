"""The shadow worker's pure parts: micro-batching, row isolation, the rows it logs, the stats
it reports."""

from __future__ import annotations

import queue

import numpy as np
import pandas as pd

from challenger.online.serve.shadow_worker import (
    NOTHING,
    StatsTally,
    collect_batch,
    isolate,
    merge_columns,
    shadow_rows,
)


def _msg(request_id: str, ages: list[float], ts: float = 1.0) -> tuple[object, ...]:
    return ("predict", request_id, {"age": ages, "region": ["n"] * len(ages)}, len(ages), ts)


def _inbox(*messages: object) -> queue.Queue[object]:
    q: queue.Queue[object] = queue.Queue()
    for m in messages:
        q.put(m)
    return q


def test_a_batch_takes_what_is_queued_and_stops_at_any_other_message() -> None:
    inbox = _inbox(_msg("b", [2.0]), _msg("c", [3.0]), ("schema", "s"), _msg("d", [4.0]))
    batch, ended_by = collect_batch(_msg("a", [1.0]), inbox, linger=0.0)
    assert [m[1] for m in batch] == ["a", "b", "c"]
    assert ended_by == ("schema", "s"), "handled next, not lost"
    assert inbox.qsize() == 1
    stop_inbox = _inbox(_msg("b", [2.0]), None)
    batch, ended_by = collect_batch(_msg("a", [1.0]), stop_inbox, linger=0.0)
    assert len(batch) == 2 and ended_by is None, "the stop marker ends the batch"


def test_a_batch_is_bounded_in_size_and_time() -> None:
    inbox = _inbox(*(_msg(f"r{i}", [float(i)]) for i in range(10)))
    batch, ended_by = collect_batch(_msg("a", [0.0]), inbox, linger=0.0, max_batch=4)
    assert len(batch) == 4 and ended_by is NOTHING and inbox.qsize() == 7
    ticks = iter([0.0, 0.3])  # the deadline (0.25 s) has passed before the first look
    batch, ended_by = collect_batch(
        _msg("a", [0.0]), _inbox(), linger=0.25, clock=lambda: next(ticks)
    )
    assert [m[1] for m in batch] == ["a"] and ended_by is NOTHING


def test_columns_and_rows_follow_the_batch_order_record_by_record() -> None:
    batch = [_msg("a", [1.0, 2.0], ts=5.0), _msg("b", [3.0], ts=6.0)]
    columns = merge_columns(batch, ("age", "region"))
    assert columns == {"age": [1.0, 2.0, 3.0], "region": ["n", "n", "n"]}
    rows = shadow_rows(batch, "challenger", 7, [0.1, 0.2, 0.3], 1.5, [None] * 3)
    assert [(r.request_id, r.idx, r.score, r.model_ms, r.ts) for r in rows] == [
        ("a", 0, 0.1, 1.5, 5.0),
        ("a", 1, 0.2, 1.5, 5.0),
        ("b", 0, 0.3, None, 6.0),
    ], "only the first request was timed alone"
    assert {(r.model, r.model_version) for r in rows} == {("challenger", 7)}
    failed = shadow_rows(batch, "challenger", 7, [0.1, None, 0.3], None, [None, "boom", None])
    assert [(r.request_id, r.idx, r.score, r.error) for r in failed] == [
        ("a", 0, 0.1, None),
        ("a", 1, None, "boom"),
        ("b", 0, 0.3, None),
    ]


def _picky(frame: pd.DataFrame) -> np.ndarray:
    """A model that fails any frame holding a huge age (as a pipeline fails on 1e300)."""
    if (frame["age"].abs() > 1e100).any():
        raise ValueError("Input contains infinity or a value too large for dtype('float64')")
    return np.asarray(frame["age"] / 100.0)


def test_one_bad_row_fails_only_itself() -> None:
    # Three requests of 2, 1 and 3 records; the second record of the third is poison.
    frame = pd.DataFrame({"age": [20.0, 30.0, 40.0, 50.0, 1e300, 60.0]})
    calls: list[int] = []

    def score(part: pd.DataFrame) -> np.ndarray:
        calls.append(len(part))
        return _picky(part)

    scores, errors = isolate(score, frame, [2, 1, 3])
    assert scores == [0.2, 0.3, 0.4, 0.5, None, 0.6]
    assert [e is None for e in errors] == [True, True, True, True, False, True]
    assert "too large" in str(errors[4])
    # The batch, then each request, then the failing request's rows one by one.
    assert calls == [6, 2, 1, 3, 1, 1, 1]
    clean, none = isolate(score, frame.drop(index=4), [2, 1, 2])
    assert clean == [0.2, 0.3, 0.4, 0.5, 0.6] and none == [None] * 5


def test_stats_are_reported_when_due_and_once() -> None:
    tally = StatsTally(every=0.5, now=0.0)
    assert tally.take(10.0) is None, "nothing handled, nothing to report"
    tally.handled += 3
    tally.timed("challenger", 0.002)
    tally.failed("3", 2)
    assert tally.take(0.4) is None, "not due yet"
    stats = tally.take(0.6)
    assert stats is not None and stats.handled == 3
    assert dict(stats.timed) == {"challenger": [0.002]} and dict(stats.errors) == {"3": 2}
    assert tally.take(5.0) is None, "reported once"
    tally.handled += 1
    assert tally.take(0.7) is None, "the next report waits its interval"
    last = tally.take(0.7, force=True)
    assert last is not None and last.handled == 1 and not last.timed and not last.errors
