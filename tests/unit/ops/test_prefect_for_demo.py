"""Where the demo's flow runs go: up's server when it runs, else up's own Prefect database."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from challenger.config import load_config
from challenger.ops import service


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    (tmp_path / "challenger.yaml").write_text("{}\n")
    for name in ("PREFECT_API_URL", *service.PREFECT_DATABASE_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "prefect", raising=False)  # as in a fresh `challenger demo`
    return load_config(tmp_path / "challenger.yaml")


def test_without_up_the_temporary_server_runs_on_up_s_home_and_database(settings) -> None:  # type: ignore[no-untyped-def]
    env, where = service.prefect_for_demo(settings)
    home = settings.path(settings.service.state_dir) / "prefect"
    assert env["PREFECT_HOME"] == str(home) and home.is_dir()
    assert env[service.PREFECT_DATABASE_ENV[0]] == service.prefect_database_url(settings)
    assert str(home / "prefect.db") in where


def test_a_running_up_server_takes_the_runs(settings, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    proc = service.processes.Proc("prefect-server", 1, "prefect", Path("log"))
    monkeypatch.setattr(service, "running", lambda s: [proc])
    env, where = service.prefect_for_demo(settings)
    assert env == {"PREFECT_API_URL": service.prefect_api_url(settings)}
    assert "running `challenger up`" in where


def test_a_server_the_user_named_or_a_loaded_prefect_is_left_alone(
    settings,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:1/api")
    assert service.prefect_for_demo(settings)[0] == {}
    monkeypatch.delenv("PREFECT_API_URL")
    monkeypatch.setitem(sys.modules, "prefect", object())
    assert service.prefect_for_demo(settings)[0] == {}
