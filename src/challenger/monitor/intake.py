"""Intake: what comes in is read in the schema's dtypes and checked; the incoming folder's new files.

:func:`read_incoming` reads a batch or label file in the schema's dtypes
(``challenger.store.batches.conform``) and :func:`check_batch` validates it, counting values
no dtype could hold (an integer beyond 64 bits) as failed checks; the monitor, the release
of a quarantined file and the label join all go through them. :func:`new_batches` lists
what the scheduled monitor still has to look at.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from challenger.config import Settings
from challenger.monitor.gx_failures import CheckFailure
from challenger.monitor.validation import (
    BatchSchema,
    ValidationResult,
    validate_batch,
)
from challenger.store.batches import (
    READABLE_SUFFIXES,
    WIDTH_EXPECTATION,
    Conformed,
    accepted_batches,
    read_batch,
)


def read_incoming(path: Path, settings: Settings) -> Conformed:
    """Read a batch or label file in the schema's dtypes.

    Raises:
        DataError: The file is missing or cannot be read.
    """
    return read_batch(path, settings.data)


def check_batch(batch: Conformed, schema: BatchSchema) -> ValidationResult:
    """Validate a conformed batch; values no dtype could hold fail it too, listed first."""
    result = validate_batch(batch.frame, schema)
    if not batch.problems:
        return result
    failures = tuple(
        CheckFailure(p.column, WIDTH_EXPECTATION, p.count, p.message) for p in batch.problems
    )
    return ValidationResult(
        success=False,
        n_rows=result.n_rows,
        n_expectations=result.n_expectations + len(failures),
        failures=failures + result.failures,
        report=result.report,
    )


def new_batches(incoming_dir: Path, accepted_dir: Path, skip: Collection[Path] = ()) -> list[Path]:
    """Files in the incoming folder that the monitor has not accepted yet, oldest first.

    Files the scheduled monitor quarantined have left the folder and applied label files
    are archived; ``skip`` names files still there that wait in quarantine unchanged (a
    copy quarantined from a path the user named), so each is looked at once.
    """
    if not incoming_dir.is_dir():
        return []
    accepted = {p.stem for p in accepted_batches(accepted_dir)}
    skipped = {p.resolve() for p in skip}
    found = [
        p
        for p in incoming_dir.iterdir()
        if p.is_file()
        and p.suffix.lower() in READABLE_SUFFIXES
        and not p.name.startswith(".")
        and p.stem not in accepted
        and p.resolve() not in skipped
    ]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))
