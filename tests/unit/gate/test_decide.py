from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from challenger.config import BudgetsConfig, CalibrationConfig, GateConfig, SliceConfig
from challenger.gate.decide import Outcome, decide
from challenger.gate.evidence import Check, Evidence, gather_evidence

OK = (Check("smoke_test", True, "20 rows", "predicts", "fine"),)
# The primary-rule tests switch the calibration guard off: their synthetic scores are not calibrated.
PLAIN = GateConfig(calibration=CalibrationConfig(max_increase=None))


def _evidence(delta_shift: float, n: int = 2000, seed: int = 0) -> Evidence:
    """Champion and challenger scores on the same rows; the challenger's signal is shifted."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    signal = y * 1.0
    shared = rng.normal(0, 1.2, n)  # both models see the same hard rows, as real ones do
    champion = 1 / (1 + np.exp(-(signal + shared + rng.normal(0, 0.4, n))))
    challenger = 1 / (1 + np.exp(-((1 + delta_shift) * signal + shared + rng.normal(0, 0.4, n))))
    return gather_evidence(
        y,
        challenger,
        champion,
        primary_metric="roc_auc",
        champion_version=1,
        challenger_version=2,
        confidence=0.95,
        n_resamples=1000,
        seed=seed,
    )


def test_clearly_better_challenger_is_promoted() -> None:
    d = decide(_evidence(1.0), OK, PLAIN)
    assert d.outcome is Outcome.PROMOTE and d.promotes
    assert "lower bound clears" in d.reason


def test_clearly_worse_challenger_is_rejected() -> None:
    d = decide(_evidence(-0.8), OK, PLAIN)
    assert d.outcome is Outcome.REJECT and not d.promotes
    assert "worse than the champion" in d.reason


def test_noise_is_inconclusive_and_says_how_much_data_would_decide() -> None:
    ev = _evidence(0.0, n=400)
    assert ev.primary is not None and ev.primary.lower < 0 < ev.primary.upper
    d = decide(ev, OK, PLAIN)
    assert d.outcome is Outcome.INCONCLUSIVE and not d.promotes
    assert "straddles" in d.reason


def test_failed_hard_check_rejects_even_a_better_model() -> None:
    bad = (Check("smoke_test", False, "error", "predicts", "v2 failed to predict"),)
    d = decide(_evidence(1.0), bad, PLAIN)
    assert d.outcome is Outcome.REJECT and not d.promotes
    assert "smoke_test" in d.reason


def test_tiny_holdout_is_inconclusive() -> None:
    d = decide(_evidence(1.0, n=100), OK, PLAIN.model_copy(update={"min_holdout_rows": 200}))
    assert d.outcome is Outcome.INCONCLUSIVE and d.rows_needed == 200


def test_non_inferiority_accepts_a_slightly_worse_model_within_margin() -> None:
    ev = _evidence(-0.02, n=6000)
    assert ev.primary is not None and ev.primary.delta < 0.005
    sup = decide(ev, OK, PLAIN)
    ni = decide(ev, OK, PLAIN.model_copy(update={"rule": "non_inferiority", "margin": 0.05}))
    assert sup.outcome is not Outcome.PROMOTE
    assert ni.outcome is Outcome.PROMOTE


def test_first_champion_floor() -> None:
    ev = dataclasses.replace(_evidence(1.0), champion_version=None, primary=None)
    assert (
        decide(ev, OK, PLAIN.model_copy(update={"first_champion_floor": 0.6})).outcome
        is Outcome.PROMOTE
    )
    low = decide(ev, OK, PLAIN.model_copy(update={"first_champion_floor": 0.99}))
    assert low.outcome is Outcome.REJECT and "misses the floor" in low.reason


def test_dry_run_records_but_never_blocks() -> None:
    d = decide(_evidence(-0.8), OK, PLAIN.model_copy(update={"mode": "dry_run"}))
    assert d.outcome is Outcome.REJECT and d.promotes
    assert d.reason.startswith("[dry run")
    hard_fail = decide(
        _evidence(1.0),
        (Check("smoke_test", False, "x", "y", "broken"),),
        PLAIN.model_copy(update={"mode": "dry_run"}),
    )
    assert not hard_fail.promotes


def test_decision_is_deterministic_and_serialisable() -> None:
    a = decide(_evidence(0.3, seed=5), OK, PLAIN).to_dict()
    b = decide(_evidence(0.3, seed=5), OK, PLAIN).to_dict()
    assert a == b
    assert {c["name"] for c in a["checks"]} >= {
        "smoke_test",
        "min_holdout_rows",
        "primary_metric_superiority",
    }


@pytest.mark.parametrize("metric", ["accuracy", "log_loss", "brier"])
def test_other_primary_metrics(metric: str) -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 3000)
    good = np.clip(y * 0.6 + 0.2 + rng.normal(0, 0.1, 3000), 0.01, 0.99)
    poor = np.clip(y * 0.2 + 0.4 + rng.normal(0, 0.1, 3000), 0.01, 0.99)
    ev = gather_evidence(
        y,
        good,
        poor,
        primary_metric=metric,
        champion_version=1,
        challenger_version=2,
        confidence=0.95,
        n_resamples=500,
        seed=0,
    )
    assert decide(ev, OK, PLAIN).outcome is Outcome.PROMOTE


def test_latency_budget_rejects_a_better_model() -> None:
    from challenger.gate.evidence import Operational

    ev = dataclasses.replace(
        _evidence(1.0),
        operational={
            "champion": Operational(latency_p99_ms=1.0, model_size_mb=1.0),
            "challenger": Operational(latency_p99_ms=9.0, model_size_mb=1.5),
        },
    )
    relative = decide(ev, OK, PLAIN)  # default relative budget: p99 <= 5x champion
    assert relative.outcome is Outcome.REJECT and not relative.promotes
    assert "relative_latency_p99" in relative.reason and "9.00x" in relative.reason
    no_relative = PLAIN.relative_budgets.model_copy(update={"latency_p99": None})
    absolute = decide(
        ev,
        OK,
        PLAIN.model_copy(
            update={"budgets": BudgetsConfig(model_size_mb=1.2), "relative_budgets": no_relative}
        ),
    )
    assert absolute.outcome is Outcome.REJECT and "budget_model_size_mb" in absolute.reason
    # Guardrails never block in dry_run; integrity checks still do.
    dry = decide(ev, OK, PLAIN.model_copy(update={"mode": "dry_run"}))
    assert dry.outcome is Outcome.REJECT and dry.promotes


def test_calibration_guard() -> None:
    rng = np.random.default_rng(3)
    calibrated = rng.uniform(0.05, 0.95, 4000)
    y = (rng.random(4000) < calibrated).astype(int)  # the champion's probabilities are true
    logit = np.log(calibrated / (1 - calibrated))
    overconfident = 1 / (1 + np.exp(-4 * logit))  # same ranking, so the same AUC
    ev = gather_evidence(
        y,
        overconfident,
        calibrated,
        primary_metric="roc_auc",
        champion_version=1,
        challenger_version=2,
        confidence=0.95,
        n_resamples=500,
        seed=0,
    )
    d = decide(ev, OK, GateConfig(rule="non_inferiority", margin=0.5, slices=()))
    assert d.outcome is Outcome.REJECT
    assert d.reason.startswith("guardrail calibration_ece failed") and "Primary metric:" in d.reason


def test_slice_regression_is_caught_with_holm() -> None:
    rng = np.random.default_rng(4)
    n = 6000
    y = rng.integers(0, 2, n)
    segment = np.where(rng.random(n) < 0.8, "web", "partner")
    shared = rng.normal(0, 1.0, n)
    champion = 1 / (1 + np.exp(-(1.5 * y + shared)))
    # Better overall (web is 80 % of rows) but much worse on partner rows.
    challenger = 1 / (1 + np.exp(-(np.where(segment == "web", 2.5, 0.6) * y + shared)))
    slices = (SliceConfig(column="channel", margin=0.02, min_rows=100),)
    ev = gather_evidence(
        y,
        challenger,
        champion,
        primary_metric="roc_auc",
        champion_version=1,
        challenger_version=2,
        confidence=0.95,
        n_resamples=500,
        seed=0,
        slice_values={"channel": segment},
        slices=slices,
    )
    assert ev.primary is not None and ev.primary.lower > 0  # overall it looks better
    partner = next(s for s in ev.slices if s.value == "partner")
    web = next(s for s in ev.slices if s.value == "web")
    assert partner.regressed and partner.p_adjusted is not None and partner.p_adjusted < 0.05
    assert not web.regressed
    d = decide(ev, OK, PLAIN)
    assert d.outcome is Outcome.REJECT and "slice channel=partner" in d.reason


def test_small_slices_are_reported_not_judged() -> None:
    seg = np.array(["a"] * 350 + ["b"] * 50)
    ev = gather_evidence(
        np.asarray([1, 0] * 200),
        np.linspace(0.1, 0.9, 400),
        np.linspace(0.9, 0.1, 400),
        primary_metric="roc_auc",
        champion_version=1,
        challenger_version=2,
        confidence=0.95,
        n_resamples=300,
        seed=0,
        slice_values={"channel": seg},
        slices=(SliceConfig(column="channel", min_rows=100),),
    )
    b = next(s for s in ev.slices if s.value == "b")
    a = next(s for s in ev.slices if s.value == "a")
    assert b.skipped is not None and "50 rows" in b.skipped
    assert a.skipped is None and a.delta is not None
