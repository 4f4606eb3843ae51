"""Batch validation with Great Expectations 1.x, returned as our own types.

A :class:`BatchSchema` describes what a batch must look like. :func:`validate_batch` turns
it into a Great Expectations suite, runs it against the data frame in an ephemeral GX
context and parses GX's result into a :class:`ValidationResult`; nothing outside this
module and ``challenger.monitor.gx_failures`` (which turns GX's JSON result into sentences)
reads GX objects or GX JSON. A failed batch goes to quarantine
(``challenger.monitor.quarantine``).

Beside GX's expectations, one check is ours: rows that repeat rows seen before (the
champion's training data, recent batches) beyond what chance explains, which no GX
expectation compares across frames (:class:`DuplicateRule`).

Great Expectations is imported lazily, on the first validation, and its context is built
once per process: importing GX takes seconds and must not slow down unrelated commands.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from challenger.errors import DataError
from challenger.monitor.gx_failures import CheckFailure, parse_failures
from challenger.monitor.kinds import row_hashes
from challenger.store.batches import as_text

if TYPE_CHECKING:
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.expectations.expectation import Expectation

logger = logging.getLogger(__name__)

ColumnKind = Literal["numeric", "categorical", "timestamp", "binary", "id"]

# Type names GX's expect_column_values_to_be_in_type_list accepts for a numeric column:
# numpy dtypes, pandas nullable dtypes (GX resolves those by class name, so "Int64" alone
# would not match an Int64 column) and the Python types checked row by row in object columns.
_NUMERIC_TYPE_NAMES: tuple[str, ...] = (
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "Int8Dtype",
    "Int16Dtype",
    "Int32Dtype",
    "Int64Dtype",
    "UInt8Dtype",
    "UInt16Dtype",
    "UInt32Dtype",
    "UInt64Dtype",
    "Float32Dtype",
    "Float64Dtype",
    "int",
    "float",
)
# Time zone-aware columns are converted to naive UTC before GX sees them (GX cannot match a
# DatetimeTZDtype by name), so the naive resolutions suffice; "Timestamp" covers object columns.
_TIMESTAMP_TYPE_NAMES: tuple[str, ...] = (
    "datetime64[ns]",
    "datetime64[us]",
    "datetime64[ms]",
    "datetime64[s]",
    "Timestamp",
)
_NUMERIC_INFERRED = frozenset({"integer", "floating", "mixed-integer-float", "decimal", "empty"})
_BINARY_VALUES: tuple[int, ...] = (0, 1)

# GX's pandas execution engine keeps the active batch on the shared data source, so two
# validations must not interleave (Prefect's default task runner uses threads).
_GX_LOCK = threading.Lock()


@dataclass(frozen=True)
class ColumnSpec:
    """What one column of a batch must contain.

    Attributes:
        name: Column name.
        kind: ``numeric``, ``categorical``, ``timestamp``, ``binary`` (0/1, target-like) or ``id`` (any type).
        min: Inclusive lower bound for a numeric column, or None for no bound.
        max: Inclusive upper bound for a numeric column, or None for no bound.
        categories: Allowed values of a categorical column, compared as strings; None
            means "not configured" (see :func:`schema_from_reference`).
        max_null_fraction: Largest share of null values tolerated, between 0 and 1.
        required: Whether a batch without this column fails validation.
        learned: Whether ``min``/``max`` were learned from reference data rather than
            configured (messages say so).
    """

    name: str
    kind: ColumnKind
    min: float | None = None
    max: float | None = None
    categories: tuple[str, ...] | None = None
    max_null_fraction: float = 0.0
    required: bool = True
    learned: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("numeric", "categorical", "timestamp", "binary", "id"):
            raise ValueError(
                f"Column {self.name!r} has kind {self.kind!r}; use numeric, categorical, "
                "timestamp, binary or id."
            )
        if not 0.0 <= self.max_null_fraction <= 1.0:
            raise ValueError(
                f"Column {self.name!r} has max_null_fraction {self.max_null_fraction}; "
                "use a fraction between 0 and 1."
            )
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(
                f"Column {self.name!r} has min {self.min} above max {self.max}; swap them."
            )
        if (self.min is not None or self.max is not None) and self.kind != "numeric":
            raise ValueError(
                f"Column {self.name!r} is {self.kind} but has min/max bounds; bounds apply "
                "to numeric columns only."
            )
        if self.categories is not None:
            if self.kind != "categorical":
                raise ValueError(
                    f"Column {self.name!r} is {self.kind} but lists categories; categories "
                    "apply to categorical columns only."
                )
            # Configuration files may hold numbers or lists; store them the way they are compared.
            object.__setattr__(self, "categories", tuple(str(c) for c in self.categories))


DUPLICATES_SEEN = "expect_rows_to_be_new"
"""Our own check: rows repeating rows seen before (GX has no cross-frame expectation)."""


@dataclass(frozen=True)
class DuplicateRule:
    """How often a batch's rows may repeat each other or rows seen before.

    Rows are compared on ``columns`` (every feature: a copied batch keeps its features even
    when ids and timestamps are new). Chance repetitions are bounded from the reference's
    *collision probability* ``c``, the chance that two of its rows coincide: a row of an
    ``n``-row batch repeats another with probability at most ``(n - 1)·c`` and one of ``m``
    rows seen before with probability at most ``m·c`` (union bound). ``tolerance`` is added
    to both; a configured ``max_share`` replaces both.

    Attributes:
        numeric: The numeric columns that make a row (compared as numbers).
        categorical: The categorical ones (compared as category text).
        collision: ``c``, estimated on the reference (0 for continuous data).
        tolerance: Share added to the chance bounds.
        max_share: A configured limit for both shares, or None to use the bounds.
        seen: Row hashes (:func:`~challenger.monitor.kinds.row_hashes`) of the rows seen
            before, sorted and unique (a uint64 array: 8 bytes a row, where a Python set of
            the same hashes took about 70); empty for no comparison with earlier rows.
        seen_from: What ``seen`` holds, for messages (e.g. "the champion's training data").
    """

    numeric: tuple[str, ...]
    categorical: tuple[str, ...] = ()
    collision: float = 0.0
    tolerance: float = 0.05
    max_share: float | None = None
    seen: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64), compare=False)
    seen_from: str = "earlier data"

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column that makes a row."""
        return self.numeric + self.categorical

    def within_limit(self, n_rows: int) -> float:
        """Largest tolerated share of a batch's rows that repeat another row of it."""
        if self.max_share is not None:
            return self.max_share
        return min(1.0, max(0, n_rows - 1) * self.collision + self.tolerance)

    def seen_limit(self) -> float:
        """Largest tolerated share of a batch's rows that repeat a row seen before."""
        if self.max_share is not None:
            return self.max_share
        return min(1.0, self.seen.size * self.collision + self.tolerance)


