"""How every ``challenger`` command runs: exit codes, JSON-clean stdout, quiet expected outcomes.

:func:`run` is the contract of the command line: exit 0 on success (a refused challenger is
a success), 2 on a :class:`~challenger.errors.ChallengerError` (bad input or configuration,
a quarantined batch: one sentence, no traceback), 1 on anything else; with ``--json`` stdout
holds one JSON document and nothing else. Prefect's run loggers report every exception a flow
raises with its traceback; :class:`_ExpectedOutcomes` drops that report for expected
outcomes unless ``--verbose`` (:func:`set_verbose`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from challenger.errors import ChallengerError

err = Console(stderr=True, soft_wrap=True)  # one sentence per error, never re-wrapped
T = TypeVar("T")


def set_verbose(verbose: bool) -> None:
    """Keep Prefect's full report of expected outcomes (``challenger --verbose``)."""
    _VERBOSE[0] = verbose


_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")
"""Prefect's run loggers: they log every exception a flow or task raises, with its traceback."""


class _ExpectedOutcomes(logging.Filter):
    """Drops Prefect's report of an expected outcome (a ``ChallengerError``: a quarantined
    batch, a refused input), whose one sentence the CLI prints itself; ``--verbose`` keeps it.

    The record carrying the exception and the ``Finished in state Failed`` lines that follow
    it are dropped; any other exception keeps its traceback.
    """

    def __init__(self) -> None:
        super().__init__("challenger.expected")
        self.seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        if _VERBOSE[0]:
            return True
        if record.exc_info and isinstance(record.exc_info[1], ChallengerError):
            self.seen = True
            return False
        text = record.getMessage()
        if "Encountered exception during execution" in text and _names_expected_error(text):
            self.seen = True
            return False
        return not (self.seen and text.startswith("Finished in state Failed"))


def _names_expected_error(text: str) -> bool:
    import challenger.errors as errors

    return any(
        f"{name}(" in text or f"{name}:" in text
        for name, cls in vars(errors).items()
        if isinstance(cls, type) and issubclass(cls, ChallengerError)
    )


_VERBOSE = [False]  # set by the CLI's --verbose before any command runs
_FILTER = _ExpectedOutcomes()


def quiet_expected_outcomes() -> None:
    _FILTER.seen = False
    for name in _RUN_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def _prepare_environment() -> None:
    # Offline machines: telemetry of Prefect and Evidently hangs or complains.
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    quiet_expected_outcomes()


@contextlib.contextmanager
def _stdout_to_stderr(active: bool) -> Iterator[None]:
    if not active:
        yield
        return
    with contextlib.redirect_stdout(sys.stderr):
        yield


def run(as_json: bool, work: Callable[[], T]) -> T:
    """Run a command body with the exit-code contract and JSON-clean stdout."""
    _prepare_environment()
    try:
        with _stdout_to_stderr(as_json):
            return work()
    except ChallengerError as exc:
        err.print("[bold red]error:[/]", escape(str(exc)))
        if as_json:
            print(json.dumps({"error": str(exc), "kind": type(exc).__name__}))
        raise typer.Exit(2) from exc
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except Exception as exc:
        err.print("[bold red]failed:[/]", escape(f"{type(exc).__name__}: {exc}"))
        if as_json:
            print(json.dumps({"error": str(exc), "kind": type(exc).__name__}))
        raise typer.Exit(1) from exc


def emit(data: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(data, indent=2, default=str))
