"""Quarantine: a failed file set aside with its evidence, listed, and released when fixed."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from challenger.errors import DataError
from challenger.monitor import quarantine as quarantine_module
from challenger.monitor.quarantine import find_quarantined, quarantine, quarantined, release
from challenger.monitor.validation import (
    BatchSchema,
    ColumnSpec,
    ValidationResult,
    schema_from_reference,
    validate_batch,
)

N_ROWS = 1_000


REGIONS = ("north", "south", "east", "west")


BETWEEN = "expect_column_values_to_be_between"


def make_frame(seed: int, n: int = N_ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "age": rng.integers(18, 91, n),
            "income": rng.lognormal(10, 0.5, n),
            "score": rng.normal(0, 1, n),
            "region": rng.choice(REGIONS, n),
            "plan": rng.choice(["basic", "pro"], n),
            "churn": rng.integers(0, 2, n),
            "ts": pd.date_range("2024-01-01", periods=n, freq="h"),
        }
    )


BASE_SCHEMA = BatchSchema(
    columns=(
        ColumnSpec("id", "numeric", min=0),
        ColumnSpec("age", "numeric", min=18, max=100),
        ColumnSpec("income", "numeric", min=0),
        ColumnSpec("score", "numeric"),
        ColumnSpec("region", "categorical"),
        ColumnSpec("plan", "categorical", categories=("basic", "pro")),
        ColumnSpec("churn", "binary"),
        ColumnSpec("ts", "timestamp"),
    ),
    min_rows=10,
    unique_columns=("id",),
)


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return make_frame(seed=1)


@pytest.fixture(scope="module")
def schema(reference: pd.DataFrame) -> BatchSchema:
    return schema_from_reference(reference, BASE_SCHEMA)


@pytest.fixture()
def batch() -> pd.DataFrame:
    return make_frame(seed=2)


@pytest.fixture(scope="module")
def failed_result(schema: BatchSchema) -> ValidationResult:
    frame = make_frame(seed=3)
    frame.loc[frame.index[:4], "age"] = 500
    result = validate_batch(frame, schema)
    assert not result.success
    return result


@pytest.fixture()
def quarantined_batch(
    tmp_path: Path, schema: BatchSchema
) -> tuple[Path, Path, pd.DataFrame, ValidationResult]:
    """A batch with ages out of range, quarantined from tmp/incoming."""
    frame = make_frame(seed=4, n=200)
    frame.loc[frame.index[:6], "age"] = 500
    result = validate_batch(frame, schema)
    source = tmp_path / "incoming" / "day-009.parquet"
    source.parent.mkdir()
    frame.to_parquet(source, index=False)
    folder = quarantine(source, result, tmp_path / "quarantine", move=True)  # a scanned file
    return source, folder, frame, result


def allowed(tmp_path: Path) -> tuple[Path, Path]:
    """The data folders a release may write into: incoming first, then accepted."""
    return tmp_path / "incoming", tmp_path / "accepted"


@pytest.mark.parametrize("move", [False, True], ids=["named-file-copied", "scanned-file-moved"])
def test_quarantine_keeps_a_copy_with_its_evidence(
    tmp_path: Path, failed_result: ValidationResult, move: bool
) -> None:
    batch_path = tmp_path / "incoming" / "batch-0007.csv"
    batch_path.parent.mkdir()
    batch_path.write_text("id,age\n1,500\n", encoding="utf-8")

    folder = quarantine(batch_path, failed_result, tmp_path / "quarantine", move=move)

    assert folder.parent == tmp_path / "quarantine"
    assert folder.name.startswith("batch-0007-") and folder.name.endswith("Z")
    assert batch_path.exists() is not move  # a file the user named never leaves their folder
    assert (folder / "batch-0007.csv").read_text(encoding="utf-8") == "id,age\n1,500\n"
    evidence = json.loads((folder / "validation.json").read_text(encoding="utf-8"))
    assert evidence["success"] is False
    assert evidence["failures"] == [
        {
            "column": "age",
            "expectation": BETWEEN,
            "unexpected_count": 4,
            "message": failed_result.failures[0].message,
        }
    ]
    assert evidence["report"]["statistics"]["unsuccessful_expectations"] == 1
    assert evidence["source"] == str(batch_path.resolve()) and evidence["kind"] == "batch"
    assert evidence["original_kept"] is not move and len(evidence["sha256"]) == 64
    assert sorted(p.name for p in folder.iterdir()) == [
        "batch-0007.csv",
        "data_docs.html",
        "validation.json",
    ]
    docs = (folder / "data_docs.html").read_text(encoding="utf-8")
    text = " ".join(re.sub(r"<[^>]+>", " ", docs).split())  # GX's own data docs page
    assert "Expectation Validation Result" in text and "Unsuccessful Expectations 1" in text
    assert "4 unexpected values found" in text


def test_quarantine_never_overwrites_an_existing_folder(
    tmp_path: Path, failed_result: ValidationResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

    class FrozenClock(datetime):
        @classmethod
        def now(cls, tz: object = None) -> FrozenClock:
            return cls.fromtimestamp(frozen.timestamp(), tz=UTC)

    monkeypatch.setattr(quarantine_module, "datetime", FrozenClock)
    quarantine_dir = tmp_path / "q"
    paths = []
    for i in range(3):
        source = tmp_path / f"in{i}" / "batch.parquet"
        source.parent.mkdir()
        source.write_bytes(bytes([i]) * 10)
        paths.append(quarantine(source, failed_result, quarantine_dir))

    stamp = "batch-20240501T120000000000Z"
    assert [p.name for p in paths] == [stamp, f"{stamp}-1", f"{stamp}-2"]
    for i, folder in enumerate(paths):
        assert (folder / "batch.parquet").read_bytes() == bytes([i]) * 10


def test_quarantine_of_a_missing_file_raises_and_creates_nothing(
    tmp_path: Path, failed_result: ValidationResult
) -> None:
    with pytest.raises(DataError, match="not an existing file"):
        quarantine(tmp_path / "nope.csv", failed_result, tmp_path / "q")

    assert not (tmp_path / "q").exists()


def test_quarantine_refuses_a_batch_named_like_its_evidence(
    tmp_path: Path, failed_result: ValidationResult
) -> None:
    batch_path = tmp_path / "validation.json"
    batch_path.write_text("{}", encoding="utf-8")

    with pytest.raises(DataError, match="rename the batch"):
        quarantine(batch_path, failed_result, tmp_path / "q")

    assert batch_path.read_text(encoding="utf-8") == "{}"


def test_quarantined_lists_entries_with_their_failures(
    quarantined_batch: tuple[Path, Path, pd.DataFrame, ValidationResult],
) -> None:
    source, folder, _, result = quarantined_batch

    [entry] = quarantined(folder.parent)

    assert entry.name == folder.name and entry.kind == "batch"
    assert entry.file == folder / source.name and entry.source == source.resolve()
    assert entry.failures == result.failures
    assert entry.data_docs == folder / "data_docs.html"
    data = entry.to_dict()
    assert data["failed_checks"] == 1 and data["batch"] == source.name
    assert "'age'" in data["summary"] and "6 of 200" in data["summary"]
    assert find_quarantined(folder.parent, folder.name) == entry
    assert find_quarantined(folder.parent, "day-009") == entry
    assert find_quarantined(folder.parent, "day-009.parquet") == entry
    with pytest.raises(DataError, match="called 'day-010'"):
        find_quarantined(folder.parent, "day-010")


def test_a_batch_that_still_fails_stays_in_quarantine(
    quarantined_batch: tuple[Path, Path, pd.DataFrame, ValidationResult],
) -> None:
    source, folder, _, result = quarantined_batch
    entry = find_quarantined(folder.parent, folder.name)

    with pytest.raises(DataError, match=r"(?s)still fails validation.*'age'.*6 of 200"):
        release(entry, revalidation=result, allowed=allowed(source.parents[1]))

    assert not source.exists()
    assert (folder / source.name).is_file() and quarantined(folder.parent) == [entry]


def test_a_fixed_batch_goes_back_and_its_record_is_kept(
    quarantined_batch: tuple[Path, Path, pd.DataFrame, ValidationResult], schema: BatchSchema
) -> None:
    source, folder, frame, _ = quarantined_batch
    fixed = frame.assign(age=frame["age"].clip(upper=90))
    fixed.to_parquet(folder / source.name, index=False)  # fixed in place
    entry = find_quarantined(folder.parent, "day-009")

    released = release(
        entry, revalidation=validate_batch(fixed, schema), allowed=allowed(source.parents[1])
    )

    assert released == source and source.is_file()
    pd.testing.assert_frame_equal(pd.read_parquet(source), fixed)
    assert quarantined(folder.parent) == []
    record_folder = folder.parent / "released" / folder.name
    assert not folder.exists() and (record_folder / "validation.json").is_file()
    record = json.loads((record_folder / "release.json").read_text(encoding="utf-8"))
    assert record["released_to"] == str(source) and record["forced"] is False
    assert record["revalidation"].startswith("All ")
    assert (record_folder / source.name).is_file()  # the quarantined copy stays too


def test_release_of_a_replacement_to_another_folder_and_forced_release(
    tmp_path: Path,
    quarantined_batch: tuple[Path, Path, pd.DataFrame, ValidationResult],
) -> None:
    source, folder, frame, _ = quarantined_batch
    replacement = tmp_path / "fixed.parquet"
    frame.assign(age=30).to_parquet(replacement, index=False)
    entry = find_quarantined(folder.parent, folder.name)
    inside = tmp_path / "accepted" / "fixed"

    released = release(
        entry, inside, revalidation=None, replacement=replacement, allowed=allowed(tmp_path)
    )

    assert released == inside / source.name  # keeps the batch's name
    assert (pd.read_parquet(released)["age"] == 30).all()
    record = json.loads(
        (folder.parent / "released" / folder.name / "release.json").read_text(encoding="utf-8")
    )
    assert record["forced"] is True and record["revalidation"] is None


def test_release_never_overwrites_a_file_at_the_destination(
    quarantined_batch: tuple[Path, Path, pd.DataFrame, ValidationResult],
) -> None:
    source, folder, _, _ = quarantined_batch
    source.write_text("a newer file with the same name", encoding="utf-8")
    entry = find_quarantined(folder.parent, folder.name)

    with pytest.raises(DataError, match="a file of that name exists there"):
        release(entry, revalidation=None, allowed=allowed(source.parents[1]))

    assert source.read_text(encoding="utf-8") == "a newer file with the same name"
    assert quarantined(folder.parent) == [entry]


@pytest.mark.parametrize(
    "where",
    [
        lambda t: t / "elsewhere",
        lambda t: t / "incoming" / ".." / "elsewhere",  # no way out through a name
        lambda t: t / "incoming-not-really",
    ],
    ids=["outside", "traversal", "prefix-only"],
)
def test_release_writes_only_into_the_data_folders(
    tmp_path: Path,
    quarantined_batch: tuple[Path, Path, pd.DataFrame, ValidationResult],
    where: object,
) -> None:
    _, folder, _, _ = quarantined_batch
    entry = find_quarantined(folder.parent, folder.name)
    target = where(tmp_path)  # type: ignore[operator]

    with pytest.raises(DataError, match="releases go only into the configured data folders"):
        release(entry, target, revalidation=None, allowed=allowed(tmp_path))

    assert not target.exists() and quarantined(folder.parent) == [entry]


def test_an_edited_record_cannot_send_a_file_outside_the_data_folders(
    tmp_path: Path,
    quarantined_batch: tuple[Path, Path, pd.DataFrame, ValidationResult],
) -> None:
    _, folder, _, _ = quarantined_batch
    evidence = folder / "validation.json"
    record = json.loads(evidence.read_text(encoding="utf-8"))
    record["source"] = str(tmp_path / "etc" / "passwd")
    evidence.write_text(json.dumps(record), encoding="utf-8")
    entry = find_quarantined(folder.parent, folder.name)

    with pytest.raises(DataError, match=r"came from .*passwd, outside the configured data"):
        release(entry, revalidation=None, allowed=allowed(tmp_path))

    assert not (tmp_path / "etc").exists()


def test_a_copy_of_a_named_file_is_released_into_incoming_and_the_original_is_untouched(
    tmp_path: Path, failed_result: ValidationResult
) -> None:
    mine = tmp_path / "home" / "day-5.csv"
    mine.parent.mkdir()
    mine.write_text("id,age\n1,500\n", encoding="utf-8")
    folder = quarantine(mine, failed_result, tmp_path / "quarantine")
    (folder / mine.name).write_text("id,age\n1,50\n", encoding="utf-8")  # fixed there

    released = release(
        find_quarantined(folder.parent, folder.name), revalidation=None, allowed=allowed(tmp_path)
    )

    assert released == tmp_path / "incoming" / mine.name
    assert released.read_text(encoding="utf-8") == "id,age\n1,50\n"
    assert mine.read_text(encoding="utf-8") == "id,age\n1,500\n"  # the user's file as it was


def test_an_unchanged_original_in_incoming_is_replaced_by_its_fixed_copy(
    tmp_path: Path, failed_result: ValidationResult
) -> None:
    named = tmp_path / "incoming" / "day-6.csv"  # named with --batch, though it is in incoming
    named.parent.mkdir()
    named.write_text("id,age\n1,500\n", encoding="utf-8")
    folder = quarantine(named, failed_result, tmp_path / "quarantine")
    (folder / named.name).write_text("id,age\n1,50\n", encoding="utf-8")

    released = release(
        find_quarantined(folder.parent, folder.name), revalidation=None, allowed=allowed(tmp_path)
    )

    assert released == named and named.read_text(encoding="utf-8") == "id,age\n1,50\n"