@dataclass(frozen=True)
class BatchSchema:
    """What a whole batch must look like.

    Attributes:
        columns: One :class:`ColumnSpec` per known column.
        min_rows: Fewest rows a batch may have.
        unique_columns: Columns whose values must not repeat (e.g. an id column); each
            must also be described in ``columns``.
        allow_extra_columns: Whether columns not described in ``columns`` are tolerated.
        duplicates: How much the batch's rows may repeat; None for no check.
    """

    columns: tuple[ColumnSpec, ...]
    min_rows: int = 1
    unique_columns: tuple[str, ...] = ()
    allow_extra_columns: bool = True
    duplicates: DuplicateRule | None = None

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"The schema describes columns {duplicates} more than once.")
        unknown = [c for c in self.unique_columns if c not in names]
        if unknown:
            raise ValueError(
                f"unique_columns {unknown} are not described in the schema's columns; add them."
            )
        if self.min_rows < 0:
            raise ValueError(f"min_rows is {self.min_rows}; use 0 or more.")
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "unique_columns", tuple(self.unique_columns))

    def column(self, name: str) -> ColumnSpec:
        """Return the spec of column ``name``.

        Raises:
            KeyError: If the schema does not describe ``name``.
        """
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise KeyError(name)


@dataclass(frozen=True)
class ValidationResult:
    """The outcome of validating one batch.

    Attributes:
        success: Whether every expectation passed.
        n_rows: Rows in the batch.
        n_expectations: Expectations evaluated.
        failures: One entry per failed expectation, in suite order.
        report: GX's own validation result as JSON-serialisable data.
    """

    success: bool
    n_rows: int
    n_expectations: int
    failures: tuple[CheckFailure, ...]
    report: dict[str, Any]

    @property
    def failed_columns(self) -> tuple[str, ...]:
        """Columns with at least one failure, in order of first failure."""
        return tuple(dict.fromkeys(f.column for f in self.failures if f.column is not None))

    def summary(self) -> str:
        """Return a short multi-line summary for people."""
        if self.success:
            return (
                f"All {self.n_expectations} checks passed on {self.n_rows} rows."
                if self.n_expectations
                else f"No checks were configured; {self.n_rows} rows accepted."
            )
        head = f"{len(self.failures)} of {self.n_expectations} checks failed on {self.n_rows} rows:"
        return "\n".join([head, *(f"- {f.message}" for f in self.failures)])

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict, including GX's report under ``report``."""
        return {
            "success": self.success,
            "n_rows": self.n_rows,
            "n_expectations": self.n_expectations,
            "failures": [f.to_dict() for f in self.failures],
            "summary": self.summary(),
            "report": self.report,
        }


