"""Expected outcomes are one sentence: Prefect's traceback of a ChallengerError is dropped."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from challenger import run_contract
from challenger.errors import BatchQuarantined


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _log_failure(logger: logging.Logger, exc: Exception) -> None:
    try:
        raise exc
    except Exception:
        logger.error("Encountered exception during execution: %r", exc, exc_info=sys.exc_info())
    logger.error("Finished in state Failed('Flow run encountered an exception: %r')", exc)
    logger.info("Finished in state Completed()")


@pytest.fixture
def run_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("prefect.flow_runs")
    keep, level = _Keep(), logger.level
    logger.addHandler(keep)
    logger.setLevel(logging.INFO)
    yield logger
    logger.setLevel(level)
    logger.removeHandler(keep)
    logger.removeFilter(run_contract._FILTER)


def _kept(logger: logging.Logger) -> list[str]:
    return next(h for h in logger.handlers if isinstance(h, _Keep)).messages


def test_an_expected_outcome_leaves_no_traceback(run_logger: logging.Logger) -> None:
    run_contract.quiet_expected_outcomes()
    _log_failure(run_logger, BatchQuarantined("batch b.csv failed validation", Path("q")))
    assert _kept(run_logger) == ["Finished in state Completed()"]


def test_an_unexpected_failure_keeps_its_report(run_logger: logging.Logger) -> None:
    run_contract.quiet_expected_outcomes()
    _log_failure(run_logger, RuntimeError("boom"))
    assert len(_kept(run_logger)) == 3
    assert _kept(run_logger)[0].startswith("Encountered exception during execution: RuntimeError")


def test_verbose_keeps_everything(
    run_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_contract, "_VERBOSE", [True])
    run_contract.quiet_expected_outcomes()
    _log_failure(run_logger, BatchQuarantined("batch b.csv failed validation", Path("q")))
    assert len(_kept(run_logger)) == 3


def test_commands_run_their_flows_without_prefect_heartbeats(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from flows.common import without_heartbeats
    from prefect.settings import get_current_settings

    monkeypatch.delenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", raising=False)
    before = get_current_settings().flows.heartbeat_frequency
    with without_heartbeats():
        assert get_current_settings().flows.heartbeat_frequency is None
    assert get_current_settings().flows.heartbeat_frequency == before
    # A user who asked for heartbeats keeps them.
    monkeypatch.setenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "60")
    with without_heartbeats():
        assert get_current_settings().flows.heartbeat_frequency == before
