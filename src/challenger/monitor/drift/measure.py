"""Data, prediction and target drift, returned as our own types.

:func:`measure_drift` compares a current batch with reference data column by column and
returns a :class:`DriftResult`; nothing outside this module reads Evidently output.

Two engines reach the same verdicts:

* ``fast`` computes every column's statistic with vectorised numpy/scipy on *all* rows:
  each numeric column is sorted once and the Wasserstein distance, the K-S statistic and
  the histograms are read off the sorted arrays; categorical columns are counted once.
  Columns run in parallel threads (numpy releases the GIL while sorting). Its method
  choice, formulas and thresholds are Evidently 0.7's own, so the verdicts match
  Evidently's on the same rows (a unit test holds them equal). One million rows times
  twenty columns take seconds, where Evidently takes minutes.
* ``evidently`` runs Evidently's ``ValueDrift`` metrics on a seeded sample of at most
  ``max_rows`` rows per side.

Each column's own test is reported as the engines compute it (``drifted``, the same in both).
Whether a column *alarms* — what the data-change trigger counts — is decided afterwards,
the same way for both engines, with a stated error rate across the columns
(``challenger.monitor.drift.control``: Holm or Benjamini-Hochberg over two-sample p-values,
and an effect-size rule). Categorical columns whose values are not of one kind on both
sides (integer codes in the reference, text in the batch) are compared as text, so code
``3`` and ``"3"`` are one category, and the result says so in ``notes``.

:func:`measure_drift_from_sketch` takes the same decision from a reference's per-column
sketch stored when the version was registered (``sketch.py`` states how close it is): the
monitor uses it whenever the champion has one, so a batch's drift decision reads neither the
reference rows nor the champion's scores on them.

``auto`` (the default) uses ``fast`` whenever it implements every requested method.
The Evidently HTML report, when asked for, is always built on a seeded sample of at most
``max_rows`` rows per side, so it stays quick on large frames; its figures may then
differ from the decision's by sampling error. For a sample of ``n`` rows the sampled
empirical CDF of a column is within ``sqrt(ln(2/alpha) / (2n))`` of the full one with
probability ``1 - alpha`` (Dvoretzky-Kiefer-Wolfowitz): 0.0061 for 50,000 rows at
alpha = 0.05, well inside the 0.1 thresholds of the default tests.

Evidently is imported lazily: importing it takes seconds, and the fast engine needs it
only to draw the HTML report.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from challenger.errors import DriftInputError
from challenger.monitor.drift.control import control_alarms
from challenger.monitor.drift.evidently import evidently_drifts, save_report
from challenger.monitor.drift.fast import fast_drifts, two_sample_evidence
from challenger.monitor.drift.inputs import (
    check_not_empty,
    check_numeric,
    check_present,
    has_values,
    sample,
    select,
)
from challenger.monitor.drift.methods import METHODS, check_method
from challenger.monitor.drift.result import ColumnDrift, DriftKind, DriftResult
from challenger.monitor.drift.sketch import ColumnSketch, sketch_drifts, sketch_gaps
from challenger.monitor.drift.spec import DriftSpec
from challenger.monitor.kinds import value_kind
from challenger.store.batches import as_text

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

Engine = Literal["auto", "fast", "evidently"]


def measure_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    spec: DriftSpec,
    *,
    engine: Engine = "auto",
    max_rows: int = 50_000,
    seed: int = 0,
    html_path: Path | None = None,
) -> DriftResult:
    """Measure drift of ``current`` against ``reference``.

    Args:
        reference: Reference data, e.g. the champion's training sample.
        current: The batch to compare.
        spec: The columns, tests, thresholds and alarm control (see :class:`DriftSpec`);
            the prediction and target columns are looked up in both frames.
        engine: ``fast``, ``evidently`` or ``auto`` (see the module docstring).
        max_rows: Rows per side in Evidently's computations (the ``evidently`` engine and
            the HTML report); the ``fast`` engine always uses every row.
        seed: Seed for the sampling.
        html_path: If given, Evidently's HTML report (the data drift preset, plus the
            prediction and target) is saved there.

    Returns:
        The per-column verdicts and alarms, and the dataset verdict.

    Raises:
        DriftInputError: If a column is missing, entirely null, not numeric although
            declared numeric, declared twice, or a method is unknown, does not apply, or
            is not implemented by the requested engine.
    """
    columns = _checked_columns(spec, max_rows)
    if engine not in ("auto", "fast", "evidently"):
        raise DriftInputError(f"engine is {engine!r}; use auto, fast or evidently.")
    prediction, target = spec.prediction, spec.target
    for name, role in ((prediction, "prediction"), (target, "target")):
        if name is not None and name in columns:
            raise DriftInputError(
                f"The {role} column {name!r} is also listed as a feature; keep it out of "
                "numeric/categorical."
            )
    if prediction is not None and prediction == target:
        raise DriftInputError(f"Column {prediction!r} cannot be both prediction and target.")

    kinds = _feature_kinds(spec)
    for label, frame in (("reference", reference), ("current", current)):
        _check_frame(frame, spec, columns, label)
    extras = _extras(reference, current, spec)
    kinds.update(extras)
    reference, current, notes = _same_kinds(reference, current, kinds)
    methods, thresholds = _methods(spec, columns, kinds, extras)

    unsupported = sorted({m for m in methods.values() if m is not None and m not in METHODS})
    if engine == "fast" and unsupported:
        raise DriftInputError(
            f"The fast drift engine does not implement {unsupported}; use engine evidently "
            f"or one of {sorted(METHODS)}."
        )
    use_fast = engine == "fast" or (engine == "auto" and not unsupported)

    if use_fast:
        drifts = fast_drifts(reference, current, kinds, methods, thresholds)
        n_reference, n_current = len(reference), len(current)
    else:
        ref = sample(select(reference, list(kinds), "reference"), max_rows, seed)
        cur = sample(select(current, list(kinds), "current"), max_rows, seed)
        for frame, original, label in ((ref, reference, "reference"), (cur, current, "current")):
            check_not_empty(frame, columns, label, sampled=len(frame) < len(original))
        drifts = {
            name: _with_evidence(drift, ref[name], cur[name])
            for name, drift in evidently_drifts(ref, cur, kinds, methods, thresholds).items()
        }
        n_reference, n_current = len(ref), len(cur)

    report_rows: int | None = None
    if html_path is not None:
        report_rows = save_report(
            reference,
            current,
            kinds,
            extras,
            spec,
            max_rows=max_rows,
            seed=seed,
            html_path=Path(html_path),
        )

    return _decided(
        drifts,
        spec,
        n_reference,
        n_current,
        "fast" if use_fast else "evidently",
        report_rows,
        notes,
    )


def measure_drift_from_sketch(
    reference: Mapping[str, ColumnSketch],
    n_reference: int,
    current: pd.DataFrame,
    spec: DriftSpec,
) -> DriftResult:
    """:func:`measure_drift` against a stored reference sketch: the reference rows are not read.

    The same checks, method choice, per-column tests, thresholds and alarm control as the
    ``fast`` engine; how close each column's verdict is to the exact one is stated in
    ``challenger.monitor.drift.sketch``. No HTML report: Evidently's needs the rows.

    Args:
        reference: Each reference column's sketch (the prediction's under its column name).
        n_reference: The reference's rows.
        current: The batch to compare.
        spec: As :func:`measure_drift`'s.

    Returns:
        The per-column verdicts and alarms, and the dataset verdict (engine ``sketch``).

    Raises:
        DriftInputError: As :func:`measure_drift`, and when the sketch cannot decide a
            column (``sketch_gaps``: the caller should then measure against the rows).
    """
    columns = _checked_columns(spec)
    kinds = _feature_kinds(spec)
    _check_frame(current, spec, columns, "current")
    for name in columns:
        if name in reference and reference[name].n == 0:
            raise DriftInputError(
                f"Column {name!r} is entirely null in the reference data; "
                "validate the batch before measuring drift or leave the column out."
            )
    prediction, target = spec.prediction, spec.target
    extras: dict[str, DriftKind] = {}
    if prediction is not None:
        check_present(current, [prediction], "current")
        if spec.prediction_kind == "numeric":
            check_numeric(current, prediction, "current")
        extras[prediction] = spec.prediction_kind
    if target is not None and target in current.columns and has_values(current[target]):
        held = reference.get(target)
        if held is not None and held.n > 0:
            if spec.target_kind == "numeric":
                check_numeric(current, target, "current")
            extras[target] = spec.target_kind
    kinds.update(extras)
    methods, thresholds = _methods(spec, columns, kinds, extras)
    gaps = sketch_gaps(reference, kinds, methods)
    if gaps:
        raise DriftInputError(
            f"The stored reference sketch cannot decide drift: {'; '.join(gaps)}. "
            "Measure against the reference rows instead."
        )
    sketches, current, notes = _same_kinds_sketch(reference, current, kinds)
    drifts = sketch_drifts(sketches, current, kinds, methods, thresholds)
    return _decided(drifts, spec, n_reference, len(current), "sketch", None, notes)


def _decided(
    drifts: Mapping[str, ColumnDrift],
    spec: DriftSpec,
    n_reference: int,
    n_current: int,
    engine: Literal["fast", "evidently", "sketch"],
    report_rows: int | None,
    notes: tuple[str, ...],
) -> DriftResult:
    """The alarms under the spec's control, and the dataset verdict, from every column's test.

    ``drifts`` holds every feature column of ``spec``, and the prediction and target when
    they were compared.
    """
    columns = [*spec.numeric, *spec.categorical]
    try:
        features, alarms = control_alarms(
            [drifts[name] for name in columns], spec.control, spec.alarm_rate, spec.min_effect
        )
    except ValueError as exc:
        raise DriftInputError(f"{exc}.") from exc
    n_drifted = sum(bool(d.alarm) for d in features)
    share = n_drifted / len(features)
    prediction, target = spec.prediction, spec.target
    return DriftResult(
        columns=features,
        n_drifted=n_drifted,
        drift_share=share,
        share_threshold=spec.share_threshold,
        dataset_drift=share >= spec.share_threshold,
        n_reference=n_reference,
        n_current=n_current,
        engine=engine,
        prediction=drifts.get(prediction) if prediction is not None else None,
        target=drifts.get(target) if target is not None else None,
        report_rows=report_rows,
        control=alarms,
        notes=notes,
    )


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    html_path: Path,
    spec: DriftSpec,
    *,
    max_rows: int = 50_000,
    seed: int = 0,
) -> int:
    """Only Evidently's HTML report, as :func:`measure_drift` draws it, apart from the decision.

    For a decision taken from a stored sketch (:func:`measure_drift_from_sketch`): the report
    still needs reference rows (a seeded sample of at most ``max_rows`` per side). The spec's
    alarm control (``control``, ``alarm_rate``, ``min_effect``) does not enter the report.

    Returns:
        The rows per side the report was drawn on.
    """
    kinds = _feature_kinds(spec)
    extras = _extras(reference, current, spec)
    kinds.update(extras)
    reference, current, _ = _same_kinds(reference, current, kinds)
    return save_report(
        reference,
        current,
        kinds,
        extras,
        spec,
        max_rows=max_rows,
        seed=seed,
        html_path=Path(html_path),
    )


# --- checks ---------------------------------------------------------------------------------


def _checked_columns(spec: DriftSpec, max_rows: int | None = None) -> list[str]:
    """The spec's feature columns, once its columns and options are checked (and ``max_rows``)."""
    columns = _check_columns(spec.numeric, spec.categorical)
    _check_options(
        spec.share_threshold,
        max_rows,
        spec.per_column_method,
        spec.per_column_threshold,
        columns,
    )
    return columns


