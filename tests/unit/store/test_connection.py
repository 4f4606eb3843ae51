"""The store check that runs before MLflow opens a SQLite store (no MLflow here: sqlite3 only)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from challenger.errors import RegistryUnavailable
from challenger.store.connection import check_store, sqlite_file, store_exists


def _uri(path: Path) -> str:
    return f"sqlite:///{path}"


def _database(path: Path, *tables: str) -> Path:
    with sqlite3.connect(path) as conn:
        for table in tables:
            conn.execute(f"CREATE TABLE {table} (x)")
    return path


def test_sqlite_file_and_existence() -> None:
    assert sqlite_file("sqlite:////a/b.db?mode=ro") == Path("/a/b.db")
    assert sqlite_file("sqlite://") is None and sqlite_file("http://127.0.0.1:5000") is None
    assert store_exists("postgresql://u@db/mlflow")  # only SQLite files can be looked at


def test_a_missing_store_is_created_only_when_allowed(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "mlflow.db"
    check_store(_uri(missing), create=True)  # left for MLflow to create
    with pytest.raises(RegistryUnavailable, match=r"does not exist \(no file .*nope/mlflow\.db\)"):
        check_store(_uri(missing))
    assert not missing.parent.exists()


@pytest.mark.parametrize("create", [False, True])
def test_files_that_are_no_mlflow_store_are_refused(tmp_path: Path, create: bool) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    text = tmp_path / "text.db"
    text.write_text("not sqlite")
    other = _database(tmp_path / "other.db", "predictions")
    cases = [
        (empty, "is an empty (0-byte) file"),
        (text, "is not a SQLite database"),
        (other, "is a SQLite database but not an MLflow store"),
        (tmp_path, "is not a file"),
    ]
    for path, says in cases:
        with pytest.raises(RegistryUnavailable, match=re.escape(f"{_uri(path)} {says}")):
            check_store(_uri(path), create=create)
    assert empty.read_bytes() == b"" and text.read_text() == "not sqlite"


def test_an_intact_store_passes_and_keeps_no_trace_of_the_write_probe(tmp_path: Path) -> None:
    db = _database(tmp_path / "mlflow.db", "experiments")
    before = db.read_bytes()
    check_store(_uri(db))
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlflow.db"]  # no journal left


def test_a_truncated_store_is_corrupt(tmp_path: Path) -> None:
    db = _database(tmp_path / "mlflow.db", "experiments", "runs", "metrics")
    data = db.read_bytes()
    db.write_bytes(data[: len(data) - 1024])
    with pytest.raises(RegistryUnavailable, match=r"is corrupt .*truncated"):
        check_store(_uri(db))
