"""Quarantine: a failed batch or label file set aside with the evidence of why, and its release.

:func:`quarantine` puts a copy of a failed file aside together with the evidence
(``validation.json`` and a GX data docs page), leaving a file the user named where it is;
:func:`quarantined` lists what waits there and :func:`release` puts a fixed file back into
the configured data folders (incoming or accepted, nowhere else), keeping the record of what
happened under ``released/``.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from challenger.config import Settings
from challenger.errors import DataError
from challenger.monitor.gx_failures import CheckFailure
from challenger.monitor.intake import check_batch, read_incoming
from challenger.monitor.labels import check_labels
from challenger.monitor.schema import batch_schema
from challenger.monitor.validation import ValidationResult
from challenger.store.batches import file_sha256

logger = logging.getLogger(__name__)

_EVIDENCE = "validation.json"
_DATA_DOCS = "data_docs.html"
_RELEASE = "release.json"
_RECORDS = frozenset({_EVIDENCE, _DATA_DOCS, _RELEASE})
RELEASED = "released"
"""Sub-folder of the quarantine folder that keeps the record of released batches."""
QuarantineKind = Literal["batch", "labels"]


def quarantine(
    batch_path: Path,
    result: ValidationResult,
    quarantine_dir: Path,
    *,
    kind: QuarantineKind = "batch",
    move: bool = False,
) -> Path:
    """Copy a batch file into quarantine together with its validation evidence.

    The copy lands in ``quarantine_dir/<batch stem>-<UTC timestamp>/`` next to
    ``validation.json`` (``result.to_dict()``, including GX's report, plus where the file
    came from, its SHA-256, whether the original was kept and what it is) and
    ``data_docs.html`` (GX's data docs page of the validation, when GX's report can be
    rendered). The copy is checked; the original is left where it is, unless ``move``
    (the monitor's own incoming folder), when it is deleted after the check. An existing
    quarantine folder is never reused: a numeric suffix is added instead.

    Args:
        batch_path: The failed file.
        result: The validation result that sent it to quarantine.
        quarantine_dir: Root of the quarantine area; created if missing.
        kind: ``batch`` (features) or ``labels`` (a label file); :func:`release` re-checks
            it as the same kind.
        move: Take the file out of its folder (never for a file the user named).

    Returns:
        The new quarantine folder.

    Raises:
        DataError: If ``batch_path`` is not an existing file or is named like the evidence.
        OSError: If the copy cannot be written or verified; the original is kept.
    """
    batch_path = Path(batch_path)
    if not batch_path.is_file():
        raise DataError(
            f"Cannot quarantine {batch_path}: it is not an existing file; check the batch path."
        )
    if batch_path.name in _RECORDS:
        raise DataError(
            f"Cannot quarantine {batch_path}: its name clashes with the {batch_path.name} "
            "written next to it; rename the batch file."
        )
    quarantine_dir = Path(quarantine_dir)
    quarantine_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    folder = _new_folder(quarantine_dir, f"{batch_path.stem}-{now.strftime('%Y%m%dT%H%M%S%fZ')}")

    target = folder / batch_path.name
    shutil.copy2(batch_path, target)
    if target.stat().st_size != batch_path.stat().st_size:
        raise OSError(
            f"Copy of {batch_path} to {target} is incomplete; the original was kept in place."
        )
    record = result.to_dict() | {
        "source": str(batch_path.resolve()),
        "sha256": file_sha256(target),
        "original_kept": not move,
        "kind": kind,
        "quarantined_at": now.isoformat(),
    }
    evidence = json.dumps(record, indent=2, sort_keys=True, default=str)
    with (folder / _EVIDENCE).open("x", encoding="utf-8") as out:
        out.write(evidence + "\n")
    _write_data_docs(result.report, folder / _DATA_DOCS)
    if move:
        batch_path.unlink()
    logger.info("Quarantined %s in %s%s", batch_path, folder, "" if move else " (a copy)")
    return folder


@dataclass(frozen=True)
class Quarantined:
    """A quarantined file with the record of why.

    Attributes:
        name: The quarantine folder's name (what ``challenger release`` takes).
        folder: The quarantine folder.
        file: The quarantined file inside it (fix it there, or release a replacement).
        source: Where the file was before quarantine (None for records that lack it).
        kind: ``batch`` or ``labels``.
        quarantined_at: When, as an ISO timestamp ("" when unknown).
        failures: The failed checks, as recorded.
        data_docs: GX's data docs page, when one was written.
        original_kept: Whether the original was left at ``source`` (a copy was quarantined).
        sha256: The quarantined file's SHA-256 as it arrived (None for older records).
    """

    name: str
    folder: Path
    file: Path | None
    source: Path | None
    kind: QuarantineKind
    quarantined_at: str
    failures: tuple[CheckFailure, ...]
    data_docs: Path | None
    original_kept: bool = False
    sha256: str | None = None

    def summary(self, limit: int = 3) -> str:
        """The first failures, one sentence each."""
        shown = "; ".join(f.message for f in self.failures[:limit])
        more = len(self.failures) - limit
        return (shown + (f"; and {more} more" if more > 0 else "")) or "no readable report"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {
            "name": self.name,
            "batch": self.file.name if self.file else self.name,
            "path": str(self.folder),
            "file": None if self.file is None else str(self.file),
            "source": None if self.source is None else str(self.source),
            "original_kept": self.original_kept,
            "kind": self.kind,
            "quarantined_at": self.quarantined_at,
            "failed_checks": len(self.failures),
            "failures": [f.to_dict() for f in self.failures],
            "summary": self.summary(),
            "data_docs": None if self.data_docs is None else str(self.data_docs),
        }


def quarantined(quarantine_dir: Path) -> list[Quarantined]:
    """The files waiting in quarantine, oldest first (released ones are not listed)."""
    quarantine_dir = Path(quarantine_dir)
    if not quarantine_dir.is_dir():
        return []
    found = [
        _read_quarantined(folder)
        for folder in quarantine_dir.iterdir()
        if folder.is_dir() and folder.name != RELEASED and not folder.name.startswith(".")
    ]
    return sorted(found, key=lambda q: (q.quarantined_at, q.name))


def unchanged_originals(quarantine_dir: Path, folder: Path) -> list[Path]:
    """Originals in ``folder`` whose copy waits in quarantine and that have not changed since.

    The scheduled monitor skips them: they were looked at once already (a user named one
    with ``--batch``); a fixed original has another hash and is looked at again.
    """
    root = folder.resolve()
    unchanged = []
    for entry in quarantined(quarantine_dir):
        source = entry.source
        if not (entry.original_kept and entry.sha256 and source is not None):
            continue
        here = source.parent.resolve() == root and source.is_file()
        if here and file_sha256(source) == entry.sha256:
            unchanged.append(source)
    return unchanged


def find_quarantined(quarantine_dir: Path, name: str) -> Quarantined:
    """The quarantined entry called ``name``: its folder name, or its file's name or stem.

    Raises:
        DataError: Nothing, or more than one entry, matches ``name``.
    """
    entries = quarantined(quarantine_dir)
    exact = [q for q in entries if q.name == name]
    if exact:
        return exact[0]
    matches = [q for q in entries if q.file is not None and name in (q.file.name, q.file.stem)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(q.name for q in entries) or "none"
        raise DataError(
            f"Nothing in quarantine ({quarantine_dir}) is called {name!r}; quarantined: {known}."
        )
    raise DataError(
        f"{len(matches)} quarantined entries hold a file called {name!r} "
        f"({', '.join(q.name for q in matches)}); name the folder instead."
    )


def release(
    entry: Quarantined,
    destination: Path | None = None,
    *,
    revalidation: ValidationResult | None,
    allowed: Sequence[Path],
    replacement: Path | None = None,
) -> Path:
    """Put a fixed file back into a data folder, and archive its quarantine record.

    The file (``replacement`` if given, else the quarantined file, fixed in place) is copied
    to ``destination``, the copy is checked, and the quarantine folder moves to
    ``<quarantine>/released/`` with a ``release.json`` saying when, where to and on what
    evidence: nothing is lost. Only the ``allowed`` folders (the configured incoming and
    accepted folders) and their sub-folders are written to, whatever the record says.

    By default the file goes back to the folder it came from when that is an allowed one;
    a copy of a file the user named elsewhere (its original was kept) goes into the first
    allowed folder (incoming). An unchanged original at the destination (the very file the
    copy was taken from) is replaced by the fixed file; any other file there is kept.

    Args:
        entry: The quarantined entry (see :func:`find_quarantined`).
        destination: Folder to release into; default as above.
        revalidation: The file validated again after the fix; None releases without
            checking (``--force``), which the record says.
        allowed: The folders a release may write into; the first is the default.
        replacement: A fixed copy to release instead of the quarantined file.

    Returns:
        The released file's new path.

    Raises:
        DataError: The file still fails validation or is missing, the destination is
            outside the allowed folders, or another file of that name exists there.
    """
    source = Path(replacement) if replacement is not None else entry.file
    if source is None or not source.is_file():
        raise DataError(
            f"Quarantine folder {entry.folder} holds no file to release; pass the fixed "
            "file with --file PATH."
        )
    if revalidation is not None and not revalidation.success:
        raise DataError(
            f"{source.name} still fails validation, so it stays in quarantine "
            f"({entry.folder}): {revalidation.summary()} Fix it and release again, or "
            "release it with --force."
        )
    folder = _destination(entry, destination, allowed)
    name = entry.file.name if entry.file is not None else source.name
    target = folder / name
    if target.exists() and not _is_unchanged_original(entry, target):
        raise DataError(
            f"Cannot release {name} to {target}: a file of that name exists there; move it "
            "or pass --to FOLDER."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.release")
    shutil.copy2(source, partial)
    if partial.stat().st_size != source.stat().st_size:
        partial.unlink()
        raise OSError(f"Copy of {source} to {target} is incomplete; nothing was released.")
    partial.replace(target)
    record = {
        "released_at": datetime.now(UTC).isoformat(),
        "released_to": str(target),
        "released_file": str(source),
        "forced": revalidation is None,
        "revalidation": None if revalidation is None else revalidation.summary(),
    }
    (entry.folder / _RELEASE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    archive = entry.folder.parent / RELEASED
    archive.mkdir(exist_ok=True)
    moved = _new_folder(archive, entry.folder.name)
    moved.rmdir()
    shutil.move(str(entry.folder), str(moved))
    logger.info("Released %s to %s; its record is in %s", source, target, moved)
    return target


def _inside(folder: Path, roots: Sequence[Path]) -> bool:
    resolved = folder.resolve()
    return any(resolved.is_relative_to(root.resolve()) for root in roots)


def _destination(entry: Quarantined, requested: Path | None, allowed: Sequence[Path]) -> Path:
    """The folder a release writes into: inside the allowed folders, or refused."""
    names = " or ".join(str(a) for a in allowed)
    if requested is not None:
        if not _inside(Path(requested), allowed):
            raise DataError(
                f"Cannot release {entry.name} to {requested}: releases go only into the "
                f"configured data folders ({names}); pass --to one of them."
            )
        return Path(requested)
    if entry.source is not None and _inside(entry.source.parent, allowed):
        return entry.source.parent
    if entry.source is None or entry.original_kept:
        return allowed[0]  # the original stays with the user; the fixed copy is new data
    raise DataError(
        f"The quarantine record in {entry.folder} says the file came from {entry.source}, "
        f"outside the configured data folders ({names}); pass --to one of them."
    )


def _is_unchanged_original(entry: Quarantined, target: Path) -> bool:
    """Whether ``target`` is the very file the quarantined copy was taken from, unchanged."""
    return (
        entry.original_kept
        and entry.sha256 is not None
        and entry.source is not None
        and not target.is_symlink()
        and target.resolve() == entry.source.resolve()
        and file_sha256(target) == entry.sha256
    )


def _read_quarantined(folder: Path) -> Quarantined:
    try:
        record = json.loads((folder / _EVIDENCE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        record = {}
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and p.name not in _RECORDS and p.name[0] != "."
    )
    failures = tuple(
        CheckFailure(
            column=f.get("column"),
            expectation=str(f.get("expectation", "")),
            unexpected_count=int(f.get("unexpected_count") or 0),
            message=str(f.get("message", "")),
        )
        for f in record.get("failures", [])
        if isinstance(f, Mapping)
    )
    kind = record.get("kind", "batch")
    docs = folder / _DATA_DOCS
    sha = record.get("sha256")
    return Quarantined(
        name=folder.name,
        folder=folder,
        file=files[0] if files else None,
        source=Path(record["source"]) if record.get("source") else None,
        kind="labels" if kind == "labels" else "batch",
        quarantined_at=str(record.get("quarantined_at", "")),
        failures=failures,
        data_docs=docs if docs.is_file() else None,
        original_kept=record.get("original_kept") is True,
        sha256=sha if isinstance(sha, str) else None,
    )


def _write_data_docs(report: Mapping[str, Any], path: Path) -> bool:
    """Render GX's data docs page for one validation result; False when it cannot."""
    if not report.get("results"):
        return False
    try:
        from great_expectations.core.expectation_validation_result import (
            ExpectationSuiteValidationResultSchema,
        )
        from great_expectations.render.renderer.page_renderer import (
            ValidationResultsPageRenderer,
        )
        from great_expectations.render.view.view import DefaultJinjaPageView

        loaded = ExpectationSuiteValidationResultSchema().load(dict(report))
        document = ValidationResultsPageRenderer().render(loaded)
        html = DefaultJinjaPageView().render(document)
    except Exception as exc:  # the JSON evidence is the record; the page is a convenience
        logger.warning("Could not render GX data docs for %s: %s", path.parent, exc)
        return False
    path.write_text(str(html), encoding="utf-8")
    return True


def _new_folder(parent: Path, name: str) -> Path:
    """Create and return a folder under ``parent`` that did not exist before."""
    for attempt in range(1000):
        candidate = parent / (name if attempt == 0 else f"{name}-{attempt}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise OSError(f"Could not create a new quarantine folder for {name!r} in {parent}.")


def release_quarantined(
    settings: Settings,
    name: str,
    reference: Callable[[], pd.DataFrame | None],
    *,
    replacement: Path | None = None,
    destination: Path | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Validate a fixed quarantined file again and, if it passes, release it.

    A batch is read in the schema's dtypes and checked against the same suite as the
    monitor's (categories from the current champion's training data); a label file must
    again join accepted rows. The file goes back to the incoming folder it came from (or
    ``destination``, which must be the incoming or the accepted folder, or inside one); the
    record moves to ``<quarantine>/released/``.

    Args:
        settings: The configuration.
        name: The quarantine folder's name, or the quarantined file's name.
        reference: Gives the champion's training data (read only when a batch is checked).
        replacement: A fixed copy to release instead of the quarantined file.
        destination: Folder to release into (default: where it came from when that is a
            data folder, else the incoming folder).
        force: Release without validating again.

    Returns:
        What was released, where to, and on what evidence.

    Raises:
        DataError: Nothing matches ``name``, the file still fails validation, or the
            destination is outside the data folders.
    """
    entry = find_quarantined(settings.path(settings.data.quarantine_dir), name)
    d = settings.data
    allowed = (settings.path(d.incoming_dir), settings.path(d.accepted_dir))
    _destination(entry, destination, allowed)  # refuse before any reading or validation
    checked = Path(replacement) if replacement is not None else entry.file
    revalidation: ValidationResult | None = None
    if not force:
        if checked is None:
            raise DataError(
                f"Quarantine folder {entry.folder} holds no file; pass the fixed one with --file."
            )
        batch = read_incoming(checked, settings)
        if entry.kind == "labels":
            revalidation, _ = check_labels(batch, settings, settings.path(d.accepted_dir))
        else:
            revalidation = check_batch(
                batch, batch_schema(settings, reference(), incoming=checked.stem)
            )
    released = release(
        entry, destination, revalidation=revalidation, allowed=allowed, replacement=replacement
    )
    return {
        "name": entry.name,
        "kind": entry.kind,
        "released_to": str(released),
        "forced": force,
        "revalidation": None if revalidation is None else revalidation.summary(),
        "record": str(settings.path(settings.data.quarantine_dir) / RELEASED / entry.name),
        "next": f"challenger monitor --batch {released}",
    }
