"""The prediction log (``online.log``) and its writer (``online.log_writer``): batched writes
that drain on close, labels (first wins), state compare-and-set, one row per record, and a
writer that outlives any row: failures counted, kept aside, isolated, reported."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from challenger.config import EffectConfig
from challenger.online.log import (
    SCHEMA,
    FeedbackRow,
    LogStore,
    PredictionRow,
    ShadowRow,
    fingerprint_record,
)
from challenger.online.log_writer import LogWriter


def _row(i: int, request: str | None = None) -> PredictionRow:
    (row,) = PredictionRow.for_records(
        [{"age": 30 + i, "region": "north"}],
        [0.25],
        request_id=request or f"r{i}",
        ts=time.time(),
        user_id=f"u{i}",
        strategy="shadow",
        experiment=None,
        arm="champion",
        variant="champion",
        model_version=1,
        challenger_version=2,
        stage=None,
        model_ms=1.0,
        latency_ms=2.0,
        status="ok",
        error=None,
        attributes={},
    )
    return row


def test_one_row_per_record_shares_the_request_fields() -> None:
    rows = PredictionRow.for_records(
        [{"a": 1}, {"a": 2}, {"a": 3}],
        np.array([0.1, 0.5, 0.9]),
        request_id="r",
        ts=1.0,
        user_id=None,
        strategy="canary",
        experiment="exp",
        arm="challenger",
        variant="champion",
        model_version=1,
        challenger_version=2,
        stage=1,
        model_ms=0.5,
        latency_ms=2.0,
        status="fallback",
        error="v2 failed",
        attributes={"country": "DE"},
    )
    assert [(r.idx, r.score, r.record["a"]) for r in rows] == [
        (0, 0.1, 1),
        (1, 0.5, 2),
        (2, 0.9, 3),
    ]
    assert {(r.request_id, r.arm, r.variant, r.stage, r.status) for r in rows} == {
        ("r", "challenger", "champion", 1, "fallback")
    }
    failed = PredictionRow.for_records([{"a": 1}], None, **{**_shared(rows[0]), "status": "error"})
    assert failed[0].score is None and failed[0].status == "error"
    assert all(r.proba is None for r in rows)


def test_multiclass_rows_keep_the_class_code_as_score_and_the_probabilities(
    tmp_path: Path,
) -> None:
    from challenger.online.log import read_proba

    proba = np.array([[0.2, 0.7, 0.1], [0.6, 0.3, 0.1]])
    rows = PredictionRow.for_records([{"a": 1}, {"a": 2}], proba, **_shared(_row(0)))
    assert [r.score for r in rows] == [1.0, 0.0]
    store = LogStore(tmp_path / "log.db")
    writer = LogWriter(store)
    writer.put_many(rows)
    writer.close()
    logged = store.predictions()
    assert np.allclose(read_proba(logged["proba"]), proba)


def test_a_log_written_before_the_proba_column_is_still_read(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE predictions (request_id TEXT NOT NULL, idx INTEGER NOT NULL, "
        "ts REAL NOT NULL, user_id TEXT, strategy TEXT NOT NULL, experiment TEXT, "
        "arm TEXT NOT NULL, variant TEXT NOT NULL, model_version INTEGER, "
        "challenger_version INTEGER, stage INTEGER, fingerprint TEXT NOT NULL, score REAL, "
        "model_ms REAL, latency_ms REAL NOT NULL, status TEXT NOT NULL, error TEXT, "
        "attributes TEXT, PRIMARY KEY (request_id, idx));"
        "INSERT INTO predictions VALUES ('r', 0, 1.0, NULL, 'ab', 'e', 'champion', 'champion', "
        "1, 2, NULL, 'f', 0.4, 0.1, 1.0, 'ok', NULL, NULL);"
    )
    old.commit()
    old.close()
    store = LogStore(path)
    logged = store.predictions()
    assert logged["score"].tolist() == [0.4] and logged["proba"].isna().all()
    writer = LogWriter(store)
    writer.put_many(PredictionRow.for_records([{"a": 1}], [[0.5, 0.5]], **_shared(_row(1))))
    writer.close()
    assert store.count("predictions") == 2


def _shared(row: PredictionRow) -> dict[str, Any]:
    keep = set(PredictionRow.__dataclass_fields__) - {"idx", "record", "score", "proba"}
    return {k: getattr(row, k) for k in keep}


def test_close_drains_every_queued_row(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "log.db")
    writer = LogWriter(store, max_batch=64)
    for i in range(5000):
        writer.put(_row(i))
    writer.close()
    assert store.count("predictions") == 5000
    assert writer.written == 5000 and writer.failed == 0
    mode = store.frame("PRAGMA journal_mode")
    assert mode.iloc[0, 0] == "wal"


def test_a_grouping_writer_commits_its_rows_together_and_a_flush_or_close_ends_the_group(
    tmp_path: Path,
) -> None:
    store = LogStore(tmp_path / "log.db")
    writer = LogWriter(store, group_seconds=60.0)  # far longer than the test
    writer.put(_row(0))
    writer.put_many([_row(1), _row(2)])
    time.sleep(0.2)
    assert store.count("predictions") == 0  # still collecting: nothing committed yet
    assert writer.flush(timeout=10.0)  # a flush does not wait out the group
    assert store.count("predictions") == 3
    writer.put(_row(3))
    writer.close(timeout=10.0)  # nor does a stop
    assert store.count("predictions") == 4 and writer.written == 4


def test_labels_join_by_request_and_index(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "log.db")
    writer = LogWriter(store)
    writer.put_many([_row(1), _row(2)])
    writer.put(FeedbackRow("r2", 0, 1.0, 12.5, time.time()))
    writer.put(ShadowRow("r1", 0, "challenger", time.time(), 2, 0.75, 1.5, None))
    writer.close()
    frame = store.predictions()
    assert list(frame["request_id"]) == ["r1", "r2"]
    assert frame["label"].isna().tolist() == [True, False]
    assert frame.loc[1, "value"] == 12.5
    pairs = store.shadow_pairs(2)
    assert len(pairs) == 1 and pairs.loc[0, "shadow_score"] == 0.75
    assert store.records_of("r1") == 1 and store.records_of("nope") is None


def test_fingerprint_ignores_key_order_but_not_values() -> None:
    a = fingerprint_record({"age": 30, "region": "north"})
    assert a == fingerprint_record({"region": "north", "age": 30})
    assert a != fingerprint_record({"age": 31, "region": "north"})
    assert len(a) == 16


def test_state_is_compare_and_set(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "log.db")
    assert store.read_state("rollout") is None
    assert store.write_state("rollout", {"stage": 0}, None) == 1
    assert store.write_state("rollout", {"stage": 1}, None) == -1, "someone wrote first"
    assert store.write_state("rollout", {"stage": 1}, 1) == 2
    assert store.write_state("rollout", {"stage": 9}, 1) == -1, "a stale revision is refused"
    assert store.read_state("rollout") == (2, {"stage": 1})


def test_once_only_effects_skip_shadow_outputs(tmp_path: Path) -> None:
    effects = (
        EffectConfig(name="feed", path=Path("feed.jsonl"), once_only=True),
        EffectConfig(name="audit", path=Path("audit.jsonl"), once_only=False),
    )
    writer = LogWriter(LogStore(tmp_path / "log.db"), effects=effects, root=tmp_path)
    writer.put(_row(1))
    writer.put(ShadowRow("r1", 0, "challenger", time.time(), 2, 0.75, 1.5, None))
    writer.close()
    feed = [json.loads(x) for x in (tmp_path / "feed.jsonl").read_text().splitlines()]
    audit = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [e["role"] for e in feed] == ["served"]
    assert sorted(e["role"] for e in audit) == ["served", "shadow"]


def test_disabled_log_writes_nothing(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "log.db")
    writer = LogWriter(store, enabled=False)
    writer.put(_row(1))
    writer.close()
    assert store.count("predictions") == 0


def test_a_row_that_cannot_be_written_is_counted_kept_aside_and_the_writer_goes_on(
    tmp_path: Path,
) -> None:
    store = LogStore(tmp_path / "log.db")
    writer = LogWriter(store)
    poison = PredictionRow.for_records([{"age": 2**70}], [0.5], **_shared(_row(0)))[0]
    outcomes: list[Any] = []
    writer.submit([_row(1)], outcomes.append)
    writer.submit([poison], outcomes.append)  # orjson: "Integer exceeds 64-bit range"
    writer.submit([_row(2)], outcomes.append)
    assert writer.flush()
    assert writer.healthy, "one bad row is not a failing log: the next commit went in"
    writer.close()
    assert not writer.healthy, "a closed writer does not write"
    assert [o.written for o in outcomes] == [True, False, True]
    assert "64-bit" in str(outcomes[1].error)
    assert store.count("predictions") == 2 and writer.failed == 1 and writer.written == 2
    kept = [json.loads(line) for line in writer.rejected_path.read_text().splitlines()]
    assert [k["kind"] for k in kept] == ["PredictionRow"] and "64-bit" in kept[0]["error"]


def _trigger(store: LogStore, when: str) -> None:
    with store.connect() as conn:
        conn.execute(
            "CREATE TRIGGER fault BEFORE INSERT ON predictions "
            f"WHEN {when} BEGIN SELECT RAISE(ABORT, 'injected fault'); END"
        )


def test_a_failing_request_in_a_group_costs_no_other_request_its_rows(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "log.db")
    _trigger(store, "NEW.request_id = 'r3'")
    writer = LogWriter(store)
    outcomes: dict[str, Any] = {}
    with store.connect() as blocker:  # hold the write lock: the rest queue up as one group
        blocker.execute("BEGIN IMMEDIATE")
        writer.submit([_row(0)], lambda o: outcomes.__setitem__("r0", o))
        time.sleep(0.2)  # the writer has taken r0 alone and waits for the lock
        for i in range(1, 6):
            writer.submit([_row(i)], lambda o, i=i: outcomes.__setitem__(f"r{i}", o))
        blocker.execute("COMMIT")
    writer.close()
    assert {k for k, o in outcomes.items() if not o.written} == {"r3"}
    assert store.count("predictions") == 5 and writer.failed == 1


def test_a_failing_database_makes_the_writer_unhealthy_until_it_writes_again(
    tmp_path: Path,
) -> None:
    store = LogStore(tmp_path / "log.db")
    _trigger(store, "1")
    writer = LogWriter(store)
    outcomes: list[Any] = []
    writer.submit([_row(1)], outcomes.append)
    assert writer.flush()
    assert not writer.healthy and "injected fault" in str(writer.problem)
    assert outcomes[0].written is False and writer.last_failure is not None
    with store.connect() as conn:
        conn.execute("DROP TRIGGER fault")
    writer.submit([_row(2)], outcomes.append)
    assert writer.flush()
    assert outcomes[1].written and writer.healthy
    writer.close()
    assert store.predictions()["request_id"].tolist() == ["r2"]


def test_commit_waits_for_the_rows_and_says_when_they_are_not_in(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "log.db")
    writer = LogWriter(store)

    async def go() -> list[Any]:
        many = [writer.commit([_row(i)], timeout=10) for i in range(50)]
        return list(await asyncio.gather(*many))

    outcomes = asyncio.run(go())
    assert all(o.written for o in outcomes)
    assert store.count("predictions") == 50, "committed before commit() returned"
    writer.close()
    closed = asyncio.run(writer.commit([_row(99)], timeout=1))
    assert not closed.written and "not running" in str(closed.error)
    off = LogWriter(LogStore(tmp_path / "off.db"), enabled=False)
    assert asyncio.run(off.commit([_row(1)], timeout=1)).written is False
    off.close()


def test_the_first_label_wins_unless_the_sender_overwrites_it(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "log.db")
    writer = LogWriter(store)
    got: list[Any] = []
    now = time.time()
    writer.submit([_row(1), _row(2)], got.append)
    writer.submit([FeedbackRow("r1", 0, 1.0, None, now)], got.append)
    writer.submit([FeedbackRow("r1", 0, 1.0, None, now)], got.append)  # the same again
    writer.submit([FeedbackRow("r1", 0, 0.0, None, now)], got.append)  # a different one
    writer.submit([FeedbackRow("r1", 0, None, 12.5, now)], got.append)  # adds the value
    writer.submit([FeedbackRow("r2", 0, 0.0, None, now)], got.append)
    writer.submit([FeedbackRow("r2", 0, 1.0, None, now, overwrite=True)], got.append)
    writer.close()
    first, same, other, value, r2, replaced = got[1:]
    assert first.written and not first.conflicts and first.duplicates == 0
    assert same.written and same.duplicates == 1 and not same.conflicts
    assert other.conflicts and (other.conflicts[0].label, other.conflicts[0].idx) == (1.0, 0)
    assert value.written and not value.conflicts
    assert r2.written and replaced.replaced == 1
    with store.connect() as conn:
        labels = conn.execute("SELECT request_id, label, value FROM feedback ORDER BY 1").fetchall()
    assert labels == [("r1", 1.0, 12.5), ("r2", 1.0, None)]


def test_an_older_log_gets_the_new_column(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA.replace("    flagged TEXT,\n", ""))
    store = LogStore(path)
    writer = LogWriter(store)
    writer.put(_row(1))
    writer.close()
    assert store.count("predictions") == 1
    assert "flagged" in store.frame("SELECT * FROM predictions").columns