def schema_from_reference(reference: pd.DataFrame, base: BatchSchema) -> BatchSchema:
    """Complete ``base`` from the reference data's profile.

    Categorical columns without configured categories get the set of values observed in
    the reference (as strings, sorted). Everything else is kept: numeric bounds that are not
    configured stay None, because a range seen once is not a rule.

    Args:
        reference: Reference data, e.g. the training window.
        base: The configured schema.

    Returns:
        A new schema; ``base`` is not modified.
    """
    columns: list[ColumnSpec] = []
    for spec in base.columns:
        if spec.kind != "categorical" or spec.categories is not None:
            columns.append(spec)
            continue
        if spec.name not in reference.columns:
            logger.warning(
                "Reference data has no column %r; its categories stay unconfigured.", spec.name
            )
            columns.append(spec)
            continue
        observed = as_text(reference[spec.name]).dropna().unique()
        if len(observed) == 0:
            logger.warning(
                "Reference column %r is entirely null; its categories stay unconfigured.",
                spec.name,
            )
            columns.append(spec)
            continue
        columns.append(dataclasses.replace(spec, categories=tuple(sorted(map(str, observed)))))
    return dataclasses.replace(base, columns=tuple(columns))


def validate_batch(df: pd.DataFrame, schema: BatchSchema) -> ValidationResult:
    """Validate a batch against ``schema`` with Great Expectations.

    Bad data never raises: a missing required column, an empty frame, values of the wrong
    type, nulls, values out of range or unseen categories all give a failed result whose
    failures say which column broke which expectation on how many rows. Checks on a missing
    column are skipped (its ``expect_column_to_exist`` fails instead), and the range check
    of a numeric column holding non-numbers is skipped (its type check fails instead).

    Args:
        df: The batch.
        schema: What the batch must look like.

    Returns:
        The parsed result, with GX's own report attached (pass or fail per expectation for
        a batch that passes; with counts and example values for one that fails).

    Raises:
        DataError: If the frame has duplicate column names (GX cannot address them).
    """
    duplicated = sorted({str(c) for c in df.columns[df.columns.duplicated()]})
    if duplicated:
        raise DataError(
            f"The batch has duplicate columns {duplicated}; rename them so each appears once."
        )
    prepared = _prepare_frame(df, schema)
    expectations, skipped_ranges = _build_expectations(prepared, schema)

    import great_expectations as gx

    with _GX_LOCK:
        batch_definition = _batch_definition()
        suite = gx.ExpectationSuite(name="challenger-batch", expectations=expectations)
        batch = batch_definition.get_batch(batch_parameters={"dataframe": prepared})
        # Pass or fail first (BOOLEAN_ONLY: ~40% less than BASIC at 200,000 rows). Only a
        # failing batch is validated again for BASIC's counts and example values, which its
        # failures and quarantine report are made of (SUMMARY would cost ~40% more again).
        gx_result = batch.validate(suite, result_format="BOOLEAN_ONLY")
        if not gx_result.success:
            gx_result = batch.validate(suite, result_format="BASIC")
    report: dict[str, Any] = gx_result.to_json_dict()
    learned = frozenset(c.name for c in schema.columns if c.learned)
    failures = parse_failures(report, prepared, skipped_ranges, learned)
    statistics = report.get("statistics", {})
    n_expectations = int(statistics.get("evaluated_expectations", len(expectations)))
    seen = _seen_before(df, schema.duplicates)
    if seen is not None:
        n_expectations += 1
        failures += (seen,) if seen.unexpected_count else ()
    return ValidationResult(
        success=bool(report["success"]) and not (seen is not None and seen.unexpected_count),
        n_rows=len(df),
        n_expectations=n_expectations,
        failures=failures,
        report=report,
    )


