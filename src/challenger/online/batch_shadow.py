"""Batch shadow: score one accepted batch with the champion and every shadow version.

The scheduled-job shape of a shadow deployment (issue 14, item 1). The batch's features are
prepared once; the champion's outputs and each shadow's outputs go to the same prediction log
the serving app writes (``strategy`` "shadow", attribute ``source`` = "batch"), under the
request id ``batch:<batch id>`` with one row per batch row. A batch already in the log is not
scored again (a re-run adds nothing). A shadow that fails never fails the batch: its error is
stored on its shadow rows. Labels that arrive later are stored as feedback on the same rows, so
:meth:`LogStore.shadow_pairs` pairs champion and shadow on labelled rows, and
:func:`compare` runs the gate's paired bootstrap on them.

The log keeps each task's output as the serving app does: the positive-class probability
(binary), the prediction (regression), or the predicted class's code with the class
probabilities in ``proba`` (multiclass, columns in the champion's class order; a shadow's are
aligned to the same classes). Labels are kept as the app keeps them (0/1, the value, the
class's code).

Two ways in: the monitor scores every accepted batch when ``rollout.shadow.batch`` is on
(:func:`shadow_accepted`, a step of ``challenger.monitor.check``) and records the labels of a
label file for the rows it labels (:func:`label_rows`); ``challenger shadow --batch FILE``
scores a file outside the monitor (:func:`run_file`). Either way the online analysis
(``challenger.online.review``) judges each shadow on the labelled pairs with the gate's paired
statistics and records promote / keep watching / roll back on the version.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import orjson
import pandas as pd

from challenger.errors import ConfigError
from challenger.online.log import (
    FeedbackRow,
    LogStore,
    PredictionRow,
    ShadowRow,
    fingerprint_record,
)
from challenger.online.log_sql import write_columns
from challenger.online.log_writer import LogWriter
from challenger.online.review import store_for
from challenger.online.serve.models import resolve
from challenger.problem import model_classes, model_scores
from challenger.store.batches import as_text, read_table

if TYPE_CHECKING:
    from challenger.config import Settings
    from challenger.store.registry import Registry


def request_id(batch_id: str) -> str:
    """The prediction-log request id of one batch."""
    return f"batch:{batch_id}"


@dataclass(frozen=True)
class BatchShadowOutcome:
    """What scoring one batch did.

    Attributes:
        batch_id: The batch.
        scored: False when the batch was already in the log (nothing was written).
        champion_scores: The champion's output per row (None when nothing was scored).
        shadow_errors: Shadow version → its error (only the versions that failed).
    """

    batch_id: str
    scored: bool
    champion_scores: np.ndarray | None
    shadow_errors: Mapping[int, str] = field(default_factory=dict)


def _timed_scores(
    model: Any, X: pd.DataFrame, task: str, classes: Sequence[Any] | None
) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    scores = np.asarray(model_scores(model, X, task, classes), dtype=float)
    if task != "multiclass":
        scores = scores.reshape(-1)
    if len(scores) != len(X):
        raise ValueError(f"{len(scores)} outputs for {len(X)} rows")
    return scores, (time.perf_counter() - start) * 1000.0 / max(len(X), 1)


def score_batch(
    log: LogStore,
    batch_id: str,
    X: pd.DataFrame,
    task: str,
    champion: tuple[int, Any],
    shadows: Mapping[int, Any],
    *,
    labels: Sequence[float | None] | None = None,
    now: float | None = None,
    champion_scored: tuple[np.ndarray, float] | None = None,
) -> BatchShadowOutcome:
    """Score a batch with the champion and each shadow, storing every output in the log.

    Args:
        log: The prediction log the serving app uses.
        batch_id: The batch's id (a re-run with the same id writes nothing).
        X: The batch's prepared feature rows.
        task: binary, multiclass or regression.
        champion: (version, fitted model) of the champion.
        shadows: Shadow version → fitted model.
        labels: The rows' labels as the log keeps them (see :func:`label_codes`), None
            for a row without one; the labelled rows are stored as feedback at once.
        now: Timestamp of the rows (default: the clock).
        champion_scored: The champion's outputs on ``X`` and the milliseconds per row they
            took, when the caller has them already (``challenger.problem.model_scores``;
            binary or regression): not computed again.

    Raises:
        Exception: Whatever the champion raises (the batch job's own failure).
    """
    rid = request_id(batch_id)
    if log.records_of(rid) is not None:
        return BatchShadowOutcome(batch_id, scored=False, champion_scores=None)
    ts = time.time() if now is None else now
    version, model = champion
    classes = model_classes(model) if task == "multiclass" else None
    if champion_scored is not None and task != "multiclass" and len(champion_scored[0]) == len(X):
        scores, per_row_ms = (
            np.asarray(champion_scored[0], dtype=float).reshape(-1),
            champion_scored[1],
        )
    else:
        scores, per_row_ms = _timed_scores(model, X, task, classes)
    n = len(X)
    idx = range(n)
    champ_score, champ_proba = _stored(scores)
    tables: list[tuple[type, dict[str, Any]]] = [
        (
            PredictionRow,
            {
                "request_id": rid, "idx": idx, "ts": ts, "user_id": None, "strategy": "shadow",
                "experiment": None, "arm": "champion", "variant": "champion",
                "model_version": version, "challenger_version": None, "stage": None,
                "record": [fingerprint_record({"batch": batch_id, "row": i}) for i in idx],
                "score": champ_score, "model_ms": per_row_ms, "latency_ms": per_row_ms,
                "status": "ok", "error": None, "attributes": _SOURCE, "flagged": None,
                "proba": champ_proba,
            },
        )
    ]  # fmt: skip
    errors: dict[int, str] = {}
    for shadow_version, shadow in shadows.items():
        try:
            out, ms = _timed_scores(shadow, X, task, classes)
            score, proba = _stored(out)
            error = None
        except Exception as exc:  # a shadow's failure is recorded, never raised
            score, proba, ms, error = None, None, None, f"{type(exc).__name__}: {exc}"
            errors[shadow_version] = error
        tables.append(
            (
                ShadowRow,
                {
                    "request_id": rid, "idx": idx, "model": f"v{shadow_version}", "ts": ts,
                    "model_version": shadow_version, "score": score, "model_ms": ms,
                    "error": error, "proba": proba,
                },
            )
        )  # fmt: skip
    if labels is not None:
        known = [(i, y) for i, y in enumerate(labels) if y is not None]
        feedback = {
            "request_id": rid,
            "idx": [i for i, _ in known],
            "label": [float(y) for _, y in known],
            "value": None,
            "ts": ts,
        }
        tables.append((FeedbackRow, feedback))
    try:
        write_columns(log, tables)
    except sqlite3.Error as exc:
        raise RuntimeError(f"the prediction log refused the batch: {exc}") from exc
    return BatchShadowOutcome(batch_id, scored=True, champion_scores=scores, shadow_errors=errors)


#: The attributes of every batch row, as the log stores them.
_SOURCE: Final = orjson.dumps({"source": "batch"}).decode()


def _stored(out: np.ndarray) -> tuple[list[float], list[str] | None]:
    """A model's outputs as the log stores them: scores, and class probabilities (JSON) when
    the outputs are rows of them (multiclass: the score is the predicted class's code)."""
    if out.ndim == 1:
        return out.astype(float).tolist(), None
    return out.argmax(axis=1).astype(float).tolist(), [
        orjson.dumps(r).decode() for r in out.tolist()
    ]


def _write(log: LogStore, rows: Sequence[PredictionRow | ShadowRow | FeedbackRow]) -> None:
    writer = LogWriter(log)
    try:
        writer.put_many(rows)
    finally:
        writer.close()
    if writer.failed:
        raise RuntimeError(f"the prediction log refused the batch: {writer.last_error}")


def record_labels(
    log: LogStore,
    batch_id: str,
    labels: Sequence[float | None],
    *,
    rows: Sequence[int] | None = None,
    now: float | None = None,
) -> int:
    """Store labels of a batch's rows: ``labels[j]`` for row ``rows[j]`` (default: row j).

    Labels are as the log keeps them (:func:`label_codes`); None is skipped. A row that
    already has its label keeps it (the log's first label wins). Returns labels sent.
    """
    ts = time.time() if now is None else now
    rid = request_id(batch_id)
    at = range(len(labels)) if rows is None else rows
    sent = [
        FeedbackRow(rid, int(i), float(y), None, ts)
        for i, y in zip(at, labels, strict=True)
        if y is not None
    ]
    _write(log, sent)
    return len(sent)


def label_codes(values: pd.Series, task: str, classes: Sequence[Any] | None) -> list[float | None]:
    """Labels as the prediction log keeps them: the value (regression), 0/1 (binary), the
    class's code among ``classes`` (multiclass; a class the champion does not know is None,
    as is a missing label)."""
    index: dict[Any, int] = {}
    for i, c in enumerate(classes or ()):
        index.setdefault(c, i)
        index.setdefault(str(c), i)
    out: list[float | None] = []
    for v in values.tolist():
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(None)
        elif task == "multiclass":
            code = index.get(v, index.get(str(v)))
            out.append(None if code is None else float(code))
        else:
            out.append(float(v))
    return out


def _shadow_models(
    settings: Settings, registry: Registry, champion_version: int
) -> tuple[dict[int, Any], dict[int, str]]:
    """The configured shadow versions' models, and the errors of those that cannot load."""
    shadows: dict[int, Any] = {}
    failed: dict[int, str] = {}
    for ref in settings.rollout.shadow.models:
        version = resolve(registry, ref)
        if version is None or version == champion_version or version in shadows:
            continue
        try:
            shadows[version] = registry.load_model(version)
        except Exception as exc:  # a shadow that cannot load never fails the batch
            failed[version] = f"{type(exc).__name__}: {exc}"
    return shadows, failed


def shadow_accepted(
    settings: Settings,
    registry: Registry,
    batch_id: str,
    frame: pd.DataFrame,
    champion: tuple[int, Any],
    *,
    champion_scored: tuple[np.ndarray, float] | None = None,
) -> BatchShadowOutcome:
    """The monitor's step: score an accepted batch with the champion (already loaded) and
    every configured shadow into the prediction log; labelled rows are stored at once.
    ``champion_scored``: the champion's outputs and milliseconds per row, when the monitor
    computed them already."""
    shadows, failed = _shadow_models(settings, registry, champion[0])
    d = settings.data
    classes = model_classes(champion[1]) if d.task == "multiclass" else None
    labels = label_codes(frame[d.target], d.task, classes) if d.target in frame else None
    out = score_batch(
        store_for(settings),
        batch_id,
        frame[list(d.features)],
        d.task,
        champion,
        shadows,
        labels=labels,
        champion_scored=champion_scored,
    )
    return BatchShadowOutcome(
        out.batch_id, out.scored, out.champion_scores, {**failed, **out.shadow_errors}
    )


def label_rows(
    settings: Settings, registry: Registry, labelled: Sequence[tuple[str, pd.DataFrame]]
) -> int:
    """Store the labels a label file brought for batch-shadowed rows (by their place in their
    accepted batch); batches that were not shadowed are skipped. Returns labels stored.

    ``labelled``: ``(batch id, rows)`` with ``data.id_column`` and the target, as
    ``challenger.monitor.labels.newly_labelled`` gives them.
    """
    if not settings.path(settings.serving.prediction_log).exists():
        return 0
    accepted = settings.path(settings.data.accepted_dir)
    batches = [(b, lambda b=b: read_table(accepted / f"{b}.parquet"), rows) for b, rows in labelled]
    return _store_labels(settings, registry, batches)


def _store_labels(
    settings: Settings,
    registry: Registry,
    batches: Sequence[tuple[str, Callable[[], pd.DataFrame], pd.DataFrame]],
) -> int:
    """Labels by row id into the log, as codes of the classes of the champion that scored
    each batch. ``batches``: (batch id, reader of the batch's rows, labelled rows)."""
    d = settings.data
    if not d.id_column:
        raise ConfigError("labels are joined to batch rows by data.id_column, which is not set")
    log = store_for(settings)
    stored = 0
    for batch_id, read, rows in batches:
        rid = request_id(batch_id)
        scored_by = log.frame(
            "SELECT model_version FROM predictions WHERE request_id = ? LIMIT 1", (rid,)
        )
        if scored_by.empty:
            continue  # not shadowed
        classes = None
        if d.task == "multiclass":
            classes = model_classes(registry.load_model(int(scored_by.iloc[0, 0])))
        ids = as_text(read()[d.id_column])
        place = pd.Series(np.arange(len(ids)), index=ids.to_numpy())
        where = place.reindex(as_text(rows[d.id_column]).to_numpy())
        known = where.notna().to_numpy()
        stored += record_labels(
            log,
            batch_id,
            label_codes(rows[d.target][known], d.task, classes),
            rows=where[known].astype(int).tolist(),
        )
    return stored


def label_file(settings: Settings, registry: Registry, batch: Path, labels: Path) -> int:
    """Store a label file's labels (``data.id_column`` and the target) for the rows of a batch
    file scored by :func:`run_file`, joined by id. Returns labels stored (0: not scored)."""
    frame = read_table(labels)
    missing = {settings.data.target, settings.data.id_column} - set(frame.columns)
    if missing:
        raise ConfigError(f"label file {labels} lacks the column(s) {sorted(map(str, missing))}")
    return _store_labels(settings, registry, [(batch.stem, lambda: read_table(batch), frame)])


def run_file(settings: Settings, registry: Registry, path: Path) -> BatchShadowOutcome:
    """Score one batch file (batch id: the file's stem, as the monitor names it) with the champion and the configured
    shadows (``rollout.shadow.models``) into the configured prediction log.

    Raises:
        ConfigError: there is no champion to score with.
    """
    champion = registry.champion()
    if champion is None:
        raise ConfigError("there is no champion to score the batch with: train one first")
    frame = read_table(path)
    return shadow_accepted(
        settings,
        registry,
        path.stem,
        frame,
        (champion.version, registry.load_model(champion.version)),
    )
