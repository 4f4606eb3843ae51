"""A new SQLite store copied from the session's template is a whole, working MLflow store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from challenger.store import connection


def test_a_new_store_is_a_copy_of_the_template_and_an_existing_one_is_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = tmp_path / "template.db"
    with sqlite3.connect(template) as db:  # stands in for an empty MLflow store
        db.execute("CREATE TABLE experiments (x)")
    monkeypatch.setattr(connection, "STORE_TEMPLATE", template)
    monkeypatch.setattr(connection, "check_store", lambda uri, create=False: None)
    monkeypatch.setattr("mlflow.MlflowClient", lambda **kw: object())
    new = tmp_path / "project" / "mlflow" / "mlflow.db"
    connection.connect(f"sqlite:///{new}", create=True)
    assert new.read_bytes() == template.read_bytes()
    assert not list(new.parent.glob(".*.new")), "no partial copy left behind"
    other = tmp_path / "kept.db"
    other.write_bytes(b"mine")
    connection.connect(f"sqlite:///{other}", create=True)
    assert other.read_bytes() == b"mine", "an existing store is never replaced"
    missing = tmp_path / "named.db"
    connection.connect(f"sqlite:///{missing}", create=False)
    assert not missing.exists(), "only a store that may be created is copied"
