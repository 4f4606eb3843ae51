"""The warm runner's hand-over: used only when this project's runner answers with its token,
and an expected outcome crosses over as itself."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from challenger import errors
from challenger.online.serve.server import BackgroundServer
from challenger.ops import runner


def _state(tmp_path: Path) -> Path:
    (tmp_path / "state" / "run").mkdir(parents=True)
    return tmp_path / "state"


def _hand_over(state: Path, config: Path | None, root: Path) -> object:
    return runner.hand_over(
        state, config, root, root / "b.csv", reason="scheduled", retrain=False, fast=False
    )


def _free_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_without_a_runner_of_this_project_the_command_runs_the_step_itself(
    tmp_path: Path,
) -> None:
    state, cfg = _state(tmp_path), tmp_path / "challenger.yaml"
    assert _hand_over(state, cfg, tmp_path) is None  # no runner.json
    runner.new_token(state, _free_url(), cfg, tmp_path)
    assert (runner.runner_file(state).stat().st_mode & 0o777) == 0o600
    assert _hand_over(state, cfg, tmp_path) is None  # nothing listens there
    assert _hand_over(state, tmp_path / "other.yaml", tmp_path) is None  # another project's
    assert _hand_over(state, None, tmp_path) is None  # defaults against a file
    runner.runner_file(state).write_text("{not json")
    assert _hand_over(state, cfg, tmp_path) is None


def test_a_runner_refuses_a_request_without_its_token(tmp_path: Path) -> None:
    state, cfg = _state(tmp_path), tmp_path / "challenger.yaml"
    app = runner.create_app(str(cfg), "the-real-token", warm_up=False)
    with BackgroundServer(app) as server:
        runner.new_token(state, server.url, cfg, tmp_path)  # a token the runner never saw
        with pytest.raises(errors.ServiceError, match="refused the token"):
            _hand_over(state, cfg, tmp_path)


def test_the_runner_s_expected_outcomes_are_raised_as_themselves() -> None:
    with pytest.raises(errors.BatchQuarantined) as got:
        runner._raise_reported(
            {"kind": "BatchQuarantined", "error": "bad", "quarantine_path": "/q/x", "report": "r"}
        )
    assert (str(got.value), got.value.quarantine_path) == ("bad", "/q/x")
    with pytest.raises(errors.ConfigError, match="no such key"):
        runner._raise_reported({"kind": "ConfigError", "error": "no such key"})
    with pytest.raises(errors.ChallengerError, match="2 fields"):
        runner._raise_reported({"kind": "InputError", "error": "2 fields"})  # other __init__
    with pytest.raises(RuntimeError, match="KeyError: 'x'"):
        runner._raise_reported({"kind": "KeyError", "error": "'x'"})
    assert json.dumps(runner._error(errors.BatchQuarantined("m", "/p", "rep")))  # JSON-clean
