"""Unit tests for challenger.validation (real Great Expectations, small seeded frames)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from challenger.errors import DataError
from challenger.monitor.gx_failures import CheckFailure
from challenger.monitor.validation import (
    BatchSchema,
    ColumnSpec,
    ValidationResult,
    schema_from_reference,
    validate_batch,
)

N_ROWS = 1_000


REGIONS = ("north", "south", "east", "west")


BETWEEN = "expect_column_values_to_be_between"


IN_SET = "expect_column_values_to_be_in_set"


NOT_NULL = "expect_column_values_to_not_be_null"


TYPE_LIST = "expect_column_values_to_be_in_type_list"


UNIQUE = "expect_column_values_to_be_unique"


EXISTS = "expect_column_to_exist"


ROW_COUNT = "expect_table_row_count_to_be_between"


COLUMN_SET = "expect_table_columns_to_match_set"


def make_frame(seed: int, n: int = N_ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "age": rng.integers(18, 91, n),
            "income": rng.lognormal(10, 0.5, n),
            "score": rng.normal(0, 1, n),
            "region": rng.choice(REGIONS, n),
            "plan": rng.choice(["basic", "pro"], n),
            "churn": rng.integers(0, 2, n),
            "ts": pd.date_range("2024-01-01", periods=n, freq="h"),
        }
    )


BASE_SCHEMA = BatchSchema(
    columns=(
        ColumnSpec("id", "numeric", min=0),
        ColumnSpec("age", "numeric", min=18, max=100),
        ColumnSpec("income", "numeric", min=0),
        ColumnSpec("score", "numeric"),
        ColumnSpec("region", "categorical"),
        ColumnSpec("plan", "categorical", categories=("basic", "pro")),
        ColumnSpec("churn", "binary"),
        ColumnSpec("ts", "timestamp"),
    ),
    min_rows=10,
    unique_columns=("id",),
)


N_EXPECTATIONS = 29


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return make_frame(seed=1)


@pytest.fixture(scope="module")
def schema(reference: pd.DataFrame) -> BatchSchema:
    return schema_from_reference(reference, BASE_SCHEMA)


@pytest.fixture()
def batch() -> pd.DataFrame:
    return make_frame(seed=2)


def only_failure(result: ValidationResult) -> CheckFailure:
    assert not result.success
    assert len(result.failures) == 1, result.summary()
    return result.failures[0]


def assert_names(failure: CheckFailure, column: str, expectation: str, count: int) -> None:
    assert failure.column == column
    assert failure.expectation == expectation
    assert failure.unexpected_count == count
    assert repr(column) in failure.message
    assert expectation in failure.message
    assert f"{count} of" in failure.message


def test_schema_from_reference_fills_observed_categories_only(reference: pd.DataFrame) -> None:
    completed = schema_from_reference(reference, BASE_SCHEMA)

    assert completed.column("region").categories == ("east", "north", "south", "west")
    assert completed.column("plan").categories == ("basic", "pro")
    assert completed.column("income").min == 0
    assert completed.column("income").max is None
    assert completed.column("score").min is None and completed.column("score").max is None
    assert BASE_SCHEMA.column("region").categories is None  # a new schema, base untouched
    assert completed.unique_columns == ("id",) and completed.min_rows == 10


def test_schema_from_reference_keeps_unconfigured_when_reference_lacks_values() -> None:
    base = BatchSchema((ColumnSpec("a", "categorical"), ColumnSpec("b", "categorical")))
    reference = pd.DataFrame({"a": [None, None]})

    completed = schema_from_reference(reference, base)

    assert completed.column("a").categories is None  # all null: nothing observed
    assert completed.column("b").categories is None  # absent from the reference


def test_integer_codes_read_as_float_match_reference_categories() -> None:
    base = BatchSchema((ColumnSpec("code", "categorical", max_null_fraction=0.5),))
    schema = schema_from_reference(pd.DataFrame({"code": [1, 2, 3, 2]}), base)

    assert schema.column("code").categories == ("1", "2", "3")
    assert validate_batch(pd.DataFrame({"code": [1.0, 2.0, np.nan, 3.0]}), schema).success
    failure = only_failure(validate_batch(pd.DataFrame({"code": [1.0, 4.0, 4.0, 2.0]}), schema))
    assert_names(failure, "code", IN_SET, 2)
    assert "'4'" in failure.message


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"kind": "numeric", "max_null_fraction": 1.5}, "max_null_fraction"),
        ({"kind": "numeric", "min": 5, "max": 1}, "above max"),
        ({"kind": "categorical", "min": 0}, "bounds apply"),
        ({"kind": "numeric", "categories": ("a",)}, "categories apply"),
        ({"kind": "text"}, "kind"),
    ],
)
def test_column_spec_rejects_inconsistent_settings(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        ColumnSpec("x", **kwargs)


def test_batch_schema_rejects_unknown_unique_column() -> None:
    with pytest.raises(ValueError, match="not described"):
        BatchSchema((ColumnSpec("a", "numeric"),), unique_columns=("b",))


def test_clean_batch_passes(batch: pd.DataFrame, schema: BatchSchema) -> None:
    result = validate_batch(batch, schema)

    assert result.success, result.summary()
    assert result.failures == ()
    assert result.n_rows == N_ROWS
    assert result.n_expectations == N_EXPECTATIONS
    assert result.report["success"] is True
    assert len(result.report["results"]) == N_EXPECTATIONS
    assert result.summary() == f"All {N_EXPECTATIONS} checks passed on {N_ROWS} rows."
    json.dumps(result.to_dict())  # JSON-serialisable, GX report included


def test_validate_does_not_modify_the_callers_frame(
    batch: pd.DataFrame, schema: BatchSchema
) -> None:
    batch["region"] = batch["region"].astype("category")
    before = batch.copy()

    assert validate_batch(batch, schema).success
    pd.testing.assert_frame_equal(batch, before)


def test_tz_aware_timestamps_pass(batch: pd.DataFrame, schema: BatchSchema) -> None:
    batch["ts"] = batch["ts"].dt.tz_localize("Europe/Paris")

    assert validate_batch(batch, schema).success


def test_missing_required_column_is_reported_and_its_checks_skipped(
    batch: pd.DataFrame, schema: BatchSchema
) -> None:
    result = validate_batch(batch.drop(columns=["income"]), schema)

    failure = only_failure(result)
    assert (failure.column, failure.expectation, failure.unexpected_count) == ("income", EXISTS, 0)
    assert "'income'" in failure.message and EXISTS in failure.message
    assert "missing" in failure.message
    # exists stays, type/between/not-null on income are skipped
    assert result.n_expectations == N_EXPECTATIONS - 3


def test_missing_optional_column_is_fine(batch: pd.DataFrame, schema: BatchSchema) -> None:
    optional = replace(
        schema,
        columns=tuple(
            replace(c, required=False) if c.name == "score" else c for c in schema.columns
        ),
    )

    result = validate_batch(batch.drop(columns=["score"]), optional)

    assert result.success, result.summary()
    assert result.n_expectations == N_EXPECTATIONS - 3


def test_empty_frame_fails_on_row_count_only(batch: pd.DataFrame, schema: BatchSchema) -> None:
    result = validate_batch(batch.iloc[:0], schema)

    failure = only_failure(result)
    assert (failure.column, failure.expectation, failure.unexpected_count) == (None, ROW_COUNT, 0)
    assert "0 rows" in failure.message and "at least 10" in failure.message
    assert result.n_rows == 0


def test_frame_without_columns_fails_cleanly(schema: BatchSchema) -> None:
    result = validate_batch(pd.DataFrame(), schema)

    kinds = sorted(f.expectation for f in result.failures)
    assert kinds == sorted([ROW_COUNT] + [EXISTS] * len(schema.columns))


def test_strings_in_a_numeric_column_fail_the_type_check(
    batch: pd.DataFrame, schema: BatchSchema
) -> None:
    batch["income"] = "unknown"

    failure = only_failure(validate_batch(batch, schema))

    assert_names(failure, "income", TYPE_LIST, N_ROWS)
    assert "'unknown'" in failure.message
    assert "range check was skipped" in failure.message


def test_some_strings_in_a_numeric_column_are_counted(
    batch: pd.DataFrame, schema: BatchSchema
) -> None:
    batch["age"] = batch["age"].astype(object)
    batch.loc[batch.index[:37], "age"] = "n/a"

    failure = only_failure(validate_batch(batch, schema))

    assert_names(failure, "age", TYPE_LIST, 37)


def test_string_dtype_numeric_column_counts_every_value(
    batch: pd.DataFrame, schema: BatchSchema
) -> None:
    batch["score"] = batch["score"].astype(str).astype("string")

    failure = only_failure(validate_batch(batch, schema))

    assert_names(failure, "score", TYPE_LIST, N_ROWS)
    assert "dtype is string" in failure.message


def test_all_null_column_fails_not_null(batch: pd.DataFrame, schema: BatchSchema) -> None:
    batch["score"] = np.nan

    failure = only_failure(validate_batch(batch, schema))

    assert_names(failure, "score", NOT_NULL, N_ROWS)


def test_all_none_categorical_column_fails_not_null(
    batch: pd.DataFrame, schema: BatchSchema
) -> None:
    batch["region"] = None

    failure = only_failure(validate_batch(batch, schema))

    assert_names(failure, "region", NOT_NULL, N_ROWS)


def test_null_fraction_within_tolerance_passes_and_above_fails(
    batch: pd.DataFrame, schema: BatchSchema
) -> None:
    tolerant = replace(
        schema,
        columns=tuple(
            replace(c, max_null_fraction=0.05) if c.name == "score" else c for c in schema.columns
        ),
    )
    batch.loc[batch.index[:50], "score"] = np.nan
    assert validate_batch(batch, tolerant).success

    batch.loc[batch.index[:60], "score"] = np.nan
    failure = only_failure(validate_batch(batch, tolerant))
    assert_names(failure, "score", NOT_NULL, 60)
    assert "5.0%" in failure.message


def test_values_out_of_range_are_counted(batch: pd.DataFrame, schema: BatchSchema) -> None:
    batch.loc[batch.index[:12], "age"] = 150
    batch.loc[batch.index[100:103], "age"] = 3

    failure = only_failure(validate_batch(batch, schema))

    assert_names(failure, "age", BETWEEN, 15)
    assert "18 to 100" in failure.message


def test_unseen_category_is_counted(batch: pd.DataFrame, schema: BatchSchema) -> None:
    batch.loc[batch.index[:25], "region"] = "central"

    failure = only_failure(validate_batch(batch, schema))

    assert_names(failure, "region", IN_SET, 25)
    assert "'central'" in failure.message


def test_binary_column_outside_zero_one_is_counted(
    batch: pd.DataFrame, schema: BatchSchema
) -> None:
    batch.loc[batch.index[:5], "churn"] = 2

    failure = only_failure(validate_batch(batch, schema))

    assert_names(failure, "churn", IN_SET, 5)


def test_duplicated_ids_are_counted(batch: pd.DataFrame, schema: BatchSchema) -> None:
    batch.loc[batch.index[1:3], "id"] = 0  # three rows now share id 0

    failure = only_failure(validate_batch(batch, schema))

    assert_names(failure, "id", UNIQUE, 3)


def test_timestamp_text_passes_and_unparseable_values_are_counted(
    batch: pd.DataFrame, schema: BatchSchema
) -> None:
    batch["ts"] = batch["ts"].astype(str)  # as read from a CSV file
    assert validate_batch(batch, schema).success

    batch.loc[batch.index[:9], "ts"] = "yesterday"
    failure = only_failure(validate_batch(batch, schema))
    assert_names(failure, "ts", TYPE_LIST, 9)
    assert "timestamps" in failure.message and "'yesterday'" in failure.message


def test_numbers_in_a_timestamp_column_fail_the_type_check(
    batch: pd.DataFrame, schema: BatchSchema
) -> None:
    batch["ts"] = np.arange(N_ROWS, dtype=float)

    failure = only_failure(validate_batch(batch, schema))

    assert_names(failure, "ts", TYPE_LIST, N_ROWS)


def test_extra_columns_fail_only_when_disallowed(batch: pd.DataFrame, schema: BatchSchema) -> None:
    batch["surprise"] = 1
    assert validate_batch(batch, schema).success

    failure = only_failure(validate_batch(batch, replace(schema, allow_extra_columns=False)))
    assert (failure.column, failure.expectation, failure.unexpected_count) == (
        None,
        COLUMN_SET,
        0,
    )
    assert "'surprise'" in failure.message


def test_several_problems_are_all_reported(batch: pd.DataFrame, schema: BatchSchema) -> None:
    batch.loc[batch.index[:12], "age"] = 150
    batch.loc[batch.index[:7], "plan"] = "enterprise"
    batch = batch.drop(columns=["ts"])

    result = validate_batch(batch, schema)

    found = {(f.column, f.expectation, f.unexpected_count) for f in result.failures}
    assert found == {("age", BETWEEN, 12), ("plan", IN_SET, 7), ("ts", EXISTS, 0)}
    assert result.failed_columns == ("age", "plan", "ts")
    lines = result.summary().splitlines()
    assert lines[0] == f"3 of {N_EXPECTATIONS - 2} checks failed on {N_ROWS} rows:"
    assert len(lines) == 4 and all(line.startswith("- ") for line in lines[1:])
    stats = result.report["statistics"]
    assert stats["unsuccessful_expectations"] == 3


def test_duplicate_column_names_raise_a_data_error(schema: BatchSchema) -> None:
    frame = pd.DataFrame([[1, 2]], columns=["age", "age"])

    with pytest.raises(DataError, match="duplicate columns"):
        validate_batch(frame, schema)


@pytest.mark.parametrize(
    "values",
    [
        pd.array([20, 30, None, 40], dtype="Int64"),
        pd.array([20.5, None, 30.0, 40.0], dtype="Float64"),
        np.array([20, 30, 35, 40], dtype="int16"),
        np.array([20.0, 30.0, 35.0, 40.0], dtype="float32"),
        pd.Series([20.5, None, 30, 40.0], dtype=object),  # e.g. parsed from JSON
    ],
    ids=["Int64", "Float64", "int16", "float32", "object-numbers"],
)
def test_numeric_dtypes_pass_type_and_range_checks(values: object) -> None:
    schema = BatchSchema((ColumnSpec("age", "numeric", min=18, max=100, max_null_fraction=0.25),))

    assert validate_batch(pd.DataFrame({"age": values}), schema).success

    frame = pd.DataFrame({"age": values})
    frame.loc[0, "age"] = 5
    failure = only_failure(validate_batch(frame, schema))
    assert_names(failure, "age", BETWEEN, 1)


def test_id_column_of_any_type_must_be_unique() -> None:
    frame = pd.DataFrame({"id": ["a-1", "a-2", "a-2"], "x": [1.0, 2.0, 3.0]})
    schema = BatchSchema(
        columns=(ColumnSpec("id", "id"), ColumnSpec("x", "numeric")), unique_columns=("id",)
    )
    result = validate_batch(frame, schema)
    assert not result.success
    assert [f.column for f in result.failures] == ["id"]
    assert result.failures[0].expectation == "expect_column_values_to_be_unique"
    assert validate_batch(frame.iloc[:2], schema).success


def test_text_in_a_numeric_column_names_the_values_that_are_not_numbers() -> None:
    df = pd.DataFrame({"y": ["1.5", "2", "n/a", "3"] * 20})
    result = validate_batch(df, BatchSchema(columns=(ColumnSpec("y", "numeric"),), min_rows=1))
    assert not result.success
    assert "20 values are not numbers: 'n/a'" in result.summary()
