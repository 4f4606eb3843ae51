"""Unit tests for challenger.monitoring: label files, schema changes, windows, the incoming scan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from challenger.config import Settings
from challenger.demo.simulator import Period, simulate_batch, split_labels
from challenger.monitor.checks import (
    LABELS_JOIN,
    apply_labels,
    archive_label_file,
    batches_since,
    check_labels,
    is_label_file,
    labelled_rows_since,
    new_batches,
    performance_windows,
    recent_labelled,
    schema_changes,
)
from challenger.store.batches import accept_batch, write_table

SETTINGS = Settings()
FEATURES = list(SETTINGS.data.features)


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
    assert [p.name for p in kept] == ["labels.csv", "labels-1.csv"]
    assert [pd.read_csv(p)["a"].item() for p in kept] == [0, 1]


def test_new_batches_are_the_files_not_accepted_yet(tmp_path: Path) -> None:
    incoming, accepted_dir = tmp_path / "incoming", tmp_path / "accepted"
    for name in ("day-002.parquet", "day-001.csv"):
        write_table(pd.DataFrame({"a": [1]}), incoming / name)
    (incoming / "notes.txt").write_text("not data")
    (incoming / ".day-003.parquet.tmp").write_text("a file being written")
    accept_batch(pd.DataFrame({"a": [1]}), "day-002", accepted_dir)

    assert [p.name for p in new_batches(incoming, accepted_dir)] == ["day-001.csv"]
    assert new_batches(tmp_path / "nowhere", accepted_dir) == []


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


def test_batches_since_the_champion() -> None:
    assert batches_since(["d0", "d1", "d2"], ["d0"]) == 2
    assert batches_since(["d0", "d1", "d2"], ["d1", "d2"]) == 0
    assert batches_since(["d0"], ["elsewhere"]) is None
    assert batches_since(["d0"], []) is None


def test_performance_windows_score_the_newest_complete_windows(tmp_path: Path) -> None:
    train = simulate_batch(0, 3000, 7)
    d = SETTINGS.data
    model = make_pipeline(
        ColumnTransformer(
            [
                ("num", StandardScaler(), list(d.numeric)),
                ("cat", OneHotEncoder(handle_unknown="ignore"), list(d.categorical)),
            ]
        ),
        LogisticRegression(max_iter=1000),
    ).fit(train[FEATURES], train["default"])

    accepted_dir = tmp_path / "accepted"
    accept_batch(simulate_batch(1, 700, 7), "day-001", accepted_dir)
    accept_batch(simulate_batch(2, 700, 7, Period(1.0, 1.0)), "day-002", accepted_dir)
    settings = Settings.model_validate(
        {"triggers": {"performance": {"window_rows": 400, "windows": 3, "breaches": 2}}}
    )

    labelled, used = recent_labelled(accepted_dir, settings, exclude={"day-000"}, max_rows=1200)
    windows = performance_windows(model, labelled, settings, reference_value=0.8)

    assert used == ["day-001", "day-002"] and len(labelled) == 1200
    assert labelled["ts"].is_monotonic_increasing
    assert [w.n_rows for w in windows] == [400, 400, 400]
    assert windows[0].window.startswith("rows 1-400") and windows[-1].window.startswith(
        "rows 801-1200"
    )
    assert all(w.metric == "roc_auc" and w.reference == 0.8 for w in windows)
    # the newest window is all drifted rows: the old model does worse there
    assert windows[-1].value < windows[0].value
    assert performance_windows(model, labelled.head(399), settings, 0.8) == []
