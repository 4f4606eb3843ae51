"""Data drift with Evidently 0.7, returned as our own types.

:func:`measure_drift` compares a current batch with reference data column by column using
Evidently's ``ValueDrift`` metric (Evidently's default statistical test per column unless
told otherwise) and parses the snapshot's JSON into a :class:`DriftResult`; nothing outside
this module reads Evidently output.

Evidently is imported lazily, on the first measurement: importing it takes seconds. Its
telemetry is not used by reports; entry points still set ``DO_NOT_TRACK=1`` (this module
never sets environment variables).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from challenger.errors import DataError

if TYPE_CHECKING:
    from evidently.core.container import MetricOrContainer

__all__ = [
    "ColumnDrift",
    "DriftInputError",
    "DriftResult",
    "measure_drift",
]

logger = logging.getLogger(__name__)

DriftKind = Literal["numeric", "categorical"]

_VALUE_DRIFT = "evidently:metric_v2:ValueDrift"
_DRIFTED = "FAIL"
_NOT_DRIFTED = "SUCCESS"


class DriftInputError(DataError, ValueError):
    """The frames or options given to :func:`measure_drift` cannot be compared.

    A ``ValueError`` for library callers and a ``DataError`` (exit code 2) for the CLI.
    """


@dataclass(frozen=True)
class ColumnDrift:
    """Drift of one column.

    Attributes:
        column: Column name.
        kind: ``numeric`` or ``categorical``.
        method: Display name of the statistical test Evidently used, e.g.
            ``"Wasserstein distance (normed)"`` or ``"K-S p_value"``.
        score: The test's score: a p-value for tests named "... p_value" (drift when below
            the threshold), a distance otherwise (drift when at or above it).
        threshold: The threshold Evidently compared the score with.
        drifted: Evidently's verdict.
    """

    column: str
    kind: DriftKind
    method: str
    score: float
    threshold: float
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class DriftResult:
    """Drift of a current batch against reference data.

    Attributes:
        columns: One entry per compared column, numeric columns first, in the order given.
        n_drifted: Columns with drift.
        drift_share: ``n_drifted / len(columns)``.
        share_threshold: Share of drifted columns from which the dataset counts as drifted.
        dataset_drift: ``drift_share >= share_threshold``.
        n_reference: Reference rows compared (after sampling down to ``max_rows``).
        n_current: Current rows compared (after sampling down to ``max_rows``).
    """

    columns: tuple[ColumnDrift, ...]
    n_drifted: int
    drift_share: float
    share_threshold: float
    dataset_drift: bool
    n_reference: int
    n_current: int

    def drifted_columns(self) -> tuple[str, ...]:
        """Names of the drifted columns, in result order."""
        return tuple(c.column for c in self.columns if c.drifted)

    def column(self, name: str) -> ColumnDrift:
        """Return the drift of column ``name``.

        Raises:
            KeyError: If ``name`` was not compared.
        """
        for drift in self.columns:
            if drift.column == name:
                return drift
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {
            "columns": [c.to_dict() for c in self.columns],
            "drifted_columns": list(self.drifted_columns()),
            "n_drifted": self.n_drifted,
            "drift_share": self.drift_share,
            "share_threshold": self.share_threshold,
            "dataset_drift": self.dataset_drift,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
        }

    def summary(self) -> str:
        """Return a short multi-line summary for people."""
        verdict = "dataset drift" if self.dataset_drift else "no dataset drift"
        head = (
            f"{self.n_drifted} of {len(self.columns)} columns drifted "
            f"(share {self.drift_share:.0%}, threshold {self.share_threshold:.0%}): {verdict}; "
            f"{self.n_current} current vs {self.n_reference} reference rows."
        )
        lines = [head]
        for c in self.columns:
            mark = "DRIFT" if c.drifted else "ok"
            lines.append(
                f"- {c.column} ({c.kind}): {mark}, {c.method} {c.score:.4g} "
                f"(threshold {c.threshold:.4g})"
            )
        return "\n".join(lines)


def measure_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    share_threshold: float = 0.5,
    method: str | None = None,
    threshold: float | None = None,
    per_column_method: Mapping[str, str] | None = None,
    max_rows: int = 50_000,
    seed: int = 0,
    html_path: Path | None = None,
) -> DriftResult:
    """Measure drift of ``current`` against ``reference`` with Evidently.

    Both frames are first sampled down to at most ``max_rows`` rows (seeded), because
    Evidently computes each column's drift several times and is slow on large frames.
    Note that Evidently picks its default test from the reference size: up to 1,000 rows
    K-S (numeric) and chi-square (categorical) p-values, above it normed Wasserstein and
    Jensen-Shannon distances.

    Args:
        reference: Reference data, e.g. the training window.
        current: The batch to compare.
        numeric: Numeric columns to compare.
        categorical: Categorical columns to compare.
        share_threshold: Share of drifted columns from which the dataset counts as drifted.
        method: Evidently stattest name for all columns (e.g. ``"ks"``, ``"wasserstein"``,
            ``"psi"``, ``"jensenshannon"``, ``"chisquare"``); None for Evidently's defaults.
        threshold: Drift threshold for all columns; None for each test's default.
        per_column_method: Stattest name per column, overriding ``method``.
        max_rows: Most rows of each frame handed to Evidently.
        seed: Seed for the sampling.
        html_path: If given, Evidently's HTML report (the data drift preset) is saved there.

    Returns:
        The per-column verdicts and the dataset verdict.

    Raises:
        DriftInputError: If a column is missing, entirely null, not numeric although
            declared numeric, declared twice, or a method is unknown or does not apply.
    """
    columns = _check_columns(numeric, categorical)
    _check_options(share_threshold, max_rows, per_column_method, columns)
    ref = _sample(_select(reference, columns, "reference"), max_rows, seed)
    cur = _sample(_select(current, columns, "current"), max_rows, seed)
    for name in numeric:
        _check_numeric(ref, name, "reference")
        _check_numeric(cur, name, "current")
    for frame, original, label in ((ref, reference, "reference"), (cur, current, "current")):
        _check_not_empty(frame, columns, label, sampled=len(frame) < len(original))

    kinds: dict[str, DriftKind] = {name: "numeric" for name in numeric}
    kinds.update({name: "categorical" for name in categorical})
    methods = {name: (per_column_method or {}).get(name, method) for name in columns}
    for name, chosen in methods.items():
        if chosen is not None:
            _resolve_stattest(chosen, kinds[name], column=name)

    from evidently import DataDefinition, Dataset, Report

    definition = DataDefinition(
        numerical_columns=list(numeric), categorical_columns=list(categorical)
    )
    report = Report(
        _metrics(
            columns, methods, method, threshold, per_column_method, share_threshold, html_path
        ),
        include_tests=True,  # the per-column verdicts are Evidently's tests
    )
    try:
        snapshot = report.run(
            Dataset.from_pandas(cur, data_definition=definition),
            Dataset.from_pandas(ref, data_definition=definition),
        )
    except ValueError as exc:
        raise DriftInputError(
            f"Evidently could not compare the frames: {exc} Validate the batch first."
        ) from exc
    if html_path is not None:
        html_path = Path(html_path)
        html_path.parent.mkdir(parents=True, exist_ok=True)
        snapshot.save_html(str(html_path))  # Evidently writes nothing for a Path object
        logger.info("Saved the drift report to %s", html_path)

    drifts = _parse_snapshot(json.loads(snapshot.json()), kinds)
    n_drifted = sum(d.drifted for d in drifts)
    share = n_drifted / len(drifts)
    return DriftResult(
        columns=drifts,
        n_drifted=n_drifted,
        drift_share=share,
        share_threshold=share_threshold,
        dataset_drift=share >= share_threshold,
        n_reference=len(ref),
        n_current=len(cur),
    )


def _check_columns(numeric: Sequence[str], categorical: Sequence[str]) -> list[str]:
    if isinstance(numeric, str) or isinstance(categorical, str):
        raise DriftInputError("numeric and categorical must be sequences of column names.")
    columns = [*numeric, *categorical]
    if not columns:
        raise DriftInputError("No columns to compare; name at least one numeric or categorical.")
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise DriftInputError(
            f"Columns {repeated} are named more than once in numeric/categorical; keep one."
        )
    return columns


def _check_options(
    share_threshold: float,
    max_rows: int,
    per_column_method: Mapping[str, str] | None,
    columns: Sequence[str],
) -> None:
    if not 0.0 < share_threshold <= 1.0:
        raise DriftInputError(
            f"share_threshold is {share_threshold}; use a share above 0 and at most 1."
        )
    if max_rows < 1:
        raise DriftInputError(f"max_rows is {max_rows}; use at least 1.")
    unknown = sorted(set(per_column_method or {}) - set(columns))
    if unknown:
        raise DriftInputError(
            f"per_column_method names {unknown}, which are not compared; list them in "
            "numeric or categorical."
        )


def _select(frame: pd.DataFrame, columns: Sequence[str], label: str) -> pd.DataFrame:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DriftInputError(
            f"The {label} data has no column(s) {missing}; check the column names."
        )
    selected = frame.loc[:, list(columns)]
    # Category dtypes with different category sets do not combine cleanly inside Evidently.
    categories = [c for c in columns if isinstance(selected[c].dtype, pd.CategoricalDtype)]
    if categories:
        selected = selected.astype(dict.fromkeys(categories, object))
    return selected


def _sample(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    if len(frame) <= max_rows:
        return frame
    return frame.sample(n=max_rows, random_state=seed)


def _check_numeric(frame: pd.DataFrame, column: str, label: str) -> None:
    dtype = frame[column].dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        raise DriftInputError(
            f"Column {column!r} is declared numeric but has dtype {dtype} in the {label} "
            "data; validate the batch first or declare it categorical."
        )


def _check_not_empty(
    frame: pd.DataFrame, columns: Sequence[str], label: str, *, sampled: bool
) -> None:
    if frame.empty:
        raise DriftInputError(f"The {label} data has no rows; there is nothing to compare.")
    for column in columns:
        if frame[column].isna().all():
            where = " after sampling" if sampled else ""
            raise DriftInputError(
                f"Column {column!r} is entirely null in the {label} data{where}; "
                "validate the batch before measuring drift or leave the column out."
            )


def _resolve_stattest(name: str, kind: DriftKind, *, column: str) -> str:
    """Return the display name of Evidently stattest ``name`` for a ``kind`` column.

    Raises:
        DriftInputError: If Evidently has no such test or it does not apply to ``kind``.
    """
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    column_type = ColumnType.Numerical if kind == "numeric" else ColumnType.Categorical
    try:
        return str(get_registered_stattest(name, column_type).display_name)
    except ValueError as exc:
        raise DriftInputError(
            f"Drift method {name!r} cannot be used for {kind} column {column!r}: {exc}"
        ) from exc


def _metrics(
    columns: Sequence[str],
    methods: Mapping[str, str | None],
    method: str | None,
    threshold: float | None,
    per_column_method: Mapping[str, str] | None,
    share_threshold: float,
    html_path: Path | None,
) -> list[MetricOrContainer]:
    """Build the Evidently metrics: one ValueDrift per column.

    With an HTML report the data drift preset is used instead: it yields the same
    ValueDrift metrics and adds the dataset-level drift table people expect in the report,
    at roughly twice the computing cost (it measures every column again for that table).
    """
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    if html_path is not None:
        return [
            DataDriftPreset(
                columns=list(columns),
                drift_share=share_threshold,
                method=method,
                threshold=threshold,
                per_column_method=dict(per_column_method) if per_column_method else None,
            )
        ]
    return [ValueDrift(column=c, method=methods[c], threshold=threshold) for c in columns]


# --- parsing Evidently's JSON (the only place that reads it) ------------------------------


def _parse_snapshot(
    payload: Mapping[str, Any], kinds: Mapping[str, DriftKind]
) -> tuple[ColumnDrift, ...]:
    """Turn a snapshot's ``json()`` into one :class:`ColumnDrift` per column of ``kinds``."""
    values: dict[str, tuple[str, float, float]] = {}
    for metric in payload.get("metrics", []):
        config = metric.get("config") or {}
        if config.get("type") != _VALUE_DRIFT:
            continue
        column = str(config["column"])
        values[column] = (str(config["method"]), float(metric["value"]), float(config["threshold"]))
    verdicts: dict[str, bool] = {}
    for test in payload.get("tests", []):
        params = (test.get("metric_config") or {}).get("params") or {}
        if params.get("type") != _VALUE_DRIFT:
            continue
        status = str(test.get("status"))
        if status not in (_DRIFTED, _NOT_DRIFTED):
            raise RuntimeError(
                f"Evidently returned drift test status {status!r} for column "
                f"{params.get('column')!r}; expected {_DRIFTED} or {_NOT_DRIFTED}."
            )
        verdicts[str(params["column"])] = status == _DRIFTED

    drifts: list[ColumnDrift] = []
    for column, kind in kinds.items():
        if column not in values or column not in verdicts:
            raise RuntimeError(
                f"Evidently returned no drift result for column {column!r}; is evidently "
                "0.7.23 installed?"
            )
        method, score, limit = values[column]
        drifts.append(
            ColumnDrift(
                column=column,
                kind=kind,
                method=_display_name(method, kind),
                score=score,
                threshold=limit,
                drifted=verdicts[column],
            )
        )
    return tuple(drifts)


def _display_name(method: str, kind: DriftKind) -> str:
    """Evidently reports a method it chose by display name and one it was given by id."""
    try:
        return _resolve_stattest(method, kind, column="")
    except DriftInputError:
        return method
