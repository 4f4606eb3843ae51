"""Great Expectations' JSON result, read once: each failed expectation as one sentence.

The only reader of GX's result format (``challenger.monitor.validation`` runs the suite and
hands the JSON here). Each failure names the column, the expectation, how many rows broke it
and a few examples, so a user can fix the batch without opening GX's data docs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

_TABLE = "the batch"
_COMPOUND_UNIQUE = "expect_compound_columns_to_be_unique"
_EXAMPLES = 3


@dataclass(frozen=True)
class CheckFailure:
    """One failed expectation.

    Attributes:
        column: The column checked, or None for a table-level check.
        expectation: The GX expectation type, e.g. ``expect_column_values_to_be_between``.
        unexpected_count: Rows that broke it; 0 when the check is not row-based.
        message: One sentence naming the column, the expectation and the count.
    """

    column: str | None
    expectation: str
    unexpected_count: int
    message: str

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return dataclasses.asdict(self)


def parse_failures(
    report: Mapping[str, Any],
    df: pd.DataFrame,
    skipped_ranges: frozenset[str],
    learned: frozenset[str] = frozenset(),
) -> tuple[CheckFailure, ...]:
    """Turn the failed entries of GX's JSON result into :class:`CheckFailure` objects."""
    failures: list[CheckFailure] = []
    for entry in report.get("results", []):
        if entry.get("success"):
            continue
        config = entry.get("expectation_config") or {}
        kind = str(config.get("type", "unknown_expectation"))
        kwargs: Mapping[str, Any] = config.get("kwargs") or {}
        result: Mapping[str, Any] = entry.get("result") or {}
        column = kwargs.get("column")
        column = None if column is None else str(column)
        error = _exception_message(entry.get("exception_info"))
        if error is not None:
            failures.append(
                CheckFailure(
                    column=column,
                    expectation=kind,
                    unexpected_count=0,
                    message=(
                        f"{_subject(column)} could not be checked by {kind} (0 rows counted): "
                        f"{error}"
                    ),
                )
            )
            continue
        failures.append(_describe(kind, column, kwargs, result, df, skipped_ranges, learned))
    return tuple(failures)


def _exception_message(info: Any) -> str | None:
    """Return the message of an exception GX caught, if any.

    GX reports either one flat ``{"raised_exception": ...}`` dict or, when a metric failed,
    one such dict per metric id.
    """
    if not isinstance(info, Mapping):
        return None
    if "raised_exception" in info:
        if info.get("raised_exception"):
            return str(info.get("exception_message") or "unknown error")
        return None
    for value in info.values():
        message = _exception_message(value)
        if message is not None:
            return message
    return None


def _describe(
    kind: str,
    column: str | None,
    kwargs: Mapping[str, Any],
    result: Mapping[str, Any],
    df: pd.DataFrame,
    skipped_ranges: frozenset[str],
    learned: frozenset[str] = frozenset(),
) -> CheckFailure:
    """Build one failure with a sentence naming the column, the expectation and the count."""
    subject = _subject(column)
    if kind == "expect_column_to_exist":
        return CheckFailure(
            column,
            kind,
            0,
            f"{subject} is missing from the batch, so {kind} failed (0 rows counted) "
            "and its other checks were skipped.",
        )
    if kind == "expect_table_row_count_to_be_between":
        observed = _as_int(result.get("observed_value"), default=len(df))
        return CheckFailure(
            None,
            kind,
            0,
            f"The batch has {observed} rows but {kind} requires at least "
            f"{kwargs.get('min_value')} (0 rows counted).",
        )
    if kind == "expect_table_columns_to_match_set":
        details = result.get("details") or {}
        mismatched = details.get("mismatched") or {}
        extra = mismatched.get("unexpected") or sorted(
            set(map(str, df.columns)) - set(kwargs.get("column_set") or [])
        )
        return CheckFailure(
            None,
            kind,
            0,
            f"The batch has columns the schema does not describe ({_quote_all(extra)}), "
            f"so {kind} failed (0 rows counted).",
        )

    element_count = _as_int(result.get("element_count"), default=len(df))
    if "unexpected_count" in result:
        count = _as_int(result.get("unexpected_count"), default=0)
    elif kind == "expect_column_values_to_be_in_type_list" and column in df.columns:
        # GX checks non-object columns by dtype only; then every non-null value is wrong.
        count = int(df[column].notna().sum())
    else:
        count = 0
    examples = _examples(result)
    detail = _detail(kind, kwargs, result, df, column)
    if column in learned and kind == "expect_column_values_to_be_between":
        detail += ", learned from the champion's training data (validation.range_tolerance)"
    sentence = f"{subject} failed {kind} on {count} of {element_count} rows"
    if detail:
        sentence += f" ({detail})"
    if examples and kind not in ("expect_column_values_to_not_be_null", _COMPOUND_UNIQUE):
        sentence += f"; e.g. {examples}"
    if column in skipped_ranges:
        sentence += "; its range check was skipped"
    if kind == _COMPOUND_UNIQUE:
        sentence += (
            "; a batch with its rows twice is counted twice downstream. Send each row once, or "
            "set validation.max_duplicate_share if the repetition is genuine"
        )
    return CheckFailure(column, kind, count, sentence + ".")


