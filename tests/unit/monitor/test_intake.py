"""The incoming folder the scheduled monitor scans."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from challenger.monitor.intake import new_batches
from challenger.store.batches import accept_batch, write_table


def test_new_batches_are_the_files_not_accepted_yet(tmp_path: Path) -> None:
    incoming, accepted_dir = tmp_path / "incoming", tmp_path / "accepted"
    for name in ("day-002.parquet", "day-001.csv"):
        write_table(pd.DataFrame({"a": [1]}), incoming / name)
    (incoming / "notes.txt").write_text("not data")
    (incoming / ".day-003.parquet.tmp").write_text("a file being written")
    accept_batch(pd.DataFrame({"a": [1]}), "day-002", accepted_dir)

    assert [p.name for p in new_batches(incoming, accepted_dir)] == ["day-001.csv"]
    assert new_batches(tmp_path / "nowhere", accepted_dir) == []