def _seen_before(df: pd.DataFrame, rule: DuplicateRule | None) -> CheckFailure | None:
    """Our check of rows repeating rows seen before (None when it does not apply).

    Returns a failure with a zero count when the batch passes, so the caller counts the check.
    """
    if rule is None or not rule.seen.size or df.empty or not set(rule.columns) <= set(df.columns):
        return None
    hashes = row_hashes(df, rule.numeric, rule.categorical)
    at = np.searchsorted(rule.seen, hashes).clip(max=rule.seen.size - 1)
    repeated = int((rule.seen[at] == hashes).sum())
    limit = rule.seen_limit()
    if repeated <= limit * len(df):
        return CheckFailure(None, DUPLICATES_SEEN, 0, "")
    return CheckFailure(
        column=None,
        expectation=DUPLICATES_SEEN,
        unexpected_count=repeated,
        message=(
            f"The batch failed {DUPLICATES_SEEN} on {repeated} of {len(df)} rows: they repeat "
            f"rows of {rule.seen_from} on every feature ({repeated / len(df):.0%}, where chance "
            f"explains at most {limit:.0%}); a batch delivered twice or replayed training data "
            "would be counted twice. Send only new rows, or set validation.max_duplicate_share "
            "if the repetition is genuine."
        ),
    )


@functools.cache
def _batch_definition() -> BatchDefinition[Any]:
    """Build the process-wide ephemeral GX context and return its whole-frame batch definition.

    Cached: the context, the pandas data source and the data frame asset are built once
    and reused; each validation passes its own frame as a batch parameter.
    """
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        # GX's default ephemeral config creates a temporary docs-site folder on disk.
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        # Progress bars would go to stderr on every validation; this is a library.
        progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        analytics_enabled=False,
    )
    from great_expectations.execution_engine import pandas_execution_engine

    # GX fingerprints every frame under 1 GB by hashing all of it (a batch marker we never
    # read): 0.3 s of a 200,000-row validation. 0 turns the marker off.
    pandas_execution_engine.HASH_THRESHOLD = 0
    context = gx.get_context(mode="ephemeral", project_config=config)
    source = context.data_sources.add_pandas(name="challenger")
    asset = source.add_dataframe_asset(name="batch")
    return asset.add_batch_definition_whole_dataframe(name="whole-batch")


def _prepare_frame(df: pd.DataFrame, schema: BatchSchema) -> pd.DataFrame:
    """Return the frame GX should see: categories as strings, timestamps as naive UTC.

    Only columns that need a change are replaced; the caller's frame is not modified.
    """
    replacements: dict[str, pd.Series] = {}
    for spec in schema.columns:
        if spec.name not in df.columns:
            continue
        series = df[spec.name]
        if spec.kind == "categorical" and spec.categories is not None:
            converted = as_text(series)
            if converted is not series:
                replacements[spec.name] = converted
        elif spec.kind == "timestamp":
            if isinstance(series.dtype, pd.DatetimeTZDtype):
                replacements[spec.name] = series.dt.tz_convert(None)
            elif series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
                replacements[spec.name] = _parse_timestamps(series)
    if not replacements:
        return df
    return df.assign(**replacements)


def _parse_timestamps(series: pd.Series) -> pd.Series:
    """Parse timestamp text (a CSV column) so that only unparseable values fail the type check.

    Returns a naive-UTC datetime column when every value parses; otherwise an object column
    holding a ``Timestamp`` where a value parsed and the original value where it did not,
    which GX's row-by-row type check then counts.
    """
    with warnings.catch_warnings():
        # pandas warns when it cannot infer one format and falls back to per-value parsing.
        warnings.simplefilter("ignore", UserWarning)
        parsed = pd.to_datetime(series, errors="coerce", utc=True)
    parsed = parsed.dt.tz_convert(None)
    unparsed = series.notna() & parsed.isna()
    if not unparsed.any():
        return parsed
    mixed = series.astype(object).copy()
    ok = parsed.notna()
    mixed[ok] = parsed[ok].astype(object)
    return mixed


