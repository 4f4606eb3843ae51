"""The incoming folder the scheduled monitor scans."""

from __future__ import annotations

from pathlib import Path

from challenger.store.batches import READABLE_SUFFIXES, accepted_batches


def new_batches(incoming_dir: Path, accepted_dir: Path) -> list[Path]:
    """Files in the incoming folder that the monitor has not accepted yet, by name.

    Quarantined files have left the folder and applied label files are archived, so this is
    exactly what the scheduled monitor still has to look at.
    """
    if not incoming_dir.is_dir():
        return []
    accepted = {p.stem for p in accepted_batches(accepted_dir)}
    return sorted(
        p
        for p in incoming_dir.iterdir()
        if p.is_file()
        and p.suffix.lower() in READABLE_SUFFIXES
        and not p.name.startswith(".")
        and p.stem not in accepted
    )
