"""The gate's second way to win: non-inferior on the primary metric, superior on a decision metric (Holm)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import stats as sps

from challenger.config import CalibrationConfig, GateConfig, Settings
from challenger.gate.decide import Outcome, decide, statistical_check
from challenger.gate.evidence import Check, Evidence, gather_evidence
from challenger.stats import PairedBootstrap
from challenger.stats.small import METHOD

OK = (Check("smoke_test", True, "20 rows", "predicts", "fine"),)
PLAIN = GateConfig(calibration=CalibrationConfig(max_increase=None), slices=())
N = 400


def _t(metric: str, delta: float, se: float, n: int = N) -> PairedBootstrap:
    """A studentized result with the given oriented Δ and standard error."""
    q = float(sps.t.ppf(0.95, n - 1))
    return PairedBootstrap(
        metric, metric == "roc_auc", 0.8, 0.8, delta, delta - q * se, delta + q * se, 0.95, se,
        n, 1000, METHOD, tuple(float(x) for x in range(101)), None, se, n - 1,
    )  # fmt: skip


def _evidence(primary: PairedBootstrap, brier: PairedBootstrap | None) -> Evidence:
    return Evidence(
        "roc_auc", True, N, 1, 2, 0.8, 0.8, primary,
        decision={} if brier is None else {"brier": brier}, task="binary",
    )  # fmt: skip


def _delta_for_p(p: float, se: float, threshold: float, n: int = N) -> float:
    """The Δ whose one-sided studentized p-value against ``threshold`` is ``p``."""
    return threshold + float(sps.t.isf(p, n - 1)) * se


def test_a_threshold_shift_is_promoted_by_the_default_decision_metric() -> None:
    """Issue 11 item 3: the labelling threshold moved; ROC AUC cannot see it, Brier can."""
    rng = np.random.default_rng(0)
    n = 3000
    signal = rng.normal(0, 1, n)
    y = (signal + rng.normal(0, 0.3, n) > 0.8).astype(int)  # the new threshold
    champion = 1 / (1 + np.exp(-3 * signal))  # fitted to the old threshold (0)
    challenger = 1 / (1 + np.exp(-3 * (signal - 0.8)))  # same ranking: the same AUC
    wanted = PLAIN.decision_metrics_for("binary", "roc_auc")
    assert wanted == {"brier": 0.001}
    ev = gather_evidence(
        y, challenger, champion, primary_metric="roc_auc", champion_version=1,
        challenger_version=2, confidence=0.95, n_resamples=1000, seed=0,
        decision_metrics=tuple(wanted),
    )  # fmt: skip
    assert ev.primary is not None and ev.primary.delta == 0.0  # exactly the same ranking
    accuracy = ev.secondary["accuracy"]
    assert accuracy["challenger"] - accuracy["champion"] > 0.1  # type: ignore[operator]
    d = decide(ev, OK, PLAIN)
    assert d.outcome is Outcome.PROMOTE and d.promotes
    assert "superior on the decision metric brier" in d.reason and "Holm" in d.reason
    assert "Δ brier -" in d.reason and "(challenger better)" in d.reason
    check = next(c for c in d.checks if c.name == "decision_metric_brier")
    assert check.passed and "Holm p=" in check.value
    off = decide(ev, OK, PLAIN.model_copy(update={"decision_metrics": {}}))
    assert off.outcome is Outcome.REJECT  # what the gate said before: "Δ roc_auc +0.000"


def test_holm_controls_the_two_routes_together() -> None:
    """Each route alone at α would win with p = 0.03; Holm asks the smaller p for α/2."""
    se = 0.01
    flat = _t("roc_auc", 0.0, 0.001)  # non-inferior, not superior (p ≈ 1)
    brier_p = {p: _t("brier", _delta_for_p(p, se, 0.001), se) for p in (0.03, 0.02)}
    assert brier_p[0.03].p_value(0.001) == pytest.approx(0.03)
    held, _, _ = statistical_check(_evidence(flat, brier_p[0.03]), PLAIN)
    assert held is not Outcome.PROMOTE
    won, checks, _ = statistical_check(_evidence(flat, brier_p[0.02]), PLAIN)
    assert won is Outcome.PROMOTE
    assert [c.name for c in checks] == ["primary_metric_superiority", "decision_metric_brier"]
    # Step-down: once the smaller p passes at α/2, the other is tested at α.
    primary = _t("roc_auc", _delta_for_p(0.04, se, PLAIN.min_improvement), se)
    both, checks, _ = statistical_check(_evidence(primary, _t("brier", 0.05, se)), PLAIN)
    assert both is Outcome.PROMOTE and checks[0].passed
    alone, _, _ = statistical_check(_evidence(primary, _t("brier", -0.05, se)), PLAIN)
    assert alone is not Outcome.PROMOTE  # 0.04 > α/2 when the other test does not pass


def test_a_decision_metric_cannot_carry_a_challenger_that_is_worse_on_the_primary() -> None:
    inferior = _t("roc_auc", -0.05, 0.005)  # far beyond the margin 0.01
    d = decide(_evidence(inferior, _t("brier", 0.05, 0.001)), OK, PLAIN)
    assert d.outcome is Outcome.REJECT
    check = next(c for c in d.checks if c.name == "decision_metric_brier")
    assert not check.passed and "not shown non-inferior" in check.reason


def test_neither_route_deciding_is_inconclusive_with_a_power_calculation() -> None:
    from challenger.stats import rows_needed

    d = decide(_evidence(_t("roc_auc", 0.01, 0.01), _t("brier", 0.0, 0.01)), OK, PLAIN)
    assert d.outcome is Outcome.INCONCLUSIVE and d.rows_needed is not None and d.rows_needed > N
    assert "on roc_auc" in d.reason
    # Only the decision metric's route is promising: its rows, at Holm's first step α/2.
    brier = _t("brier", 0.004, 0.002)
    d = decide(_evidence(_t("roc_auc", 0.0, 0.001), brier), OK, PLAIN)
    assert d.outcome is Outcome.INCONCLUSIVE and "on brier" in d.reason
    assert d.rows_needed == rows_needed(brier, 0.001, power=0.8, alpha=0.025)
    assert d.rows_needed is not None and d.rows_needed > N


def test_the_family_wise_error_of_the_two_routes_stays_at_alpha(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Brute force over a global null (both Δ exactly on their thresholds, independent
    estimates): Holm keeps false promotions near 5 %; taking either route at α would not."""
    import challenger.gate.decide as gate

    monkeypatch.setattr(gate, "rows_needed", lambda *a, **k: None)  # not what this measures
    rng = np.random.default_rng(1)
    se = 0.01
    q = float(sps.t.ppf(0.95, N - 1))
    holm = naive = 0
    draws = 1000
    for z_primary, z_brier in rng.normal(size=(draws, 2)):
        primary = _t("roc_auc", PLAIN.min_improvement + z_primary * se / 5, se / 5)
        brier = _t("brier", 0.001 + z_brier * se, se)
        outcome, _, _ = statistical_check(_evidence(primary, brier), PLAIN)
        holm += outcome is Outcome.PROMOTE
        naive += bool(z_primary > q or (z_brier > q and primary.lower > -PLAIN.margin))
    assert holm / draws <= 0.065 and naive / draws >= 0.075


def test_decision_metrics_follow_the_task_and_the_configuration() -> None:
    assert PLAIN.decision_metrics_for("regression", "rmse") == {}
    assert PLAIN.decision_metrics_for("multiclass", "roc_auc") == {"brier": 0.001}
    assert PLAIN.decision_metrics_for("binary", "log_loss") == {}  # already a proper score
    chosen = PLAIN.model_copy(update={"decision_metrics": {"accuracy": 0.01, "roc_auc": 0.0}})
    assert chosen.decision_metrics_for("binary", "roc_auc") == {"accuracy": 0.01}
    # The non-inferiority rule is the lenient one already: no second route.
    ni = PLAIN.model_copy(update={"rule": "non_inferiority"})
    _, checks, _ = statistical_check(
        _evidence(_t("roc_auc", 0.0, 0.001), _t("brier", 0.05, 0.001)), ni
    )
    assert [c.name for c in checks] == ["primary_metric_non_inferiority"]
    with pytest.raises(ValidationError, match=r"gate.decision_metrics: names 'rmse'"):
        Settings(gate={"decision_metrics": {"rmse": 1.0}})  # type: ignore[arg-type]
