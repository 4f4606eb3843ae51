"""The prediction log: batched writes that drain on close, labels, state compare-and-set."""

from __future__ import annotations

import json
import time
from pathlib import Path

from challenger.config import EffectConfig
from challenger.online.log import (
    FeedbackRow,
    LogStore,
    LogWriter,
    PredictionRow,
    ShadowRow,
    fingerprint_record,
)


def _row(i: int, request: str | None = None) -> PredictionRow:
    return PredictionRow(
        request_id=request or f"r{i}",
        idx=0,
        ts=time.time(),
        user_id=f"u{i}",
        strategy="shadow",
        experiment=None,
        arm="champion",
        variant="champion",
        model_version=1,
        challenger_version=2,
        stage=None,
        record={"age": 30 + i, "region": "north"},
        score=0.25,
        model_ms=1.0,
        latency_ms=2.0,
        status="ok",
        error=None,
    )


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