def _feature_kinds(spec: DriftSpec) -> dict[str, DriftKind]:
    kinds: dict[str, DriftKind] = {name: "numeric" for name in spec.numeric}
    kinds.update({name: "categorical" for name in spec.categorical})
    return kinds


def _check_frame(frame: pd.DataFrame, spec: DriftSpec, columns: Sequence[str], label: str) -> None:
    """Every feature column is in ``frame``, the numeric ones hold numbers, none is all null."""
    check_present(frame, columns, label)
    for name in spec.numeric:
        check_numeric(frame, name, label)
    check_not_empty(frame, columns, label, sampled=False)


def _methods(
    spec: DriftSpec,
    columns: Sequence[str],
    kinds: Mapping[str, DriftKind],
    extras: Mapping[str, DriftKind],
) -> tuple[dict[str, str | None], dict[str, float | None]]:
    """Each compared column's method and threshold (the spec's overrides applied), checked."""
    methods = {name: (spec.per_column_method or {}).get(name, spec.method) for name in columns}
    for extra in extras:
        methods[extra] = spec.method
    thresholds = {
        name: (spec.per_column_threshold or {}).get(name, spec.threshold) for name in methods
    }
    for name, chosen in methods.items():
        if chosen is not None:
            check_method(chosen, kinds[name], column=name)
    return methods, thresholds


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
    max_rows: int | None,
    per_column_method: Mapping[str, str] | None,
    per_column_threshold: Mapping[str, float] | None,
    columns: Sequence[str],
) -> None:
    if not 0.0 < share_threshold <= 1.0:
        raise DriftInputError(
            f"share_threshold is {share_threshold}; use a share above 0 and at most 1."
        )
    if max_rows is not None and max_rows < 1:
        raise DriftInputError(f"max_rows is {max_rows}; use at least 1.")
    for label, mapping in (
        ("per_column_method", per_column_method),
        ("per_column_threshold", per_column_threshold),
    ):
        unknown = sorted(set(mapping or {}) - set(columns))
        if unknown:
            raise DriftInputError(
                f"{label} names {unknown}, which are not compared; list them in "
                "numeric or categorical."
            )
    bad = sorted(c for c, t in (per_column_threshold or {}).items() if not t > 0)
    if bad:
        raise DriftInputError(f"per_column_threshold must be above 0; check columns {bad}.")


