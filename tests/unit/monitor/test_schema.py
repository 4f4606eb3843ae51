"""Schema changes between the champion's training data and a batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from challenger.config import Settings
from challenger.demo.simulator import simulate_batch
from challenger.demo.streams import Stream
from challenger.monitor.gx_failures import CheckFailure
from challenger.monitor.schema import batch_schema, learned_range, schema_changes
from challenger.monitor.validation import (
    DUPLICATES_SEEN,
    BatchSchema,
    validate_batch,
)
from challenger.store.batches import accept_batch

BETWEEN = "expect_column_values_to_be_between"
COMPOUND = "expect_compound_columns_to_be_unique"
SEEN = DUPLICATES_SEEN

SETTINGS = Settings()


def test_schema_changes_name_what_changed() -> None:
    reference = simulate_batch(0, 200, 7)
    current = simulate_batch(1, 200, 7).assign(promo_code="X1").drop(columns=["default"])
    current["open_accounts"] = current["open_accounts"].astype(str)
    current.loc[current.index[:3], "channel"] = "crypto_exchange"

    changes = schema_changes(reference, current, SETTINGS)

    assert changes == (
        "new column(s) 'promo_code'",
        "column 'open_accounts' changed type from number to object",
        "column 'channel' has new categories 'crypto_exchange'",
    )  # a missing target is not a change: labels come later
    empty = simulate_batch(1, 200, 7).assign(income=np.nan)
    assert schema_changes(reference, empty, SETTINGS) == ("column 'income' has no values",)
    same = simulate_batch(2, 200, 7)
    same["age"] = same["age"].astype("int64")  # integers and floats are both numbers
    assert schema_changes(reference, same, SETTINGS) == ()


# --- the profile: ranges and repeated rows learned from the champion's data ----------------

STREAM_DATA = {
    "target": "y", "timestamp": "ts", "id_column": "row_id",
    "numeric": ["x0", "x1", "x2", "x3", "x4", "x5"], "categorical": ["c0", "c1", "c2"],
}  # fmt: skip


def stream_settings(root: Path, **validation: object) -> Settings:
    return Settings(
        data=STREAM_DATA, validation={"ranges": {}, **validation}, gate={"slices": []}, root=root
    )


def failures(frame: pd.DataFrame, schema: BatchSchema) -> dict[str, CheckFailure]:
    result = validate_batch(frame, schema)
    return {f.expectation + (f":{f.column}" if f.column else ""): f for f in result.failures}


def test_learned_range_widens_the_observed_range_and_keeps_the_sign() -> None:
    assert learned_range(pd.Series([2.0, 4.0, np.nan]), 1.0) == (0.0, 6.0)  # never below 0
    assert learned_range(pd.Series([-3.0, 1.0]), 0.5) == (-5.0, 3.0)
    assert learned_range(pd.Series([-4.0, -2.0]), 10.0) == (-24.0, 0.0)  # never above 0
    assert learned_range(pd.Series([7.0, 7.0]), 2.0) == (0.0, 21.0)  # constant: its own size
    assert learned_range(pd.Series([np.nan]), 1.0) is None


def test_the_zero_bound_holds_only_where_the_tail_stays_clear_of_zero() -> None:
    rng = np.random.default_rng(3)
    scores = pd.Series(rng.uniform(300, 850, 3000))  # a credit score: -999 must fail
    assert learned_range(scores, 10.0)[0] == 0.0
    noise = pd.Series(np.abs(rng.normal(10.0, 3.0, 3000)) + 0.05)  # happened to stay positive
    lo, _ = learned_range(noise, 10.0)
    assert lo < -100 and noise.min() < 1.0
    assert learned_range(-scores, 10.0)[1] == 0.0  # the same rule for a never-positive column


def test_unconfigured_ranges_come_from_the_reference(tmp_path: Path) -> None:
    stream = Stream(seed=1)
    reference = stream.batch(0).iloc[:700]
    settings = stream_settings(tmp_path)
    schema = batch_schema(settings, reference, incoming="b001")

    x2 = schema.column("x2")
    assert x2.learned and x2.min == 0.0 and x2.max is not None and x2.max > 10 * reference.x2.max()
    for i in range(1, 6):  # ordinary batches pass
        assert validate_batch(stream.batch(i), schema).success
    scaled = stream.batch(6).assign(x0=lambda f: f.x0 * 1000, x2=lambda f: f.x2 * 1000)
    found = failures(scaled, schema)
    assert set(found) == {f"{BETWEEN}:x0", f"{BETWEEN}:x2"}
    assert found[f"{BETWEEN}:x2"].unexpected_count > 900
    assert "learned from the champion's training data" in found[f"{BETWEEN}:x2"].message
    # a configured range wins, and null switches learning off
    configured = Settings(
        data=STREAM_DATA, validation={"ranges": {"x2": [0, 1e9]}}, gate={"slices": []}
    )
    assert batch_schema(configured, reference).column("x2").max == 1e9
    assert not batch_schema(configured, reference).column("x2").learned
    off = stream_settings(tmp_path, range_tolerance=None)
    assert batch_schema(off, reference).column("x0").max is None
    assert batch_schema(settings, None).column("x0").max is None  # no champion yet


def test_a_batch_with_every_row_twice_or_replaying_the_reference_is_flagged(
    tmp_path: Path,
) -> None:
    stream = Stream(seed=2)
    reference = stream.batch(0).iloc[:700]
    settings = stream_settings(tmp_path)
    schema = batch_schema(settings, reference, incoming="b001")
    fresh = stream.batch(1)

    assert validate_batch(fresh, schema).success
    doubled = pd.concat([fresh.iloc[:500], fresh.iloc[:500]], ignore_index=True)
    doubled["row_id"] = range(len(doubled))  # new ids: only the features repeat
    found = failures(doubled, schema)
    assert set(found) == {COMPOUND}
    assert found[COMPOUND].unexpected_count == 1000
    assert "send each row once" in found[COMPOUND].message.lower()
    replay = reference.assign(row_id=lambda f: f.row_id + 9_000_000)
    found = failures(replay, schema)
    assert set(found) == {SEEN}
    assert found[SEEN].unexpected_count == 700 and found[SEEN].column is None
    assert "the champion's training data" in found[SEEN].message


def test_repeats_are_compared_with_recent_batches_other_than_itself(tmp_path: Path) -> None:
    stream = Stream(seed=3)
    reference = stream.batch(0).iloc[:700]
    settings = stream_settings(tmp_path)
    accepted = settings.path(settings.data.accepted_dir)
    accept_batch(stream.batch(1), "b001", accepted)
    again = stream.batch(1).assign(row_id=lambda f: f.row_id + 1)

    assert SEEN in failures(again, batch_schema(settings, reference, incoming="b002"))
    # the same batch monitored again is not a repeat of itself
    assert validate_batch(
        stream.batch(1), batch_schema(settings, reference, incoming="b001")
    ).success
    assert batch_schema(settings, reference).duplicates is None  # a retrain's window may overlap


def test_rows_seen_in_a_large_accepted_batch_are_read_in_chunks_and_all_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from challenger.monitor import schema as schema_module

    monkeypatch.setattr(schema_module, "SEEN_CHUNK_ROWS", 64)  # 1,000 rows: 16 chunks
    stream = Stream(seed=5)
    reference = stream.batch(0).iloc[:700]
    settings = stream_settings(tmp_path)
    big = pd.concat([stream.batch(1), stream.batch(2)], ignore_index=True).iloc[:1000]
    accept_batch(big, "b001", settings.path(settings.data.accepted_dir))
    schema = batch_schema(settings, reference, incoming="b002")
    assert schema.duplicates is not None
    assert schema.duplicates.seen.dtype == np.uint64
    seen = schema.duplicates.seen
    assert np.all(seen[1:] > seen[:-1])  # sorted, unique
    # 100 rows of the accepted batch's last chunk replayed among 300 fresh ones
    replay = pd.concat([stream.batch(3).iloc[:300], big.iloc[900:]], ignore_index=True)
    replay["row_id"] = range(5_000_000, 5_000_000 + len(replay))
    found = failures(replay, schema)
    assert found[SEEN].unexpected_count == 100
    assert "1 newest accepted batch" in found[SEEN].message


def test_data_that_repeats_by_nature_is_not_flagged(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)

    def coarse(n: int) -> pd.DataFrame:  # 2 x 3 x 4 x ... values: rows coincide by chance
        frame = Stream(seed=4).batch(1).iloc[:n].copy()
        for c in ("x0", "x1", "x2", "x3", "x4", "x5"):
            frame[c] = rng.integers(0, 2, n)
        return frame

    settings = stream_settings(tmp_path)
    schema = batch_schema(settings, coarse(700), incoming="b001")
    assert schema.duplicates is not None and schema.duplicates.collision > 1e-4
    batch = coarse(1000)
    natural = batch.duplicated(
        list(STREAM_DATA["numeric"]) + list(STREAM_DATA["categorical"]), keep=False
    )
    assert natural.mean() > 0.05  # more than a fixed 5 % would tolerate
    assert validate_batch(batch, schema).success
    off = stream_settings(tmp_path, max_duplicate_share=1.0)
    assert batch_schema(off, coarse(700), incoming="b001").duplicates is None
