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
    assert "least favourable bound clears" in d.reason


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
            "champion": Operational(latency_p99_ms=4.0, model_size_mb=1.0),
            "challenger": Operational(latency_p99_ms=36.0, model_size_mb=1.5),
        },
    )
    relative = decide(ev, OK, PLAIN)  # default relative budget: p99 <= 5x champion above 10 ms
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


# ---- issue 11: small holdouts, power, budgets' floors, the sign of Δ, identical slices -------


def _regression_evidence(
    n: int, champion_sd: float, challenger_sd: float, seed: int = 0
) -> Evidence:
    """A regression holdout on which the models' errors have the given spreads."""
    rng = np.random.default_rng(seed)
    y = rng.normal(150.0, 75.0, n)
    champion = y + rng.normal(0.0, champion_sd, n)
    challenger = y + rng.normal(0.0, challenger_sd, n) if challenger_sd else np.full(n, y.mean())
    return gather_evidence(
        y, challenger, champion, primary_metric="rmse", champion_version=1,
        challenger_version=2, confidence=0.95, n_resamples=1000, seed=seed, task="regression",
    )  # fmt: skip


def test_a_clear_rejection_on_a_small_holdout_is_not_held_back_by_the_promotion_floor() -> None:
    """Issue 11 item 2: a DummyRegressor (RMSE ~75) against a champion of RMSE ~49 on 114 rows."""
    ev = _regression_evidence(114, champion_sd=49.0, challenger_sd=0.0)
    assert ev.primary is not None and ev.primary.method == "studentized jackknife t"
    policy = PLAIN.model_copy(update={"min_holdout_rows": 200})
    d = decide(ev, OK, policy)
    assert d.outcome is Outcome.REJECT and d.rows_needed is None
    assert "challenger worse" in d.reason and "Δ rmse +" in d.reason


def test_a_clear_promotion_on_a_small_holdout_waits_only_for_the_floor() -> None:
    ev = _regression_evidence(114, champion_sd=60.0, challenger_sd=30.0)
    assert decide(ev, OK, PLAIN).outcome is Outcome.PROMOTE  # default floor 30 rows
    held = decide(ev, OK, PLAIN.model_copy(update={"min_holdout_rows": 200}))
    assert held.outcome is Outcome.INCONCLUSIVE and held.rows_needed == 200
    assert "a promotion needs gate.min_holdout_rows 200" in held.reason


def test_rows_needed_is_a_power_calculation_beyond_the_rows_used() -> None:
    from challenger.stats import rows_needed

    ev = _evidence(0.12, n=400, seed=2)
    d = decide(ev, OK, PLAIN)
    assert d.outcome is Outcome.INCONCLUSIVE, d.reason
    assert ev.primary is not None and ev.primary.delta > PLAIN.min_improvement
    assert d.rows_needed == rows_needed(ev.primary, PLAIN.min_improvement, power=0.8)
    assert (
        d.rows_needed is not None
        and d.rows_needed > 400
        and d.rows_needed != PLAIN.min_holdout_rows
    )
    assert "power calculation (80% power" in d.reason


def test_relative_budgets_do_not_apply_below_their_floors() -> None:
    """Issue 11 item 7: 0.214 MB is 20.4x 0.0105 MB, and nobody minds either."""
    from challenger.gate.evidence import Operational

    def judged(champion: Operational, challenger: Operational, policy: GateConfig = PLAIN) -> dict:
        ev = dataclasses.replace(
            _evidence(1.0), operational={"champion": champion, "challenger": challenger}
        )
        return {c.name: c for c in decide(ev, OK, policy).checks}

    small = judged(
        Operational(latency_p99_ms=0.3, model_size_mb=0.0105),
        Operational(latency_p99_ms=2.9, model_size_mb=0.214),
    )
    size, p99 = small["relative_model_size"], small["relative_latency_p99"]
    assert size.passed and "20.38x" in size.reason and "floor 10 MB" in size.reason
    assert p99.passed and "floor 10 ms" in p99.reason
    big = judged(
        Operational(latency_p99_ms=0.3, model_size_mb=1.0),
        Operational(latency_p99_ms=2.9, model_size_mb=50.0),
    )
    assert (
        not big["relative_model_size"].passed
        and "above 10 MB" in big["relative_model_size"].threshold
    )
    no_floor = PLAIN.model_copy(
        update={
            "relative_budgets": PLAIN.relative_budgets.model_copy(
                update={
                    "floors": PLAIN.relative_budgets.floors.model_copy(
                        update={"model_size_mb": None}
                    )
                }
            )
        }
    )
    strict = judged(Operational(model_size_mb=0.0105), Operational(model_size_mb=0.214), no_floor)
    assert not strict["relative_model_size"].passed


def test_delta_is_printed_as_challenger_minus_champion() -> None:
    """Issue 11 item 8: for a loss the printed Δ was champion − challenger."""
    worse = decide(_regression_evidence(2000, champion_sd=40.0, challenger_sd=60.0), OK, PLAIN)
    assert "Δ rmse +" in worse.reason and "(challenger worse)" in worse.reason
    better = decide(_regression_evidence(2000, champion_sd=60.0, challenger_sd=40.0), OK, PLAIN)
    assert "Δ rmse -" in better.reason and "(challenger better)" in better.reason
    assert "Δ < -0.0020" in better.reason  # the threshold too, in rmse's direction
    auc = decide(_evidence(1.0), OK, PLAIN)
    assert "Δ roc_auc +" in auc.reason and "(challenger better)" in auc.reason


def test_identical_models_regress_no_slice() -> None:
    """Issue 11 item 8: zero spread gave p = 0, "regressed", for two identical models."""
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, 1200)
    scores = 1 / (1 + np.exp(-(y + rng.normal(0, 1, 1200))))
    segment = np.where(rng.random(1200) < 0.5, "web", "branch")
    for units in (0, 500):  # BCa and the small-sample bounds
        ev = gather_evidence(
            y, scores, scores.copy(), primary_metric="roc_auc", champion_version=1,
            challenger_version=2, confidence=0.95, n_resamples=300, seed=0,
            slice_values={"channel": segment},
            slices=(SliceConfig(column="channel", margin=0.02, min_rows=100),),
            small_sample_units=units,
        )  # fmt: skip
        assert all(s.p_regression == 1.0 and not s.regressed for s in ev.slices)
        d = decide(ev, OK, PLAIN)
        assert all(c.passed for c in d.checks if c.name.startswith("slice"))
        assert d.outcome is Outcome.REJECT and "not better by the required amount" in d.reason
