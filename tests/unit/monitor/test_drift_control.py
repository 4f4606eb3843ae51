"""Drift alarms with a stated error rate: multiplicity control, effect sizes, value kinds."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from challenger.demo.streams import CATEGORICAL, NUMERIC, Stream
from challenger.errors import DriftInputError
from challenger.monitor.drift import ColumnDrift, DriftSpec, measure_drift
from challenger.monitor.drift.control import adjust, control_alarms, is_p_value
from challenger.monitor.drift.fast import two_sample_evidence


def measure(reference: pd.DataFrame, current: pd.DataFrame, **kwargs: object) -> object:
    spec = DriftSpec(
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        share_threshold=0.3,
        **kwargs,  # type: ignore[arg-type]
    )
    return measure_drift(reference, current, spec)


@pytest.mark.parametrize(("method", "statsmodels_name"), [("holm", "holm"), ("bh", "fdr_bh")])
def test_adjusted_p_values_are_statsmodels(method: str, statsmodels_name: str) -> None:
    rng = np.random.default_rng(3)
    cases = [rng.random(rng.integers(2, 20)) ** 3 for _ in range(6)]  # statsmodels' Holm is slow
    for p in [np.array([0.01]), np.array([0.03, 0.03, 0.5]), *cases]:
        reject, expected, _, _ = multipletests(p, alpha=0.05, method=statsmodels_name)
        got = adjust(p, method)  # type: ignore[arg-type]
        assert got == pytest.approx(expected)
        assert ((got <= 0.05) == reject).all()


def column(name: str, p: float, *, drifted: bool = True, effect: float = 0.2) -> ColumnDrift:
    return ColumnDrift(
        name, "numeric", "K-S p_value", p, 0.05, drifted, p, "two-sample K-S", effect
    )


def test_holm_alarms_only_what_survives_the_family() -> None:
    columns = [
        column("a", 0.001),
        column("b", 0.02),
        column("c", 0.04),
        column("d", 0.6, drifted=False),
    ]

    holm, control = control_alarms(columns, "holm", 0.05)
    bh, _ = control_alarms(columns, "bh", 0.05)
    none, unadjusted = control_alarms(columns, "none", 0.05)

    assert [c.alarm for c in holm] == [True, False, False, False]  # 0.02 x 3 > 0.05
    assert [c.adjusted_p for c in holm] == pytest.approx([0.004, 0.06, 0.08, 0.6])
    assert [c.alarm for c in bh] == [True, True, False, False]  # 0.02 x 4/2 = 0.04 <= 0.05
    assert [c.alarm for c in none] == [True, True, True, False]  # the old rule
    assert control.error == "family-wise error rate" and control.n_tests == 4
    assert "at most 5%" in control.statement()
    assert "No multiplicity control" in unadjusted.statement()
    assert control.to_dict()["statement"] == control.statement()


def test_a_p_value_test_needs_a_minimum_effect_at_large_n() -> None:
    rng = np.random.default_rng(9)
    n = 60_000  # 0.03 sd is significant on this many rows, and it does not matter
    reference = pd.DataFrame({"x": rng.normal(0, 1, n), "c": rng.choice(["a", "b"], n)})
    current = pd.DataFrame({"x": rng.normal(0.03, 1, n), "c": rng.choice(["a", "b"], n)})
    shifted = pd.DataFrame({"x": rng.normal(0.5, 1, n), "c": rng.choice(["a", "b"], n)})

    def ks(cur: pd.DataFrame, **kwargs: object) -> ColumnDrift:
        spec = DriftSpec(
            numeric=["x"], categorical=["c"], per_column_method={"x": "ks"},
            **kwargs,  # type: ignore[arg-type]
        )  # fmt: skip
        return measure_drift(reference, cur, spec).column("x")

    tiny = ks(current)
    assert tiny.drifted is True and tiny.adjusted_p is not None and tiny.adjusted_p < 0.001
    assert tiny.effect is not None and tiny.effect < 0.05 and tiny.alarm is False
    assert ks(current, min_effect=None).alarm is True  # without the effect rule it would alarm
    assert ks(shifted).alarm is True  # a real shift still does
    # a distance test is its own effect-size rule: 0.03 sd is far below Wasserstein's 0.1
    wasserstein = measure_drift(reference, current, DriftSpec(numeric=["x"], categorical=["c"]))
    assert wasserstein.column("x").drifted is False and wasserstein.column("x").alarm is False


def test_evidentlys_chi_square_is_anti_conservative_and_homogeneity_is_not() -> None:
    """Evidently's chi-square takes the reference's shares as exact: on 700 reference rows
    an unchanged categorical column looks drifted far more often than 5 % of the time."""
    rng = np.random.default_rng(1)
    p = [0.3, 0.2, 0.15, 0.1, 0.1, 0.07, 0.05, 0.03]
    evidently, homogeneity = [], []
    for _ in range(200):
        ref = pd.Series(rng.choice(len(p), 700, p=p))
        cur = pd.Series(rng.choice(len(p), 1000, p=p))
        counts_ref = np.bincount(ref, minlength=len(p)).astype(float)
        counts_cur = np.bincount(cur, minlength=len(p)).astype(float)
        expected = counts_ref * counts_cur.sum() / counts_ref.sum()
        evidently.append(stats.chisquare(counts_cur, expected).pvalue < 0.05)
        homogeneity.append(two_sample_evidence("categorical", ref, cur)[0] < 0.05)
    assert np.mean(evidently) > 0.2
    assert np.mean(homogeneity) < 0.09


def test_a_stationary_stream_of_coded_categories_does_not_alarm() -> None:
    """Issue 11 item 4: six numeric and three integer-coded columns, 1,000-row batches."""
    stream = Stream(seed=4)
    reference = stream.batch(0).iloc[:700]  # the champion's training rows
    shares_old, shares_new = [], []
    for i in range(1, 25):
        current = stream.batch(i)
        shares_old.append(measure(reference, current, control="none").drift_share)
        result = measure(reference, current)
        shares_new.append(result.drift_share)
        assert result.control is not None and result.control.method == "holm"
    assert sum(s >= 0.3 for s in shares_old) >= 3  # the old rule retrains on quiet days
    assert sum(s >= 0.3 for s in shares_new) == 0
    assert np.mean(shares_new) < 0.05


def test_a_real_shift_still_alarms_on_the_shifted_columns() -> None:
    reference = Stream(seed=5).batch(0).iloc[:700]
    shifted = Stream("covariate", change_at=0, seed=5).batch(1)

    result = measure(reference, shifted)

    assert {"x0", "x1", "x3", "c1"} <= set(result.drifted_columns())
    assert result.drift_share >= 0.3 and result.dataset_drift is True


def test_columns_of_different_kinds_are_compared_as_text_and_said_so() -> None:
    stream = Stream(seed=6)
    reference, current = stream.batch(0).iloc[:700], stream.batch(1)
    as_text = current.assign(c0=current["c0"].astype(str), c2=current["c2"].astype(float))

    result = measure(reference, as_text)
    same = measure(reference, current)

    assert len(result.notes) == 1  # int vs float codes are one kind: no note for c2
    assert "'c0'" in result.notes[0] and "integer codes in the reference" in result.notes[0]
    assert "strings in the current data" in result.notes[0]
    assert result.column("c0").score == pytest.approx(same.column("c0").score)
    assert result.column("c0").alarm is False
    assert result.to_dict()["notes"] == list(result.notes)
    renamed = current.assign(c0=current["c0"].map({0: "a", 1: "b", 2: "c"}))
    disjoint = measure(reference, renamed)
    assert "share no category" in disjoint.notes[0]
    assert disjoint.column("c0").alarm is True


def test_a_numeric_column_holding_text_is_refused() -> None:
    stream = Stream(seed=6)
    current = stream.batch(1).assign(x0=lambda f: f["x0"].astype(str))
    with pytest.raises(DriftInputError, match="'x0' is declared numeric"):
        measure(stream.batch(0), current)


def test_an_unknown_evidently_test_is_classified_by_its_verdict() -> None:
    p_value = ColumnDrift("a", "numeric", "Anderson-Darling", 0.01, 0.1, True)
    distance = ColumnDrift("a", "numeric", "Energy-distance", 0.3, 0.1, True)
    assert is_p_value(p_value) and not is_p_value(distance)
    assert is_p_value(dataclasses.replace(p_value, method="K-S p_value", score=0.5, drifted=False))
    with pytest.raises(ValueError, match="no two-sample p-value"):
        control_alarms([p_value], "holm")
