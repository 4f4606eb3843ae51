"""The batch store: reading, writing, the schema's dtypes, accepted batches in time order."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from challenger.config import DataConfig
from challenger.demo.simulator import simulate_batch
from challenger.errors import DataError
from challenger.store.batches import (
    WIDTH_EXPECTATION,
    accept_batch,
    accepted_batches,
    assemble_window,
    conform,
    read_batch,
    read_table,
    rewrite_batch,
    write_table,
)

DATA = DataConfig()


def test_read_table_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_table(tmp_path / "missing.csv")
    (tmp_path / "x.txt").write_text("a")
    with pytest.raises(DataError, match="suffix"):
        read_table(tmp_path / "x.txt")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="cannot be read"):
        read_table(tmp_path / "broken.parquet")
    (tmp_path / "empty.csv").write_text("")
    assert read_table(tmp_path / "empty.csv").empty


def test_round_trip_and_window(tmp_path: Path) -> None:
    for day in (0, 1, 2):
        accept_batch(simulate_batch(day, 100, seed=1), f"day-{day:03d}", tmp_path, "ts")
    frame, ids = assemble_window(tmp_path, 2, DATA)
    assert ids == ["day-001", "day-002"]
    assert len(frame) == 200 and frame["ts"].is_monotonic_increasing
    path = write_table(frame, tmp_path / "out.csv")
    assert len(read_table(path)) == 200
    with pytest.raises(DataError, match="no accepted batches"):
        assemble_window(tmp_path / "empty", 1, DATA)


def test_a_csv_and_a_parquet_batch_have_the_same_dtypes(tmp_path: Path) -> None:
    frame = simulate_batch(3, 50, seed=2).assign(region=lambda f: np.arange(len(f)) % 3)
    frame.loc[frame.index[:2], "region"] = np.nan  # a CSV then reads the codes as floats
    write_table(frame.assign(ts=frame["ts"].dt.tz_localize(None)), tmp_path / "b.csv")
    write_table(frame.assign(ts=frame["ts"].dt.tz_convert("Europe/Paris")), tmp_path / "b.parquet")

    from_csv, from_parquet = (read_batch(tmp_path / n, DATA) for n in ("b.csv", "b.parquet"))

    for batch in (from_csv, from_parquet):
        f = batch.frame
        assert batch.problems == ()
        assert f["ts"].dtype == "datetime64[ns, UTC]"
        assert (
            f["region"].dropna().tolist()[:3] == ["2", "0", "1"] and f["region"].isna().sum() == 2
        )
        assert f["application_id"].map(type).eq(str).all()
        assert all(f[c].dtype == np.float64 for c in DATA.numeric)
    assert (from_csv.frame["ts"] == frame["ts"]).all()  # text without an offset is UTC
    assert (from_parquet.frame["ts"] == frame["ts"]).all()  # an offset is converted
    assert conform(from_csv.frame, DATA).frame is from_csv.frame  # idempotent, no copy
    joined = pd.concat([from_csv.frame, from_parquet.frame], ignore_index=True)
    assert joined.sort_values("ts")["ts"].is_monotonic_increasing  # compares: one dtype


def test_an_unparseable_column_is_left_for_validation_to_name(tmp_path: Path) -> None:
    frame = pd.DataFrame({"ts": ["2024-01-01", "not a time"], "age": ["41", "forty"]})
    out = conform(frame, DATA).frame
    assert out["ts"].tolist() == ["2024-01-01", "not a time"]
    assert out["age"].tolist() == ["41", "forty"]
    numbers = conform(pd.DataFrame({"age": ["41", None]}), DATA).frame["age"]
    assert numbers.dtype == np.float64 and numbers.isna().tolist() == [False, True]


@pytest.mark.parametrize("value", ["20000000000000000000", "-9223372036854775809", "1" + "0" * 400])
def test_an_integer_beyond_64_bits_is_a_problem_not_a_crash(tmp_path: Path, value: str) -> None:
    (tmp_path / "b.csv").write_text(f"age,default\n{value},0\n41,{value}\n", encoding="utf-8")

    batch = read_batch(tmp_path / "b.csv", DATA)

    assert [(p.column, p.count) for p in batch.problems] == [("age", 1), ("default", 1)]
    assert WIDTH_EXPECTATION in batch.problems[0].message
    assert value[:20] in batch.problems[0].message and len(batch.problems[0].message) < 300
    unsigned = conform(pd.DataFrame({"age": np.array([2**63, 1], dtype="uint64")}), DATA)
    assert [p.count for p in unsigned.problems] == [1]


def test_accepted_batches_are_ordered_by_time_not_by_name(tmp_path: Path) -> None:
    names = {"day-9": 9, "day-10": 10, "b-first": 1}  # by name: b-first, day-10, day-9
    for name, day in names.items():
        accept_batch(simulate_batch(day, 60, seed=3), name, tmp_path, "ts")
    assert [p.stem for p in accepted_batches(tmp_path)] == ["b-first", "day-9", "day-10"]

    frame, ids = assemble_window(tmp_path, 2, DATA)
    assert ids == ["day-9", "day-10"] and frame["ts"].is_monotonic_increasing

    # Rewriting a batch (labels arriving) keeps its place; without timestamps, acceptance
    # order decides, not the file's modification time.
    day9 = tmp_path / "day-9.parquet"
    rewrite_batch(pd.read_parquet(day9), day9)
    assert [p.stem for p in accepted_batches(tmp_path)] == ["b-first", "day-9", "day-10"]
    plain = tmp_path / "plain"
    for name in ("z", "a"):
        accept_batch(pd.DataFrame({"x": [1]}), name, plain)
    os.utime(plain / "z.parquet", (0, 0))
    assert [p.stem for p in accepted_batches(plain)] == ["z", "a"]


def test_a_store_from_before_keeps_working(tmp_path: Path) -> None:
    """Batches accepted without time metadata, one with timestamps as text (from a CSV)."""
    old = simulate_batch(1, 40, seed=4)
    old.assign(ts=old["ts"].astype(str)).to_parquet(tmp_path / "z-old.parquet", index=False)
    simulate_batch(2, 40, seed=4).to_parquet(tmp_path / "a-new.parquet", index=False)

    frame, ids = assemble_window(tmp_path, 2, DATA)

    assert ids == ["z-old", "a-new"] and frame["ts"].dtype == "datetime64[ns, UTC]"
    assert frame["ts"].is_monotonic_increasing