def _extras(
    reference: pd.DataFrame, current: pd.DataFrame, spec: DriftSpec
) -> dict[str, DriftKind]:
    """The prediction and target columns that can be compared, with their kinds."""
    prediction, target = spec.prediction, spec.target
    prediction_kind, target_kind = spec.prediction_kind, spec.target_kind
    out: dict[str, DriftKind] = {}
    if prediction is not None:
        for frame, label in ((reference, "reference"), (current, "current")):
            check_present(frame, [prediction], label)
            if prediction_kind == "numeric":
                check_numeric(frame, prediction, label)
            if not has_values(frame[prediction]):
                raise DriftInputError(
                    f"The prediction column {prediction!r} is entirely null in the {label} data."
                )
        out[prediction] = prediction_kind
    if target is not None and all(
        target in frame.columns and has_values(frame[target]) for frame in (reference, current)
    ):
        if target_kind == "numeric":
            for frame, label in ((reference, "reference"), (current, "current")):
                check_numeric(frame, target, label)
        out[target] = target_kind
    return out


def _same_kinds(
    reference: pd.DataFrame, current: pd.DataFrame, kinds: Mapping[str, DriftKind]
) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, ...]]:
    """Compare categorical columns whose values differ in kind on the two sides as text.

    A code column read as integers on one side and as text on the other would otherwise
    share no category at all (``3`` is not ``"3"``) and drift by construction. Numeric
    columns are already checked to hold numbers on both sides.

    Returns:
        Both frames (columns replaced only where needed) and one note per coerced column.
    """
    notes: list[str] = []
    ref_fix: dict[str, pd.Series] = {}
    cur_fix: dict[str, pd.Series] = {}
    for name, kind in kinds.items():
        if kind != "categorical":
            continue
        before, after = value_kind(reference[name]), value_kind(current[name])
        if before == after or "empty" in (before, after):
            continue
        ref_fix[name] = as_text(reference[name])
        cur_fix[name] = as_text(current[name])
        shared = set(ref_fix[name].dropna()) & set(cur_fix[name].dropna())
        notes.append(_coerced_note(name, before, after, shared))
    if ref_fix:
        reference = reference.assign(**ref_fix)
        current = current.assign(**cur_fix)
    return reference, current, tuple(notes)


