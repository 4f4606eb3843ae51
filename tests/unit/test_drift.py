"""Unit tests for challenger.drift (real Evidently, small seeded frames)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from challenger.drift import ColumnDrift, DriftInputError, DriftResult, measure_drift
from challenger.errors import DataError

NUMERIC = ("x0", "x1", "x2", "x3", "x4")
CATEGORICAL = ("region", "plan")
N_ROWS = 2_000  # above 1,000 rows Evidently defaults to Wasserstein / Jensen-Shannon
WASSERSTEIN = "Wasserstein distance (normed)"
JENSEN_SHANNON = "Jensen-Shannon distance"


def make_frame(
    seed: int,
    n: int = N_ROWS,
    *,
    shift: dict[str, float] | None = None,
    region_p: tuple[float, ...] = (0.25, 0.25, 0.25, 0.25),
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    shift = shift or {}
    data: dict[str, object] = {
        name: rng.normal(10.0 * i, 1.0 + i, n) + shift.get(name, 0.0) * (1.0 + i)
        for i, name in enumerate(NUMERIC)
    }
    data["region"] = rng.choice(["north", "south", "east", "west"], n, p=region_p)
    data["plan"] = rng.choice(["basic", "pro"], n, p=[0.7, 0.3])
    return pd.DataFrame(data)


def measure(reference: pd.DataFrame, current: pd.DataFrame, **kwargs: Any) -> DriftResult:
    return measure_drift(
        reference,
        current,
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        **kwargs,
    )


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return make_frame(seed=1)


@pytest.fixture(scope="module")
def same() -> pd.DataFrame:
    return make_frame(seed=2)


@pytest.fixture(scope="module")
def shifted() -> pd.DataFrame:
    # one standard deviation on x1 and x3, and a very different region mix
    return make_frame(seed=3, shift={"x1": 1.0, "x3": 1.0}, region_p=(0.7, 0.1, 0.1, 0.1))


@pytest.fixture(scope="module")
def shifted_result(reference: pd.DataFrame, shifted: pd.DataFrame) -> DriftResult:
    return measure(reference, shifted)


def test_identical_distributions_show_no_drift(reference: pd.DataFrame, same: pd.DataFrame) -> None:
    result = measure(reference, same)

    assert result.drifted_columns() == ()
    assert result.n_drifted == 0 and result.drift_share == 0.0
    assert result.dataset_drift is False
    assert [c.column for c in result.columns] == [*NUMERIC, *CATEGORICAL]
    assert (result.n_reference, result.n_current) == (N_ROWS, N_ROWS)
    for column in result.columns:
        assert column.method == (WASSERSTEIN if column.kind == "numeric" else JENSEN_SHANNON)
        assert column.threshold == pytest.approx(0.1)
        assert 0.0 <= column.score < 0.1


def test_planted_mean_shift_flags_exactly_the_shifted_columns(
    shifted_result: DriftResult,
) -> None:
    assert shifted_result.drifted_columns() == ("x1", "x3", "region")
    assert shifted_result.n_drifted == 3
    assert shifted_result.drift_share == pytest.approx(3 / 7)
    assert shifted_result.dataset_drift is False  # 3/7 < 0.5
    for name in ("x1", "x3"):
        drift = shifted_result.column(name)
        assert drift.kind == "numeric" and drift.method == WASSERSTEIN
        assert drift.score > 0.5  # a shift of one standard deviation
    for name in ("x0", "x2", "x4"):
        assert shifted_result.column(name).score < 0.1


def test_categorical_shift_is_detected(shifted_result: DriftResult) -> None:
    region = shifted_result.column("region")
    plan = shifted_result.column("plan")

    assert region == ColumnDrift(
        column="region",
        kind="categorical",
        method=JENSEN_SHANNON,
        score=region.score,
        threshold=0.1,
        drifted=True,
    )
    assert region.score > 0.2
    assert plan.drifted is False and plan.score < 0.1


def test_share_threshold_decides_dataset_drift(
    reference: pd.DataFrame, shifted: pd.DataFrame
) -> None:
    result = measure(reference, shifted, share_threshold=3 / 7)

    assert result.dataset_drift is True
    assert result.share_threshold == pytest.approx(3 / 7)


def test_small_reference_uses_p_value_tests_consistently() -> None:
    reference = make_frame(seed=4, n=400)
    current = make_frame(seed=5, n=300, shift={"x0": 1.0})

    result = measure(reference, current)

    methods = {c.column: c.method for c in result.columns}
    assert methods == {
        **dict.fromkeys(NUMERIC, "K-S p_value"),
        "region": "chi-square p_value",  # more than two categories
        "plan": "Z-test p_value",  # two categories
    }
    for column in result.columns:
        assert column.threshold == pytest.approx(0.05)
        assert column.drifted == (column.score < column.threshold)
    assert result.column("x0").drifted is True


def test_method_threshold_and_per_column_overrides(
    tmp_path: Path, reference: pd.DataFrame, shifted: pd.DataFrame, shifted_result: DriftResult
) -> None:
    overrides: dict[str, Any] = {
        "method": "psi",
        "per_column_method": {"x0": "ks", "plan": "chisquare"},
    }
    result = measure(reference, shifted, **overrides)

    methods = {c.column: c.method for c in result.columns}
    assert methods == {
        "x0": "K-S p_value",
        "x1": "PSI",
        "x2": "PSI",
        "x3": "PSI",
        "x4": "PSI",
        "region": "PSI",
        "plan": "chi-square p_value",
    }
    assert result.column("x0").threshold == pytest.approx(0.05)
    assert result.column("x1").threshold == pytest.approx(0.1)
    assert result.drifted_columns() == ("x1", "x3", "region")
    # the HTML path (Evidently's preset) resolves the overrides the same way
    assert measure(reference, shifted, html_path=tmp_path / "o.html", **overrides) == result

    lenient = measure(reference, shifted, threshold=5.0)
    assert lenient.drifted_columns() == ()
    assert {c.threshold for c in lenient.columns} == {5.0}
    assert lenient.column("x1").score == pytest.approx(shifted_result.column("x1").score)


def test_frames_are_sampled_to_max_rows_reproducibly(
    reference: pd.DataFrame, shifted: pd.DataFrame
) -> None:
    first = measure(reference, shifted, max_rows=800, seed=11)
    again = measure(reference, shifted, max_rows=800, seed=11)
    other = measure(reference, shifted, max_rows=800, seed=12)

    assert (first.n_reference, first.n_current) == (800, 800)
    assert first == again
    # another seed draws other rows (K-S p-values of some columns may still coincide)
    assert first.column("x0").score != other.column("x0").score
    assert first.column("x0").method == "K-S p_value"  # 800 rows: Evidently's small-data test


def test_html_report_is_written_and_results_match(
    tmp_path: Path, reference: pd.DataFrame, shifted: pd.DataFrame, shifted_result: DriftResult
) -> None:
    html = tmp_path / "reports" / "drift.html"

    result = measure(reference, shifted, html_path=html)

    assert html.is_file()
    text = html.read_text(encoding="utf-8")
    assert text.lstrip().lower().startswith("<html") or "<!doctype html" in text[:200].lower()
    assert len(text) > 10_000
    assert result == shifted_result  # the preset used for HTML gives the same verdicts


def test_to_dict_and_summary(shifted_result: DriftResult) -> None:
    data = json.loads(json.dumps(shifted_result.to_dict()))

    assert data["drifted_columns"] == ["x1", "x3", "region"]
    assert data["n_drifted"] == 3 and data["dataset_drift"] is False
    assert data["columns"][1]["column"] == "x1" and data["columns"][1]["drifted"] is True
    lines = shifted_result.summary().splitlines()
    assert lines[0].startswith("3 of 7 columns drifted (share 43%, threshold 50%): no dataset")
    assert len(lines) == 1 + 7
    assert lines[2].startswith("- x1 (numeric): DRIFT, Wasserstein distance (normed)")


def test_all_null_column_raises_a_clear_value_error(
    reference: pd.DataFrame, same: pd.DataFrame
) -> None:
    current = same.copy()
    current["x2"] = np.nan

    with pytest.raises(ValueError, match=r"Column 'x2' is entirely null in the current data"):
        measure(reference, current)

    with pytest.raises(DataError, match="'region'"):
        measure(reference.assign(region=None), same)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"numeric": ["x0", "nope"], "categorical": []}, r"no column\(s\) \['nope'\]"),
        ({"numeric": ["region"], "categorical": []}, "'region' is declared numeric"),
        ({"numeric": ["x0"], "categorical": ["x0"]}, "more than once"),
        ({"numeric": [], "categorical": []}, "No columns"),
        ({"numeric": ["x0"], "categorical": ["plan"], "method": "nonsense"}, "'nonsense'"),
        (
            {"numeric": ["x0"], "categorical": ["plan"], "per_column_method": {"plan": "ks"}},
            "categorical column 'plan'",
        ),
        ({"numeric": ["x0"], "categorical": [], "per_column_method": {"x9": "ks"}}, "x9"),
        ({"numeric": ["x0"], "categorical": [], "share_threshold": 0.0}, "share_threshold"),
    ],
)
def test_bad_arguments_raise_drift_input_error(
    reference: pd.DataFrame, same: pd.DataFrame, kwargs: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(DriftInputError, match=fragment):
        measure_drift(reference, same, **kwargs)