def _detail(
    kind: str,
    kwargs: Mapping[str, Any],
    result: Mapping[str, Any],
    df: pd.DataFrame,
    column: str | None,
) -> str:
    """Explain what the expectation required, in a few words."""
    if kind == "expect_column_values_to_be_between":
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        if low is not None and high is not None:
            return f"allowed range {_num(low)} to {_num(high)}"
        if low is not None:
            return f"allowed minimum {_num(low)}"
        return f"allowed maximum {_num(high)}"
    if kind == "expect_column_values_to_be_in_set":
        allowed = list(kwargs.get("value_set") or [])
        shown = _quote_all(allowed[:10]) + (", ..." if len(allowed) > 10 else "")
        return f"allowed values {shown}"
    if kind == "expect_column_values_to_not_be_null":
        mostly = kwargs.get("mostly")
        share = 1.0 - float(mostly) if mostly is not None else 0.0
        return f"null values; at most {share:.1%} may be null"
    if kind == "expect_column_values_to_be_unique":
        return "duplicated values"
    if kind == _COMPOUND_UNIQUE:
        mostly = kwargs.get("mostly")
        share = 1.0 - float(mostly) if mostly is not None else 0.0
        return (
            f"rows repeating another row of the batch on every feature; chance explains at "
            f"most {share:.0%}"
        )
    if kind == "expect_column_values_to_be_in_type_list":
        wanted = "timestamps" if "Timestamp" in (kwargs.get("type_list") or []) else "numbers"
        dtype = str(df[column].dtype) if column in df.columns else "unknown"
        detail = f"expected {wanted}, column dtype is {dtype}"
        if wanted == "numbers" and column in df.columns and df[column].dtype == object:
            values = df[column].dropna()
            text = values[pd.to_numeric(values, errors="coerce").isna()]
            if len(text):  # name the values that are not numbers, not the first rows
                shown = _quote_all(list(dict.fromkeys(text.astype(str)))[:_EXAMPLES])
                detail += f"; {len(text)} values are not numbers: {shown}"
        return detail
    return ""


def _examples(result: Mapping[str, Any]) -> str:
    """Render a few distinct unexpected values from GX's BASIC output.

    GX lists only the first 20 unexpected values, so they are examples, not counts.
    """
    values = result.get("partial_unexpected_list") or []
    return ", ".join(list(dict.fromkeys(map(_quote, values)))[:_EXAMPLES])


def _subject(column: str | None) -> str:
    return _TABLE.capitalize() if column is None else f"Column {column!r}"


def _quote(value: Any) -> str:
    return repr(value) if isinstance(value, str) else _num(value)


def _quote_all(values: Sequence[Any]) -> str:
    return ", ".join(_quote(v) for v in values)


def _num(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


def _as_int(value: Any, *, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
