"""A huge accepted batch is read from its last row groups only for the performance window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from challenger.monitor import performance


def _write(path: Path, groups: int, rows: int) -> pd.DataFrame:
    frame = pd.DataFrame({"x": np.arange(groups * rows, dtype=float)})
    frame["y"] = np.where(frame.index % 3 == 0, np.nan, 1.0)  # a third unlabelled
    with pq.ParquetWriter(path, pa.Schema.from_pandas(frame, preserve_index=False)) as w:
        for g in range(groups):
            part = frame.iloc[g * rows : (g + 1) * rows]
            w.write_table(pa.Table.from_pandas(part, preserve_index=False))
    return frame


def test_the_newest_labelled_rows_come_from_the_last_row_groups_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = _write(tmp_path / "b.parquet", groups=5, rows=30)
    labelled = frame[frame["y"].notna()].reset_index(drop=True)
    whole = performance._newest_labelled(tmp_path / "b.parquet", "y", 25)  # small: read whole
    pd.testing.assert_frame_equal(whole.reset_index(drop=True), labelled)
    monkeypatch.setattr(performance, "TAIL_READ_ROWS", 100)
    tail = performance._newest_labelled(tmp_path / "b.parquet", "y", 25)
    assert len(tail) == 40  # two row groups of 20 labelled rows each cover the 25 wanted
    pd.testing.assert_frame_equal(tail, labelled.iloc[-40:].reset_index(drop=True))
