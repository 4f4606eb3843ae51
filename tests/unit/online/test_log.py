"""The prediction log (``online.log``) and its writer (``online.log_writer``): batched writes
that drain on close, labels, state compare-and-set, one row per record."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from challenger.config import EffectConfig
from challenger.online.log import (
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


def _shared(row: PredictionRow) -> dict[str, Any]:
    keep = set(PredictionRow.__dataclass_fields__) - {"idx", "record", "score"}
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
