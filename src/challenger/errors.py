"""Errors a user can act on.

``ChallengerError`` and its subclasses carry one sentence that names the input, what was
wrong and what to do. The CLI turns them into exit code 2 (bad input or configuration);
anything else is exit code 1.
"""

from __future__ import annotations


class ChallengerError(Exception):
    """A problem with the user's input or configuration (exit code 2)."""


class ConfigError(ChallengerError):
    """The configuration file or an override is invalid."""


class DataError(ChallengerError):
    """A data file is missing, unreadable or has the wrong shape."""


class BatchQuarantined(ChallengerError):
    """A batch failed validation and was moved to quarantine."""

    def __init__(self, message: str, quarantine_path: str) -> None:
        super().__init__(message)
        self.quarantine_path = quarantine_path


class RegistryUnavailable(ChallengerError):
    """The MLflow tracking store cannot be reached."""


class ChampionMoved(Exception):
    """The champion alias moved between evaluation and promotion (compare-and-set failed)."""