def _same_kinds_sketch(
    reference: Mapping[str, ColumnSketch], current: pd.DataFrame, kinds: Mapping[str, DriftKind]
) -> tuple[dict[str, ColumnSketch], pd.DataFrame, tuple[str, ...]]:
    """:func:`_same_kinds` with the reference known by its counts (and what its values were)."""
    notes: list[str] = []
    sketches = {name: reference[name] for name in kinds}
    cur_fix: dict[str, pd.Series] = {}
    for name, kind in kinds.items():
        if kind != "categorical":
            continue
        before, after = sketches[name].holds, value_kind(current[name])
        if before == after or "empty" in (before, after):
            continue
        keys = as_text(pd.Series(list(sketches[name].counts)))  # whole floats: integer text
        counts = pd.Series(list(sketches[name].counts.values())).groupby(keys.to_numpy()).sum()
        sketches[name] = dataclasses.replace(
            sketches[name],
            kind="categorical",
            counts={str(k): int(v) for k, v in counts.items()},
            holds="strings",
        )
        cur_fix[name] = as_text(current[name])
        shared = set(sketches[name].counts) & set(cur_fix[name].dropna())
        notes.append(_coerced_note(name, before, after, shared))
    if cur_fix:
        current = current.assign(**cur_fix)
    return sketches, current, tuple(notes)


def _coerced_note(name: str, before: str, after: str, shared: set[Any]) -> str:
    return (
        f"Column {name!r} holds {before} in the reference and {after} in the current "
        f"data: both compared as text (3, 3.0 and '3' are one category); "
        + (
            f"{len(shared)} categories in common."
            if shared
            else "they share no category, so every row differs: check the encoding."
        )
    )


def _with_evidence(drift: ColumnDrift, reference: pd.Series, current: pd.Series) -> ColumnDrift:
    """A column's drift from Evidently, with the two-sample evidence the alarms use."""
    p_value, test, effect = two_sample_evidence(drift.kind, reference, current)
    return dataclasses.replace(drift, p_value=p_value, p_test=test, effect=effect)
