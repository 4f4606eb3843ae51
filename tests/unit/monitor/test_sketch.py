"""The drift decision from a stored reference sketch agrees with the exact one on seeded data."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from challenger.errors import DriftInputError
from challenger.monitor.drift import DriftSpec, measure_drift, measure_drift_from_sketch
from challenger.monitor.drift.fast import fast_drifts
from challenger.monitor.drift.result import DriftKind, DriftResult
from challenger.monitor.drift.sketch import (
    LEVELS,
    ColumnSketch,
    ReferenceSketch,
    column_kinds,
    ks_statistic,
    read_payload,
    sketch_drifts,
    sketch_frame,
    sketch_gaps,
    sketch_payload,
)

NUMERIC = ["n_same", "n_shift", "n_scale", "n_heavy", "n_codes", "n_few"]
CATEGORICAL = ["c_same", "c_shift", "c_bool", "c_codes"]
SHIFTED = {"n_shift", "n_scale", "c_shift", "c_codes"}


def _frame(rng: np.random.Generator, n: int, shift: bool) -> pd.DataFrame:
    s = 1.0 if shift else 0.0
    frame = pd.DataFrame(
        {
            "n_same": rng.normal(size=n),
            "n_shift": rng.normal(0.3 * s, 1.0, size=n),
            "n_scale": rng.normal(0.0, 1.0 + 0.4 * s, size=n),
            "n_heavy": rng.standard_t(3, size=n) * 100,
            "n_codes": rng.integers(0, 40, size=n),  # an integer column with few values
            "n_few": rng.integers(0, 3, size=n).astype(float),
            "c_same": rng.choice(list("abcde"), size=n, p=[0.4, 0.3, 0.15, 0.1, 0.05]),
            "c_shift": rng.choice(list("abc"), size=n, p=[0.5 - 0.15 * s, 0.3, 0.2 + 0.15 * s]),
            "c_bool": rng.random(n) < 0.3,
            "c_codes": rng.choice([1, 2, 3, 4, 5, 6, 7], size=n, p=[*[0.14] * 6, 0.16])
            if not shift
            else rng.choice([1, 2, 3, 4, 5, 6, 7], size=n, p=[0.3, *[0.1] * 5, 0.2]),
        }
    )
    frame.loc[frame.index[::37], "n_same"] = np.nan
    frame.loc[frame.index[::53], "c_same"] = None
    return frame


def _spec(**extra: Any) -> DriftSpec:
    return DriftSpec(**{"numeric": NUMERIC, "categorical": CATEGORICAL, **extra})


def _both(reference: pd.DataFrame, current: pd.DataFrame, **extra: Any) -> tuple[DriftResult, ...]:
    """The exact decision on the rows, and the decision from the JSON-logged sketch."""
    exact = measure_drift(reference, current, _spec(**extra), engine="fast")
    stored = read_payload(json.loads(json.dumps(sketch_payload(reference), default=str)))
    assert stored is not None
    sketched = measure_drift_from_sketch(stored.columns, stored.n_rows, current, _spec(**extra))
    return exact, sketched


def _verdicts(result: DriftResult) -> dict[str, tuple[str, bool, bool | None]]:
    return {c.column: (c.method, c.drifted, c.alarm) for c in result.columns}


@pytest.mark.parametrize("control", ["holm", "bh", "none"])
@pytest.mark.parametrize("shift", [False, True])
def test_sketch_and_exact_decisions_are_the_same(shift: bool, control: str) -> None:
    rng = np.random.default_rng(11)
    reference, current = _frame(rng, 6000, False), _frame(rng, 20_000, shift)
    exact, sketched = _both(reference, current, control=control)
    assert _verdicts(sketched) == _verdicts(exact)
    assert sketched.dataset_drift == exact.dataset_drift
    assert sketched.n_drifted == exact.n_drifted
    assert sketched.engine == "sketch" and sketched.n_reference == exact.n_reference == 6000
    alarmed = set(exact.drifted_columns())
    if control != "none":  # the planted shift is found, and nothing else
        assert alarmed == (SHIFTED if shift else set())
    for c in exact.columns:  # counted / whole columns are decided exactly
        s = sketched.column(c.column)
        if c.column not in ("n_same", "n_shift", "n_scale", "n_heavy"):
            assert s.score == pytest.approx(c.score, rel=1e-9, abs=1e-12), c.column
            assert s.p_value == pytest.approx(c.p_value, rel=1e-9, abs=1e-300), c.column
        else:  # gridded: within the stated bound of the exact K-S statistic
            assert s.effect == pytest.approx(c.effect, abs=1 / (LEVELS - 1) + 2 / 6000)


def test_a_small_reference_is_kept_whole_and_decided_exactly() -> None:
    rng = np.random.default_rng(3)
    reference, current = _frame(rng, 400, False), _frame(rng, 3000, True)
    exact, sketched = _both(reference, current)
    assert _verdicts(sketched) == _verdicts(exact)
    for c in exact.columns:  # K-S / chi-square on every value: the same numbers
        assert sketched.column(c.column).score == pytest.approx(c.score, rel=1e-9)
        assert sketched.column(c.column).adjusted_p == pytest.approx(c.adjusted_p, rel=1e-9)


def test_prediction_and_target_are_compared_from_the_sketch() -> None:
    rng = np.random.default_rng(5)
    reference, current = _frame(rng, 3000, False), _frame(rng, 5000, True)
    for frame in (reference, current):
        frame["score"] = 1 / (1 + np.exp(-frame["n_shift"]))
        frame["label"] = (frame["n_shift"] > 0).astype(int)
    exact, sketched = _both(reference, current, prediction="score", target="label")
    assert sketched.prediction is not None and exact.prediction is not None
    assert sketched.target is not None and exact.target is not None
    assert sketched.prediction.drifted == exact.prediction.drifted
    assert sketched.target.score == pytest.approx(exact.target.score, rel=1e-9)


def test_codes_against_text_are_compared_as_text_with_the_same_note() -> None:
    rng = np.random.default_rng(2)
    reference, current = _frame(rng, 2000, False), _frame(rng, 2000, False)
    current["c_codes"] = current["c_codes"].astype(str)
    exact, sketched = _both(reference, current)
    assert sketched.notes == exact.notes and "c_codes" in sketched.notes[0]
    assert sketched.column("c_codes").score == pytest.approx(exact.column("c_codes").score)


def test_gridded_ks_statistic_is_within_its_bound() -> None:
    rng = np.random.default_rng(0)
    for shift in (0.0, 0.05, 0.3):
        ref = rng.normal(size=20_000)
        cur = np.sort(rng.normal(shift, 1.0, size=50_000))
        sketch = sketch_frame(pd.DataFrame({"x": ref}), {"x": "numeric"})["x"]
        exact = fast_drifts(
            pd.DataFrame({"x": ref}),
            pd.DataFrame({"x": cur}),
            {"x": "numeric"},
            {"x": None},
            {"x": None},
        )["x"]
        assert ks_statistic(sketch, cur) == pytest.approx(
            exact.effect, abs=1 / (LEVELS - 1) + 1 / ref.size
        )


def test_what_the_sketch_cannot_decide_is_named() -> None:
    rng = np.random.default_rng(1)
    reference = _frame(rng, 3000, False)
    stored = sketch_frame(reference, column_kinds(reference))
    kinds: dict[str, DriftKind] = {"n_same": "numeric", "c_same": "categorical"}
    assert sketch_gaps(stored, kinds, {"n_same": None, "c_same": "psi"}) == []
    gaps = sketch_gaps(stored, kinds, {"n_same": "psi", "c_same": "anderson"})
    assert len(gaps) == 2 and "'psi'" in gaps[0] and "only Evidently" in gaps[1]
    assert sketch_gaps(stored, {"gone": "numeric"}, {"gone": None})
    # an integer-coded column declared categorical is decided from its counts
    assert sketch_gaps(stored, {"n_codes": "categorical"}, {"n_codes": None}) == []
    assert sketch_gaps(stored, {"n_heavy": "categorical"}, {"n_heavy": None})
    with pytest.raises(DriftInputError, match="cannot decide"):
        measure_drift_from_sketch(
            stored, 3000, reference, DriftSpec(numeric=["n_same"], categorical=[], method="psi")
        )


def test_a_column_without_values_in_the_reference_is_refused() -> None:
    rng = np.random.default_rng(1)
    reference, current = _frame(rng, 500, False), _frame(rng, 500, False)
    reference["n_same"] = np.nan
    stored = sketch_frame(reference, column_kinds(reference))
    with pytest.raises(DriftInputError, match="entirely null in the reference"):
        measure_drift_from_sketch(
            stored, 500, current, DriftSpec(numeric=["n_same"], categorical=[])
        )


def test_payload_round_trips_and_older_payloads_fall_back() -> None:
    rng = np.random.default_rng(5)
    reference = _frame(rng, 1500, False)
    outputs = {"binary": rng.random(1500), "multiclass": rng.choice(["a", "b"], size=1500)}
    payload = json.loads(json.dumps(sketch_payload(reference, outputs), default=str))
    stored = read_payload(payload)
    assert isinstance(stored, ReferenceSketch) and stored.n_rows == 1500
    assert stored.columns == sketch_frame(reference, column_kinds(reference))
    assert stored.predictions["binary"].kind == "numeric"
    assert stored.predictions["multiclass"].kind == "categorical"
    for sketch in stored.columns.values():
        assert ColumnSketch.from_dict(sketch.to_dict()) == sketch
    assert read_payload(None) is None  # a champion registered before sketches: use the rows
    assert read_payload({**payload, "levels": 11}) is None
    assert read_payload({k: v for k, v in payload.items() if k != "format"}) is None


def test_vectorised_quantiles_equal_numpy_quantile() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(5000, 3)), columns=list("xyz"))
    frame.iloc[::7, 1] = np.nan
    sketches = sketch_frame(frame, dict.fromkeys("xyz", "numeric"))
    for column in "xyz":
        values = frame[column].dropna().to_numpy()
        expected = np.quantile(values, np.linspace(0, 1, LEVELS))
        np.testing.assert_allclose(sketches[column].quantiles, expected, rtol=1e-12)
        assert sketches[column].n == values.size
        assert sketches[column].std == pytest.approx(float(np.std(values)))
        assert not sketches[column].whole  # too many values to keep: decided on the grid


def test_sketch_drifts_match_fast_drifts_column_by_column() -> None:
    rng = np.random.default_rng(7)
    reference, current = _frame(rng, 3000, False), _frame(rng, 3000, True)
    kinds: dict[str, DriftKind] = {c: "numeric" for c in NUMERIC}
    kinds.update({c: "categorical" for c in CATEGORICAL})
    nones: dict[str, None] = dict.fromkeys(kinds)
    exact = fast_drifts(reference, current, kinds, nones, nones)
    sketched = sketch_drifts(sketch_frame(reference, kinds), current, kinds, nones, nones)
    for column in kinds:
        e, s = exact[column], sketched[column]
        assert (s.method, s.drifted, s.p_test) == (e.method, e.drifted, e.p_test), column
