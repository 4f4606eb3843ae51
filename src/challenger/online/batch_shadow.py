"""Batch shadow: score one accepted batch with the champion and every shadow version.

The scheduled-job shape of a shadow deployment (issue 14, item 1). The batch's features are
prepared once; the champion's outputs and each shadow's outputs go to the same prediction log
the serving app writes (``strategy`` "shadow", attribute ``source`` = "batch"), under the
request id ``batch:<batch id>`` with one row per batch row. A batch already in the log is not
scored again (a re-run adds nothing). A shadow that fails never fails the batch: its error is
stored on its shadow rows. Labels that arrive later are stored as feedback on the same rows, so
:meth:`LogStore.shadow_pairs` pairs champion and shadow on labelled rows, and
:func:`compare` runs the gate's paired bootstrap on them.

Scores are one number per row (what the log holds): the positive-class probability (binary)
or the prediction (regression). Multiclass batches are refused here for now.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd

from challenger.errors import ConfigError
from challenger.online.log import FeedbackRow, LogStore, PredictionRow, ShadowRow
from challenger.online.log_writer import LogWriter
from challenger.online.serve.models import resolve
from challenger.problem import model_scores
from challenger.stats.bootstrap import PairedBootstrap, paired_bootstrap
from challenger.store.batches import read_table

if TYPE_CHECKING:
    from challenger.config import Settings
    from challenger.store.registry import Registry

#: Tasks whose per-row output is one number the log can hold.
SCALAR_TASKS: Final = frozenset({"binary", "regression"})


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


def _timed_scores(model: Any, X: pd.DataFrame, task: str) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    scores = np.asarray(model_scores(model, X, task), dtype=float).reshape(-1)
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
    now: float | None = None,
) -> BatchShadowOutcome:
    """Score a batch with the champion and each shadow, storing every output in the log.

    Args:
        log: The prediction log the serving app uses.
        batch_id: The batch's id (a re-run with the same id writes nothing).
        X: The batch's prepared feature rows.
        task: binary or regression.
        champion: (version, fitted model) of the champion.
        shadows: Shadow version → fitted model.
        now: Timestamp of the rows (default: the clock).

    Raises:
        ValueError: ``task`` has no one-number output (multiclass).
        Exception: Whatever the champion raises (the batch job's own failure).
    """
    if task not in SCALAR_TASKS:
        raise ValueError(f"batch shadow stores one number per row; {task!r} is not supported")
    rid = request_id(batch_id)
    if log.records_of(rid) is not None:
        return BatchShadowOutcome(batch_id, scored=False, champion_scores=None)
    ts = time.time() if now is None else now
    version, model = champion
    scores, per_row_ms = _timed_scores(model, X, task)
    rows: list[PredictionRow | ShadowRow] = []
    rows.extend(
        PredictionRow.for_records(
            [{"batch": batch_id, "row": i} for i in range(len(X))],
            scores,
            request_id=rid,
            ts=ts,
            user_id=None,
            strategy="shadow",
            experiment=None,
            arm="champion",
            variant="champion",
            model_version=version,
            challenger_version=None,
            stage=None,
            model_ms=per_row_ms,
            latency_ms=per_row_ms,
            status="ok",
            error=None,
            attributes={"source": "batch"},
        )
    )
    errors: dict[int, str] = {}
    for shadow_version, shadow in shadows.items():
        out: np.ndarray | None
        try:
            out, ms = _timed_scores(shadow, X, task)
            error = None
        except Exception as exc:  # a shadow's failure is recorded, never raised
            out, ms, error = None, None, f"{type(exc).__name__}: {exc}"
            errors[shadow_version] = error
        rows.extend(
            ShadowRow(
                request_id=rid,
                idx=i,
                model=f"v{shadow_version}",
                ts=ts,
                model_version=shadow_version,
                score=None if out is None else float(out[i]),
                model_ms=ms,
                error=error,
            )
            for i in range(len(X))
        )
    _write(log, rows)
    return BatchShadowOutcome(batch_id, scored=True, champion_scores=scores, shadow_errors=errors)


def _write(log: LogStore, rows: Sequence[PredictionRow | ShadowRow | FeedbackRow]) -> None:
    writer = LogWriter(log)
    try:
        writer.put_many(rows)
    finally:
        writer.close()
    if writer.failed:
        raise RuntimeError(f"the prediction log refused the batch: {writer.last_error}")


def record_labels(
    log: LogStore, batch_id: str, labels: Sequence[float], *, now: float | None = None
) -> None:
    """Store the labels of a batch's rows (row i of the batch gets ``labels[i]``)."""
    ts = time.time() if now is None else now
    rid = request_id(batch_id)
    _write(log, [FeedbackRow(rid, i, float(y), None, ts) for i, y in enumerate(labels)])


def compare(
    log: LogStore,
    shadow_version: int,
    metric: str,
    *,
    n_resamples: int = 500,
    seed: int = 0,
) -> PairedBootstrap | None:
    """Champion vs one shadow on the labelled batch rows both scored (the gate's statistic).

    Returns None when no labelled row has both outputs. Δ > 0 favours the shadow.
    """
    pairs = log.shadow_pairs(shadow_version)
    pairs = pairs[pairs["request_id"].str.startswith("batch:")]
    pairs = pairs.dropna(subset=["label", "champion_score", "shadow_score"])
    if pairs.empty:
        return None
    return paired_bootstrap(
        metric,
        pairs["label"].to_numpy(float),
        pairs["champion_score"].to_numpy(float),
        pairs["shadow_score"].to_numpy(float),
        n_resamples=n_resamples,
        seed=seed,
    )


def run_file(settings: Settings, registry: Registry, path: Path) -> BatchShadowOutcome:
    """Score one batch file (batch id: the file's name) with the champion and the configured
    shadows (``rollout.shadow.models``) into the configured prediction log.

    Raises:
        ConfigError: there is no champion to score with.
    """
    from challenger.online.review import store_for

    champion = registry.champion()
    if champion is None:
        raise ConfigError("there is no champion to score the batch with: train one first")
    X = read_table(path)[list(settings.data.features)]
    shadows: dict[int, Any] = {}
    failed: dict[int, str] = {}
    for ref in settings.rollout.shadow.models:
        version = resolve(registry, ref)
        if version is None or version == champion.version:
            continue
        try:
            shadows[version] = registry.load_model(version)
        except Exception as exc:  # a shadow that cannot load never fails the batch
            failed[version] = f"{type(exc).__name__}: {exc}"
    out = score_batch(
        store_for(settings),
        path.name,
        X,
        settings.data.task,
        (champion.version, registry.load_model(champion.version)),
        shadows,
    )
    return BatchShadowOutcome(
        out.batch_id, out.scored, out.champion_scores, {**failed, **out.shadow_errors}
    )
