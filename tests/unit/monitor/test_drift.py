"""Unit tests for challenger.drift (real Evidently and the fast engine, small seeded frames)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from challenger.errors import DataError, DriftInputError
from challenger.monitor.drift import (
    FAST_METHODS,
    ColumnDrift,
    DriftResult,
    DriftSpec,
    measure_drift,
)

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


SPEC_FIELDS = frozenset(f.name for f in dataclasses.fields(DriftSpec))


def measure_with(reference: pd.DataFrame, current: pd.DataFrame, **kwargs: Any) -> DriftResult:
    """:func:`measure_drift`: the :class:`DriftSpec` fields in ``kwargs`` make the spec, the
    others (``engine``, ``max_rows``, ``seed``, ``html_path``) go to the call."""
    spec = DriftSpec(**{k: kwargs.pop(k) for k in SPEC_FIELDS.intersection(kwargs)})
    return measure_drift(reference, current, spec, **kwargs)


def measure(reference: pd.DataFrame, current: pd.DataFrame, **kwargs: Any) -> DriftResult:
    return measure_with(reference, current, numeric=NUMERIC, categorical=CATEGORICAL, **kwargs)


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

    assert dataclasses.replace(
        region, p_value=None, p_test=None, effect=None, adjusted_p=None, alarm=None
    ) == ColumnDrift(
        column="region",
        kind="categorical",
        method=JENSEN_SHANNON,
        score=region.score,
        threshold=0.1,
        drifted=True,
    )
    assert region.alarm is True and region.p_test == "chi-square homogeneity"
    assert region.effect is not None and region.effect > 0.3  # 0.25 -> 0.7 of the mass
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
    # the HTML report (Evidently's preset) does not change the verdicts
    with_html = measure(reference, shifted, html_path=tmp_path / "o.html", **overrides)
    assert dataclasses.replace(with_html, report_rows=None) == result
    # Evidently itself resolves the overrides the same way
    assert _same_verdicts(measure(reference, shifted, engine="evidently", **overrides), result)

    lenient = measure(reference, shifted, threshold=5.0)
    assert lenient.drifted_columns() == ()
    assert {c.threshold for c in lenient.columns} == {5.0}
    assert lenient.column("x1").score == pytest.approx(shifted_result.column("x1").score)


def test_evidently_engine_samples_to_max_rows_reproducibly(
    reference: pd.DataFrame, shifted: pd.DataFrame
) -> None:
    first = measure(reference, shifted, max_rows=800, seed=11, engine="evidently")
    again = measure(reference, shifted, max_rows=800, seed=11, engine="evidently")
    other = measure(reference, shifted, max_rows=800, seed=12, engine="evidently")

    assert first.engine == "evidently"
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
    assert result.report_rows == N_ROWS
    # the report is drawn by Evidently; the verdicts stay the fast engine's
    assert dataclasses.replace(result, report_rows=None) == shifted_result


def test_report_is_drawn_on_a_bounded_sample_while_the_verdicts_use_every_row(
    tmp_path: Path, reference: pd.DataFrame, shifted: pd.DataFrame
) -> None:
    result = measure(reference, shifted, max_rows=300, html_path=tmp_path / "r.html")

    assert result.engine == "fast"
    assert (result.n_reference, result.n_current) == (N_ROWS, N_ROWS)
    assert result.report_rows == 300
    assert (tmp_path / "r.html").stat().st_size > 10_000


def test_to_dict_and_summary(shifted_result: DriftResult) -> None:
    data = json.loads(json.dumps(shifted_result.to_dict()))

    assert data["drifted_columns"] == ["x1", "x3", "region"]
    assert data["n_drifted"] == 3 and data["dataset_drift"] is False
    assert data["columns"][1]["column"] == "x1" and data["columns"][1]["drifted"] is True
    assert data["engine"] == "fast" and data["prediction"] is None and data["target"] is None
    assert data["control"]["method"] == "holm" and data["control"]["n_tests"] == 7
    assert data["unadjusted_columns"] == ["x1", "x3", "region"] and data["notes"] == []
    lines = shifted_result.summary().splitlines()
    assert lines[0].startswith("3 of 7 columns drifted (share 43%, threshold 50%): no dataset")
    assert lines[1].startswith("Holm over 7 feature columns")
    assert len(lines) == 2 + 7
    assert lines[3].startswith("- x1 (numeric): DRIFT, Wasserstein distance (normed)")


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
        ({"numeric": ["x0"], "categorical": [], "per_column_threshold": {"x9": 1.0}}, "x9"),
        ({"numeric": ["x0"], "categorical": [], "per_column_threshold": {"x0": 0}}, "above 0"),
        ({"numeric": ["x0"], "categorical": [], "prediction": "x0"}, "also listed as a feature"),
        (
            {"numeric": ["x0"], "categorical": [], "prediction": "nope"},
            r"no column\(s\) \['nope'\]",
        ),
        ({"numeric": ["x0"], "categorical": [], "engine": "turbo"}, "engine is 'turbo'"),
    ],
)
def test_bad_arguments_raise_drift_input_error(
    reference: pd.DataFrame, same: pd.DataFrame, kwargs: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(DriftInputError, match=fragment):
        measure_with(reference, same, **kwargs)


# --- the fast engine against Evidently ------------------------------------------------------


def _same_verdicts(evidently: DriftResult, fast: DriftResult, rel: float = 1e-7) -> bool:
    """Same methods, thresholds and verdicts, and scores equal up to float rounding."""
    pairs = list(zip(evidently.columns, fast.columns, strict=True))
    for extra in ("prediction", "target"):
        a, b = getattr(evidently, extra), getattr(fast, extra)
        assert (a is None) == (b is None), extra
        if a is not None:
            pairs.append((a, b))
    for a, b in pairs:
        assert (a.column, a.kind, a.method) == (b.column, b.kind, b.method), (a, b)
        assert a.threshold == pytest.approx(b.threshold), a.column
        assert a.score == pytest.approx(b.score, rel=rel, abs=1e-12), (a, b)
        assert a.drifted == b.drifted, (a, b)
    return evidently.drift_share == fast.drift_share


MIXED_NUMERIC = ("cont", "few", "some", "holes", "ints")
MIXED_CATEGORICAL = ("colour", "flag", "gaps", "codes")


def mixed_frame(seed: int, n: int, shift: float = 0.0) -> pd.DataFrame:
    """Every shape of column the defaults treat differently, with nulls and infinities."""
    rng = np.random.default_rng(seed)
    holes = rng.normal(5 + shift, 2, n)
    holes[rng.random(n) < 0.1] = np.nan
    holes[:3] = np.inf
    gaps = rng.choice(np.array(["a", "b", "c", None], dtype=object), n, p=[0.4, 0.3, 0.2, 0.1])
    return pd.DataFrame(
        {
            "cont": rng.normal(shift, 1, n),
            "few": rng.integers(0, 3 + (shift > 0), n).astype(float),  # <= 5 values
            "some": rng.integers(0, 12, n) + (rng.random(n) < shift / 4),  # 6-20 values
            "holes": holes,
            "ints": rng.poisson(4 + shift, n),
            "colour": rng.choice(["red", "green", "blue", "black"], n, p=[0.4, 0.3, 0.2, 0.1]),
            "flag": rng.choice(["yes", "no"], n, p=[0.5 + shift / 10, 0.5 - shift / 10]),
            "gaps": gaps,
            "codes": rng.integers(1, 6, n),
            "score": 1 / (1 + np.exp(-rng.normal(shift, 1, n))),
            "label": rng.integers(0, 2, n).astype(float),
        }
    )


def measure_mixed(
    reference: pd.DataFrame, current: pd.DataFrame, engine: str, **kwargs: Any
) -> DriftResult:
    return measure_with(
        reference,
        current,
        numeric=MIXED_NUMERIC,
        categorical=MIXED_CATEGORICAL,
        prediction="score",
        target="label",
        engine=engine,
        max_rows=100_000,
        **kwargs,
    )


@pytest.mark.parametrize("n_reference", [600, 1_500], ids=["p-value-tests", "distances"])
def test_fast_engine_matches_evidently_with_default_methods(n_reference: int) -> None:
    reference = mixed_frame(1, n_reference)
    current = mixed_frame(2, 900, shift=0.6)

    fast = measure_mixed(reference, current, "fast")
    evidently = measure_mixed(reference, current, "evidently")

    assert fast.engine == "fast" and evidently.engine == "evidently"
    assert _same_verdicts(evidently, fast)
    assert 0 < fast.n_drifted < len(fast.columns)  # some drift, not all: verdicts are informative
    assert fast.prediction is not None and fast.prediction.drifted
    assert fast.target is not None and fast.target.kind == "categorical"


@pytest.mark.parametrize(
    ("method", "per_column"),
    [
        ("psi", {}),
        ("kl_div", {}),
        ("jensenshannon", {}),
        ("hellinger", {}),
        ("wasserstein", dict.fromkeys(MIXED_CATEGORICAL, "chisquare")),
        ("ks", dict.fromkeys(MIXED_CATEGORICAL, "z")),
    ],
)
def test_fast_engine_matches_evidently_method_by_method(
    method: str, per_column: dict[str, str]
) -> None:
    reference = mixed_frame(3, 1_200)
    current = mixed_frame(4, 700, shift=0.4)
    kwargs: dict[str, Any] = {"per_column_method": per_column}
    if method in ("wasserstein", "ks"):
        kwargs["per_column_method"] |= dict.fromkeys(MIXED_NUMERIC, method)
        kwargs["method"] = None
    else:
        kwargs["method"] = method

    fast = measure_mixed(reference, current, "fast", **kwargs)
    evidently = measure_mixed(reference, current, "evidently", **kwargs)

    assert _same_verdicts(evidently, fast)
    assert all(c.method == fast.columns[0].method for c in fast.columns[: len(MIXED_NUMERIC)])


def test_fast_methods_table_agrees_with_evidentlys_registry() -> None:
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    from challenger.monitor.drift.methods import METHODS

    assert set(METHODS) == FAST_METHODS
    for name, spec in METHODS.items():
        for kind, column_type in (
            ("numeric", ColumnType.Numerical),
            ("categorical", ColumnType.Categorical),
        ):
            if kind in spec.kinds:
                test = get_registered_stattest(name, column_type)
                assert test.display_name == spec.display_name
                assert test.default_threshold == spec.default_threshold
            else:
                with pytest.raises(ValueError):
                    get_registered_stattest(name, column_type)


def test_large_columns_agree_with_plain_scipy() -> None:
    from scipy import stats

    rng = np.random.default_rng(9)
    n = 60_000  # above 10,000 rows the K-S p-value is scipy's asymptotic one
    reference = pd.DataFrame({"x": rng.normal(0, 1, n), "c": rng.choice(["a", "b", "c"], n)})
    current = pd.DataFrame({"x": rng.normal(0.03, 1, n), "c": rng.choice(["a", "b", "c"], n)})

    wasserstein = measure_drift(reference, current, DriftSpec(numeric=["x"], categorical=["c"]))
    ks = measure_drift(
        reference,
        current,
        DriftSpec(numeric=["x"], categorical=["c"], method=None, per_column_method={"x": "ks"}),
    )

    expected = stats.wasserstein_distance(reference.x, current.x) / np.std(reference.x)
    assert wasserstein.column("x").score == pytest.approx(expected, rel=1e-9)
    assert ks.column("x").score == pytest.approx(
        stats.ks_2samp(reference.x, current.x).pvalue, rel=1e-9
    )
    assert ks.column("x").drifted is True  # 0.03 sd over 60,000 rows is significant
    assert wasserstein.column("x").drifted is False  # and far below the 0.1 distance


def test_per_column_threshold_and_auto_falls_back_for_other_methods(
    reference: pd.DataFrame, shifted: pd.DataFrame
) -> None:
    strict = measure(reference, shifted, per_column_threshold={"x0": 0.001, "region": 5.0})
    assert strict.column("x0").threshold == 0.001 and strict.column("x0").drifted is True
    assert strict.column("region").threshold == 5.0 and strict.column("region").drifted is False
    assert strict.column("x1").threshold == pytest.approx(0.1)

    other = measure(reference, shifted, per_column_method={"x0": "anderson"})
    assert other.engine == "evidently"  # the fast engine does not implement Anderson-Darling
    assert other.column("x0").method == "Anderson-Darling"
    with pytest.raises(DriftInputError, match=r"does not implement \['anderson'\]"):
        measure(reference, shifted, per_column_method={"x0": "anderson"}, engine="fast")


def test_target_drift_waits_for_labels() -> None:
    reference = mixed_frame(5, 1_500)
    current = mixed_frame(6, 800).assign(label=np.nan)  # labels have not arrived

    result = measure_mixed(reference, current, "fast")

    assert result.target is None and result.prediction is not None
    assert "label" not in {c.column for c in result.columns}
    relabelled = current.assign(label=np.r_[np.ones(700), np.zeros(100)])
    shifted_target = measure_mixed(reference, relabelled, "fast").target
    assert shifted_target is not None and shifted_target.drifted is True
