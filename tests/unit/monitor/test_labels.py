"""Label files: recognised, joined to their batches, refused when they join nothing, archived."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from challenger.config import Settings
from challenger.demo.simulator import simulate_batch, split_labels
from challenger.monitor.labels import (
    LABELS_JOIN,
    apply_labels,
    archive_label_file,
    check_labels,
    is_label_file,
)
from challenger.monitor.performance import (
    labelled_rows_since,
)
from challenger.store.batches import accept_batch, write_table

SETTINGS = Settings()


@pytest.fixture()
def accepted(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """Two accepted batches whose labels have not arrived; returns the folder and the labels."""
    folder = tmp_path / "accepted"
    labels = []
    for day in (1, 2):
        batch, y = split_labels(simulate_batch(day, 300, 7), "default", "application_id")
        accept_batch(batch, f"day-{day:03d}", folder)
        labels.append(y)
    return folder, pd.concat(labels, ignore_index=True)


def test_a_label_file_is_ids_and_labels_without_features(
    accepted: tuple[Path, pd.DataFrame],
) -> None:
    _, labels = accepted
    assert is_label_file(labels, SETTINGS)
    assert is_label_file(labels.assign(ts=pd.Timestamp("2026-01-02")), SETTINGS)
    assert not is_label_file(simulate_batch(1, 50, 7), SETTINGS)
    assert not is_label_file(labels.drop(columns=["application_id"]), SETTINGS)


def test_labels_join_their_batches_and_are_written_into_them(
    accepted: tuple[Path, pd.DataFrame],
) -> None:
    folder, labels = accepted
    late = labels.sample(frac=0.5, random_state=1)

    result, per_batch = check_labels(late, SETTINGS, folder)

    assert result.success, result.summary()
    assert {p.stem for p in per_batch} == {"day-001", "day-002"}
    assert sum(len(v) for v in per_batch.values()) == len(late)
    assert apply_labels(per_batch, SETTINGS) == len(late)
    day1 = pd.read_parquet(folder / "day-001.parquet")
    assert list(day1.columns)[-1] == "default"  # the batch keeps its columns, plus the target
    joined = day1.merge(late, on="application_id", suffixes=("", "_sent"))
    assert (joined["default"] == joined["default_sent"]).all()
    assert day1["default"].notna().sum() == len(joined)  # the others still wait for labels
    assert labelled_rows_since(folder, "default", exclude=set()) == len(late)
    assert labelled_rows_since(folder, "default", exclude={"day-001"}) == len(
        late[late.application_id >= 2_000_000]
    )


def test_labels_that_join_nothing_are_refused_with_column_expectation_and_count(
    accepted: tuple[Path, pd.DataFrame],
) -> None:
    folder, labels = accepted
    strangers = pd.DataFrame({"application_id": [9_000_001, 9_000_002], "default": [0, 1]})

    result, per_batch = check_labels(pd.concat([labels.head(10), strangers]), SETTINGS, folder)

    assert not result.success and per_batch == {}
    [failure] = result.failures
    assert (failure.column, failure.expectation, failure.unexpected_count) == (
        "application_id",
        LABELS_JOIN,
        2,
    )
    assert "'application_id'" in failure.message and "2 of 12 rows" in failure.message
    assert "9000001" in failure.message


@pytest.mark.parametrize(
    ("damage", "column", "expectation", "count"),
    [
        (lambda f: f.assign(default=2), "default", "expect_column_values_to_be_in_set", 600),
        (
            lambda f: pd.concat([f, f.head(4)]),
            "application_id",
            "expect_column_values_to_be_unique",
            8,
        ),
        (
            lambda f: f.assign(default=np.nan),
            "default",
            "expect_column_values_to_not_be_null",
            600,
        ),
    ],
    ids=["not-binary", "duplicate-ids", "no-labels"],
)
def test_bad_label_files_fail_validation(
    accepted: tuple[Path, pd.DataFrame],
    damage: object,
    column: str,
    expectation: str,
    count: int,
) -> None:
    folder, labels = accepted
    result, per_batch = check_labels(damage(labels), SETTINGS, folder)  # type: ignore[operator]

    assert not result.success and per_batch == {}
    found = {(f.column, f.expectation, f.unexpected_count) for f in result.failures}
    assert (column, expectation, count) in found


def test_applied_label_files_are_archived_never_overwritten(tmp_path: Path) -> None:
    accepted_dir = tmp_path / "accepted"
    kept = []
    for i in range(2):
        path = write_table(pd.DataFrame({"a": [i]}), tmp_path / "in" / "labels.csv")
        kept.append(archive_label_file(path, accepted_dir))
        assert path.is_file()  # a file the user named stays in their folder: a copy is kept
    assert [p.name for p in kept] == ["labels.csv", "labels-1.csv"]
    assert [pd.read_csv(p)["a"].item() for p in kept] == [0, 1]
    scanned = write_table(pd.DataFrame({"a": [2]}), tmp_path / "incoming" / "labels.csv")
    assert archive_label_file(scanned, accepted_dir, move=True).name == "labels-2.csv"
    assert not scanned.exists()  # the monitor's own incoming folder: taken out of it


def test_labels_from_a_csv_join_rows_whatever_their_id_dtype(
    tmp_path: Path, accepted: tuple[Path, pd.DataFrame]
) -> None:
    """Ids read as numbers from a CSV join rows stored with text ids, and the other way."""
    folder, labels = accepted
    day1 = folder / "day-001.parquet"
    stored = pd.read_parquet(day1)
    stored.assign(application_id=stored["application_id"].astype(str)).to_parquet(day1)
    labels.to_csv(tmp_path / "labels.csv", index=False)
    from_csv = pd.read_csv(tmp_path / "labels.csv")

    result, per_batch = check_labels(from_csv, SETTINGS, folder)

    assert result.success, result.summary()
    assert apply_labels(per_batch, SETTINGS) == len(labels)
    day1_after = pd.read_parquet(day1)
    assert day1_after["default"].notna().all()
    assert day1_after["application_id"].map(type).eq(str).all()  # the batch keeps its dtype
