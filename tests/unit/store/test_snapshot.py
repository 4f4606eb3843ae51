"""The status snapshot read without MLflow gives way to MLflow whenever it is unsure.

That it reads what MLflow reads is checked on a real store in tests/integration/test_demo.py.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from challenger.store.snapshot import read_snapshot


def test_other_stores_are_left_to_mlflow(tmp_path: Path) -> None:
    assert read_snapshot("http://127.0.0.1:5000", "m") is None
    assert read_snapshot(f"sqlite:///{tmp_path / 'missing.db'}", "m") is None
    assert not (tmp_path / "missing.db").exists()  # read-only: nothing created


def test_unknown_tables_or_models_are_left_to_mlflow(tmp_path: Path) -> None:
    path = tmp_path / "mlflow.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE other (x INTEGER)")
    assert read_snapshot(f"sqlite:///{path}", "m") is None  # no MLflow tables
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE model_versions (name TEXT, version INTEGER, run_id TEXT, "
            "current_stage TEXT, creation_time INTEGER)"
        )
        db.execute("CREATE TABLE registered_models (name TEXT)")
    assert read_snapshot(f"sqlite:///{path}", "m") is None  # the model is not registered
    (tmp_path / "junk.db").write_text("not sqlite")
    assert read_snapshot(f"sqlite:///{tmp_path / 'junk.db'}", "m") is None
