"""Every exception challenger raises on purpose, in one place.

Errors a user can act on carry one sentence that names the input, what was wrong and what
to do. They are ``ChallengerError`` subclasses, which the CLI turns into exit code 2 (bad
input or configuration); anything else is exit code 1. Errors that library callers may
also meet as numeric-argument problems subclass ``ValueError`` too, so ``except
ValueError`` keeps working for them.

The hierarchy (``+ ValueError``: also a ``ValueError``)::

    Exception
    ├── ChallengerError                  a problem with the user's input or configuration (exit 2)
    │   ├── ConfigError                  the configuration file or an override is invalid
    │   ├── DataError                    a data file is missing, unreadable or the wrong shape
    │   │   ├── LeakageError             a leakage guard refused the training data
    │   │   ├── NoUnseenHoldout          no row is left that neither model trained on
    │   │   ├── StatisticsInputError     + ValueError: unusable inputs to a paired statistic
    │   │   └── DriftInputError          + ValueError: frames or options drift cannot compare
    │   ├── MetricError                  + ValueError: a metric asked for what it cannot compute
    │   ├── BatchQuarantined             a batch failed validation and went to quarantine
    │   ├── RegistryUnavailable          the MLflow tracking store cannot be reached
    │   ├── InputError                   a request does not match the model's input schema (422)
    │   ├── ServiceError                 a server of ``challenger up`` did not start or stop
    │   └── LockTimeout                  the promotion lock was not free within its time-out
    └── ChampionMoved                    internal signal: a compare-and-set promotion was refused

Internal signals (listed in :data:`INTERNAL`) are not errors a user acts on: the code that
raises them also catches them and reports an outcome instead. They stay outside the
``ChallengerError`` branch so that, should one ever escape, the CLI reports a failure
(exit 1), not bad input.
"""

from __future__ import annotations

from typing import Any, Final


class ChallengerError(Exception):
    """A problem with the user's input or configuration (exit code 2)."""


class ConfigError(ChallengerError):
    """The configuration file or an override is invalid."""


class DataError(ChallengerError):
    """A data file is missing, unreadable or has the wrong shape."""


class LeakageError(DataError):
    """A leakage guard refused the training data (exit code 2)."""


class NoUnseenHoldout(DataError):
    """No row of the data is unseen by both models, so no holdout can judge them (exit code 2)."""


class StatisticsInputError(DataError, ValueError):
    """Inputs to a statistical comparison are unusable (wrong shape, non-finite, too few rows).

    It is a ``ValueError`` for numeric callers and a ``DataError`` (exit code 2) for the CLI.
    """


class DriftInputError(DataError, ValueError):
    """The frames or options given to :func:`measure_drift` cannot be compared.

    A ``ValueError`` for library callers and a ``DataError`` (exit code 2) for the CLI.
    """


class MetricError(ChallengerError, ValueError):
    """A metric of the catalogue was asked for something it cannot compute, or is unknown.

    A ``ValueError`` for library callers and a ``ChallengerError`` (exit code 2) for the CLI.
    """


class BatchQuarantined(ChallengerError):
    """A batch failed validation and was moved to quarantine.

    ``report`` is the quarantine report as Markdown (empty where none was written).
    """

    def __init__(self, message: str, quarantine_path: str, report: str = "") -> None:
        super().__init__(message)
        self.quarantine_path = quarantine_path
        self.report = report


class RegistryUnavailable(ChallengerError):
    """The MLflow tracking store cannot be reached."""


class InputError(ChallengerError):
    """A request's records do not match the model's input schema (HTTP 422)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        first = errors[0]
        super().__init__(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
        self.errors = errors


class ServiceError(ChallengerError):
    """A server could not be started or stopped; the message names its log file."""


class ChampionMoved(Exception):
    """Internal signal: the champion alias moved between evaluation and promotion.

    Raised when a compare-and-set promotion is refused because ``champion`` no longer
    points where the evaluation saw it; the promotion code catches it and reports the
    outcome. Not a ``ChallengerError``: there is nothing wrong with the user's input.
    """


#: Exceptions that are signals between parts of challenger, not errors a user acts on.
INTERNAL: Final[tuple[type[Exception], ...]] = (ChampionMoved,)


class LockTimeout(ChallengerError):
    """The promotion lock was not free within the time-out (its holder is named)."""