def _holds_numbers(series: pd.Series) -> bool:
    """Whether comparing ``series`` with numeric bounds is safe (numbers or nulls only)."""
    if pd.api.types.is_numeric_dtype(series.dtype):
        return True
    if series.dtype == object:
        return pd.api.types.infer_dtype(series, skipna=True) in _NUMERIC_INFERRED
    return False


def _build_expectations(
    df: pd.DataFrame, schema: BatchSchema
) -> tuple[list[Expectation], frozenset[str]]:
    """Translate ``schema`` into GX expectations for this frame.

    Returns:
        The expectations, and the numeric columns whose range check was left out because
        they hold non-numbers (the type check reports them).
    """
    from great_expectations.expectations.core.expect_column_to_exist import ExpectColumnToExist
    from great_expectations.expectations.core.expect_column_values_to_be_between import (
        ExpectColumnValuesToBeBetween,
    )
    from great_expectations.expectations.core.expect_column_values_to_be_in_set import (
        ExpectColumnValuesToBeInSet,
    )
    from great_expectations.expectations.core.expect_column_values_to_be_in_type_list import (
        ExpectColumnValuesToBeInTypeList,
    )
    from great_expectations.expectations.core.expect_column_values_to_be_unique import (
        ExpectColumnValuesToBeUnique,
    )
    from great_expectations.expectations.core.expect_column_values_to_not_be_null import (
        ExpectColumnValuesToNotBeNull,
    )
    from great_expectations.expectations.core.expect_compound_columns_to_be_unique import (
        ExpectCompoundColumnsToBeUnique,
    )
    from great_expectations.expectations.core.expect_table_columns_to_match_set import (
        ExpectTableColumnsToMatchSet,
    )
    from great_expectations.expectations.core.expect_table_row_count_to_be_between import (
        ExpectTableRowCountToBeBetween,
    )

    present = set(df.columns)
    expectations: list[Expectation] = [
        ExpectTableRowCountToBeBetween(min_value=schema.min_rows, max_value=None)
    ]
    if not schema.allow_extra_columns:
        expectations.append(
            ExpectTableColumnsToMatchSet(
                column_set=[c.name for c in schema.columns if c.name in present],
                exact_match=True,
            )
        )
    skipped_ranges: set[str] = set()
    for spec in schema.columns:
        if spec.required:
            expectations.append(ExpectColumnToExist(column=spec.name))
        if spec.name not in present:
            continue  # checks on a missing column would only raise inside GX
        column = spec.name
        if spec.kind == "numeric":
            expectations.append(
                ExpectColumnValuesToBeInTypeList(column=column, type_list=list(_NUMERIC_TYPE_NAMES))
            )
            if spec.min is not None or spec.max is not None:
                if _holds_numbers(df[column]):
                    expectations.append(
                        ExpectColumnValuesToBeBetween(
                            column=column, min_value=spec.min, max_value=spec.max
                        )
                    )
                else:
                    skipped_ranges.add(column)
        elif spec.kind == "categorical":
            if spec.categories is not None:
                expectations.append(
                    ExpectColumnValuesToBeInSet(column=column, value_set=list(spec.categories))
                )
        elif spec.kind == "binary":
            expectations.append(
                ExpectColumnValuesToBeInSet(column=column, value_set=list(_BINARY_VALUES))
            )
        elif spec.kind == "id":
            pass  # any type; only presence, nulls and (via unique_columns) uniqueness matter
        else:
            expectations.append(
                ExpectColumnValuesToBeInTypeList(
                    column=column, type_list=list(_TIMESTAMP_TYPE_NAMES)
                )
            )
        expectations.append(
            ExpectColumnValuesToNotBeNull(column=column, mostly=1.0 - spec.max_null_fraction)
        )
        if column in schema.unique_columns:
            expectations.append(ExpectColumnValuesToBeUnique(column=column))
    rule = schema.duplicates
    if rule is not None and len(df) > 1 and set(rule.columns) <= present:
        limit = rule.within_limit(len(df))
        if limit < 1.0:
            expectations.append(
                ExpectCompoundColumnsToBeUnique(column_list=list(rule.columns), mostly=1.0 - limit)
            )
    return expectations, frozenset(skipped_ranges)
