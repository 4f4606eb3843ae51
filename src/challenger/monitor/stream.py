"""The check of a Parquet batch too large to hold in memory: row groups, bounded memory.

:func:`is_large` says from the file's Parquet metadata alone (no rows read) whether a batch
has more than ``data.stream_rows`` rows; :func:`check_large_batch` then checks it in bounded
chunks (``pyarrow.parquet.ParquetFile.iter_batches``) and returns the same
:class:`~challenger.monitor.check.Checked` the in-memory path does:

* validation: every chunk is conformed (``store.batches.conform``) and validated with the
  same schema (``monitor.schema.batch_schema``) as the in-memory path; the chunk results are
  merged (rows added, failures combined). A failure in any chunk quarantines the whole file,
  exactly as the in-memory path does, and nothing is accepted. Known difference: the
  "seen before" duplicate check (``data``'s duplicate rule) runs within each chunk, so a
  duplicate whose two rows fall in different chunks is not seen.
* acceptance: the file is rewritten chunk by chunk with a ``ParquetWriter`` into
  ``data.accepted_dir`` under the batch's name, with the metadata ``accept_batch`` stamps
  (its newest timestamp, when it was first accepted), so the store orders it the same way.
* drift: decided from the champion's stored sketch only (``drift.engine`` other than
  ``evidently``). Categorical columns (and a multiclass prediction) by their counts, summed
  over the chunks; numeric columns one column at a time (one float column of the batch in
  memory, read back from the accepted file), with the champion's score computed chunk by
  chunk. The verdicts equal the in-memory sketch engine's. Evidently's HTML report is not
  drawn (it needs the rows in memory): a log line says so.
* concept watch and the performance-based trigger are skipped (the concept watch joins the
  batch's labelled rows in memory); the trigger policy decides from drift and the schedule.
* the rest is the in-memory path's own end (``check.record_measured``): the champion
  lineage's verdict and plot, and the MLflow monitor run with the drift and the decision.
* batch shadow (``rollout.shadow.batch``) does not score a streamed batch: a log line says so.

A champion without a usable sketch (or ``drift.engine: evidently``) gets no drift measure on
this path: a warning says so, and the batch is still validated and accepted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from challenger.monitor import assess
from challenger.monitor.drift import DriftResult
from challenger.monitor.drift.fast import _drop_missing
from challenger.monitor.drift.measure import _decided
from challenger.monitor.drift.result import ColumnDrift, DriftKind
from challenger.monitor.drift.sketch import ReferenceSketch, _counted_column, sketch_drifts
from challenger.monitor.intake import check_batch
from challenger.monitor.schema import batch_schema
from challenger.monitor.validation import ValidationResult
from challenger.problem import prediction_for_drift
from challenger.results import FileCheck
from challenger.store.batches import (
    _ACCEPTED,
    _NEWEST,
    _metadata,
    _stamp,
    as_time,
    conform,
    read_chunks,
)

if TYPE_CHECKING:
    from challenger.config import Settings
    from challenger.monitor.check import Checked, _At

CHUNK_ROWS = 250_000
"""Rows read at once (bounds the memory of every pass)."""


def parquet_rows(path: Path) -> int | None:
    """The rows of a Parquet file from its footer (no rows read); None for other files."""
    if path.suffix.lower() not in (".parquet", ".pq") or not path.is_file():
        return None
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except Exception:  # unreadable: the ordinary path reports it
        return None


def is_large(path: Path, settings: Settings) -> bool:
    """Whether a batch takes the streaming path: a Parquet file of more than ``stream_rows``."""
    limit = settings.data.stream_rows
    if limit is None:
        return False
    rows = parquet_rows(path)
    return rows is not None and rows > limit


def merge_validations(results: list[ValidationResult]) -> ValidationResult:
    """One result for the whole file: rows added, failures combined (same failure summed).

    The expectations are the same suite on every chunk, so their number is one chunk's.
    """
    if not results:
        return ValidationResult(True, 0, 0, (), {})
    merged: dict[tuple[str | None, str], Any] = {}
    for r in results:
        for f in r.failures:
            key = (f.column, f.expectation)
            if key in merged:
                prev = merged[key]
                merged[key] = replace(
                    prev, unexpected_count=prev.unexpected_count + f.unexpected_count
                )
            else:
                merged[key] = f
    failing = next((r for r in results if not r.success), results[0])
    return ValidationResult(
        success=all(r.success for r in results),
        n_rows=sum(r.n_rows for r in results),
        n_expectations=max(r.n_expectations for r in results),
        failures=tuple(merged.values()),
        report=failing.report,
    )


def check_large_batch(at: _At) -> Checked:
    """Validate, accept and measure drift of a large Parquet batch in bounded chunks.

    Raises:
        BatchQuarantined: A chunk failed validation; the whole file is in quarantine.
    """
    from challenger.monitor.check import Checked, _quarantine, record_measured

    path, settings, log = at.path, at.settings, at.log
    d, batch_id = settings.data, path.stem
    registry, tracking = at.stores
    champion = registry.champion()
    reference = tracking.load_reference(champion.run_id) if champion else None
    schema = batch_schema(settings, reference, incoming=batch_id)
    sketch = (
        assess.drift_sketch(tracking.load_sketch(champion.run_id), settings) if champion else None
    )
    model = registry.load_model(champion.version) if champion and sketch is not None else None
    log.info("Batch %s: %s rows, checked in chunks of %d", batch_id, parquet_rows(path), CHUNK_ROWS)

    acc = _Accumulator(settings, model)
    results = []
    for frame in read_chunks(path, rows=CHUNK_ROWS):
        batch = conform(frame, d)
        results.append(check_batch(batch, schema))
        if results[-1].success:
            acc.add(batch.frame)
    validation = merge_validations(results)
    if not validation.success:
        _quarantine(path, validation, settings, kind="batch", move=at.owned)
    accepted = _accept_streamed(path, batch_id, settings, acc.newest)
    log.info(
        "Batch %s passed %d expectations on %d rows (streamed)",
        batch_id, validation.n_expectations, validation.n_rows,
    )  # fmt: skip
    if champion is None or reference is None:
        decision = assess.first_model_decision(settings, at.reason)
        version = champion.version if champion else None
        checked = FileCheck(batch_id, "batch", "accepted", validation.n_rows, version, decision)
        return Checked(checked, validation)
    drift = None
    if sketch is None:
        log.warning(
            "Batch %s is streamed and the champion has no usable drift sketch "
            "(drift.engine: sketch): drift was not measured",
            batch_id,
        )
    else:
        drift = streamed_drift(sketch, acc, accepted, settings)
    log.info("Streamed batch %s: no Evidently HTML report and no concept watch", batch_id)
    if settings.rollout.shadow.batch:
        log.warning(
            "Streamed batch %s is not batch-shadowed (too large to score in memory)", batch_id
        )
    versions = registry.versions()
    newest = max((v.created_ms for v in versions), default=0)
    decision = assess.trigger_decision(
        settings, champion, model, newest, at.reason, drift, None, None, None
    )
    checked = FileCheck(
        batch_id, "batch", "accepted", validation.n_rows, champion.version, decision, drift
    )
    if drift is None:
        return Checked(checked, validation)
    log.info("Drift: %s", drift.summary())
    html = settings.path(d.reports_dir) / f"{batch_id}-drift.html"
    html.unlink(missing_ok=True)  # no report on this path: an older one is not this batch's
    run_id, effect = record_measured(at, checked, drift, versions, html)
    return Checked(checked, validation, run_id, None, effect)


class _Accumulator:
    """What drift needs from the batch, summed chunk by chunk."""

    def __init__(self, settings: Settings, model: Any) -> None:
        self.settings, self.model = settings, model
        self.n = 0
        self.present: Counter[str] = Counter()
        self.counts: dict[str, Counter[Any]] = {}
        self.scores: list[np.ndarray] = []
        self.newest: pd.Timestamp | None = None

    def add(self, frame: pd.DataFrame) -> None:
        d = self.settings.data
        self.n += len(frame)
        ts = d.timestamp
        if ts and ts in frame.columns:
            latest = as_time(frame[ts]).max()
            if isinstance(latest, pd.Timestamp) and not pd.isna(latest):
                self.newest = latest if self.newest is None else max(self.newest, latest)
        if self.model is None:
            return
        for c in (*d.numeric, *d.categorical, d.target):
            if c in frame.columns:
                self.present[c] += int(frame[c].notna().sum())
        counted = list(d.categorical)
        if d.task != "regression" and d.target in frame.columns:
            counted.append(d.target)
        for c in counted:
            if c in frame.columns:
                vc = _drop_missing(frame[c]).value_counts(sort=False)
                self.counts.setdefault(c, Counter()).update(dict(vc.items()))
        score = prediction_for_drift(self.model, frame[list(d.features)], d.task)
        if d.task == "multiclass":
            vc = _drop_missing(pd.Series(score)).value_counts(sort=False)
            self.counts.setdefault(assess.PREDICTION, Counter()).update(dict(vc.items()))
        else:
            self.scores.append(np.asarray(score, dtype="float64"))


def _accept_streamed(
    path: Path, batch_id: str, settings: Settings, newest: pd.Timestamp | None
) -> Path:
    """Rewrite the conformed batch chunk by chunk into the accepted store (as accept_batch)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = settings.path(settings.data.accepted_dir) / f"{batch_id}.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    first = _metadata(out).get(_ACCEPTED) if out.exists() else None
    meta = {
        _NEWEST: _stamp(newest) if newest is not None else b"",
        _ACCEPTED: first or _stamp(datetime.now(UTC)),
    }
    tmp = out.with_name(f".{out.name}.tmp")
    writer = None
    schema = None
    try:
        for frame in read_chunks(path, rows=CHUNK_ROWS):
            table = pa.Table.from_pandas(
                conform(frame, settings.data).frame, schema=schema, preserve_index=False
            )
            if writer is None:
                schema = table.schema.with_metadata({**(table.schema.metadata or {}), **meta})
                table = table.replace_schema_metadata(schema.metadata)
                writer = pq.ParquetWriter(tmp, schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    tmp.replace(out)
    return out


def streamed_drift(
    sketch: ReferenceSketch, acc: _Accumulator, accepted: Path, settings: Settings
) -> DriftResult | None:
    """The sketch engine's drift decision from the summed counts and one column at a time."""
    d = settings.data
    ref = sketch.columns

    def measurable(columns: tuple[str, ...]) -> list[str]:
        return [c for c in columns if ref[c].n > 0 and acc.present[c] > 0]

    numeric, categorical = measurable(d.numeric), measurable(d.categorical)
    if not numeric and not categorical:
        return None
    cfg = settings.drift
    kinds: dict[str, DriftKind] = dict.fromkeys(numeric, "numeric")
    kinds.update(dict.fromkeys(categorical, "categorical"))
    prediction_kind: DriftKind = "categorical" if d.task == "multiclass" else "numeric"
    kinds[assess.PREDICTION] = prediction_kind
    target_kind: DriftKind = "numeric" if d.task == "regression" else "categorical"
    if acc.present[d.target] > 0 and d.target in ref and ref[d.target].n > 0:
        kinds[d.target] = target_kind
    methods = {c: cfg.per_column_method.get(c, cfg.method) for c in (*numeric, *categorical)}
    for extra in (assess.PREDICTION, d.target):
        if extra in kinds:
            methods[extra] = cfg.method
    thresholds = {c: cfg.per_column_threshold.get(c, cfg.threshold) for c in methods}
    drifts: dict[str, ColumnDrift] = {}
    for name, kind in kinds.items():
        if kind == "categorical":
            counts = dict(acc.counts.get(name, {}))
            drifts[name] = _counted_column(name, ref[name], counts, methods, thresholds)
            continue
        if name == assess.PREDICTION:
            values = np.concatenate(acc.scores) if acc.scores else np.empty(0)
            acc.scores.clear()  # one copy of the scores at a time
        else:
            values = _column(accepted, name)
        frame = pd.DataFrame({name: values}, copy=False)
        del values
        drifts.update(sketch_drifts({name: ref[name]}, frame, {name: kind}, methods, thresholds))
        del frame
    spec = assess._drift_options(settings, numeric, categorical, True)
    return _decided({c: drifts[c] for c in kinds}, spec, sketch.n_rows, acc.n, "sketch", None, ())


def _column(path: Path, name: str) -> np.ndarray:
    import pyarrow.parquet as pq

    col = pq.read_table(path, columns=[name], pre_buffer=False).column(name)
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype="float64")
