"""The registry module against real sqlite stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from challenger.config import load_config

pytestmark = pytest.mark.integration


def test_connecting_to_a_store_does_not_redirect_the_next_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from challenger.store.registry import Registry

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
        (folder / "challenger.yaml").write_text("{}\n")
    Registry.from_settings(load_config(first / "challenger.yaml"))
    assert load_config(second / "challenger.yaml").tracking_uri.endswith("/b/mlflow/mlflow.db")
