"""Intake: the schema's dtypes, the width check, the incoming folder the scheduled monitor scans."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from challenger.config import Settings
from challenger.demo.simulator import simulate_batch
from challenger.monitor.intake import check_batch, new_batches, read_incoming
from challenger.monitor.quarantine import quarantine, unchanged_originals
from challenger.monitor.schema import batch_schema
from challenger.monitor.validation import validate_batch
from challenger.store.batches import WIDTH_EXPECTATION, accept_batch, write_table

SETTINGS = Settings()


def test_new_batches_are_the_files_not_accepted_yet_oldest_first(tmp_path: Path) -> None:
    incoming, accepted_dir = tmp_path / "incoming", tmp_path / "accepted"
    for name in ("day-002.parquet", "day-001.csv", "day-010.csv", "day-009.csv"):
        write_table(pd.DataFrame({"a": [1]}), incoming / name)
    os.utime(incoming / "day-010.csv", (1, 1))  # arrived first, whatever its name
    (incoming / "notes.txt").write_text("not data")
    (incoming / ".day-003.parquet.tmp").write_text("a file being written")
    accept_batch(pd.DataFrame({"a": [1]}), "day-002", accepted_dir)

    found = [p.name for p in new_batches(incoming, accepted_dir)]
    assert found[0] == "day-010.csv" and sorted(found) == [
        "day-001.csv",
        "day-009.csv",
        "day-010.csv",
    ]
    assert new_batches(tmp_path / "nowhere", accepted_dir) == []


def test_a_named_file_waiting_in_quarantine_is_skipped_until_it_changes(tmp_path: Path) -> None:
    incoming, quarantine_dir = tmp_path / "incoming", tmp_path / "quarantine"
    named = write_table(pd.DataFrame({"age": [500]}), incoming / "day-7.csv")
    failed = validate_batch(pd.DataFrame({"age": [500]}), batch_schema(SETTINGS, None))
    quarantine(named, failed, quarantine_dir)  # a copy: the user named it with --batch

    skip = unchanged_originals(quarantine_dir, incoming)
    assert skip == [named.resolve()]
    assert new_batches(incoming, tmp_path / "accepted", skip) == []

    named.write_text("age\n50\n", encoding="utf-8")  # fixed in place: looked at again
    skip = unchanged_originals(quarantine_dir, incoming)
    assert [p.name for p in new_batches(incoming, tmp_path / "accepted", skip)] == ["day-7.csv"]


def test_a_csv_batch_is_checked_in_the_schema_dtypes_and_wide_integers_fail(
    tmp_path: Path,
) -> None:
    frame = simulate_batch(1, 80, seed=5)
    frame.to_csv(tmp_path / "ok.csv", index=False)
    schema = batch_schema(SETTINGS, None)

    ok = check_batch(read_incoming(tmp_path / "ok.csv", SETTINGS), schema)
    assert ok.success, ok.summary()

    frame["open_accounts"] = frame["open_accounts"].astype(object)
    frame.loc[3, "open_accounts"] = 20000000000000000000
    frame.to_csv(tmp_path / "wide.csv", index=False)

    wide = check_batch(read_incoming(tmp_path / "wide.csv", SETTINGS), schema)
    assert not wide.success
    first = wide.failures[0]
    assert (first.column, first.expectation, first.unexpected_count) == (
        "open_accounts",
        WIDTH_EXPECTATION,
        1,
    )
    assert "20000000000000000000" in first.message and "64-bit" in wide.summary()
