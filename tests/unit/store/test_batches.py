"""The batch store: reading, writing, accepted batches."""

from __future__ import annotations

from pathlib import Path

import pytest

from challenger.demo.simulator import simulate_batch
from challenger.errors import DataError
from challenger.store.batches import (
    accept_batch,
    assemble_window,
    read_table,
    write_table,
)


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
        accept_batch(simulate_batch(day, 100, seed=1), f"day-{day:03d}", tmp_path)
    frame, ids = assemble_window(tmp_path, 2, "ts")
    assert ids == ["day-001", "day-002"]
    assert len(frame) == 200 and frame["ts"].is_monotonic_increasing
    path = write_table(frame, tmp_path / "out.csv")
    assert len(read_table(path)) == 200
    with pytest.raises(DataError, match="no accepted batches"):
        assemble_window(tmp_path / "empty", 1, "ts")
