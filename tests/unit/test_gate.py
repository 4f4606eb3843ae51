from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from challenger.config import GateConfig
from challenger.evaluation import Check, Evidence, gather_evidence
from challenger.gate import Outcome, decide

OK = (Check("smoke_test", True, "20 rows", "predicts", "fine"),)


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
    d = decide(_evidence(1.0), OK, GateConfig())
    assert d.outcome is Outcome.PROMOTE and d.promotes
    assert "lower bound clears" in d.reason


def test_clearly_worse_challenger_is_rejected() -> None:
    d = decide(_evidence(-0.8), OK, GateConfig())
    assert d.outcome is Outcome.REJECT and not d.promotes
    assert "worse than the champion" in d.reason


def test_noise_is_inconclusive_and_says_how_much_data_would_decide() -> None:
    ev = _evidence(0.0, n=400)
    assert ev.primary is not None and ev.primary.lower < 0 < ev.primary.upper
    d = decide(ev, OK, GateConfig())
    assert d.outcome is Outcome.INCONCLUSIVE and not d.promotes
    assert "straddles" in d.reason


def test_failed_hard_check_rejects_even_a_better_model() -> None:
    bad = (Check("smoke_test", False, "error", "predicts", "v2 failed to predict"),)
    d = decide(_evidence(1.0), bad, GateConfig())
    assert d.outcome is Outcome.REJECT and not d.promotes
    assert "smoke_test" in d.reason


def test_tiny_holdout_is_inconclusive() -> None:
    d = decide(_evidence(1.0, n=100), OK, GateConfig(min_holdout_rows=200))
    assert d.outcome is Outcome.INCONCLUSIVE and d.rows_needed == 200


def test_non_inferiority_accepts_a_slightly_worse_model_within_margin() -> None:
    ev = _evidence(-0.02, n=6000)
    assert ev.primary is not None and ev.primary.delta < 0.005
    sup = decide(ev, OK, GateConfig(rule="superiority"))
    ni = decide(ev, OK, GateConfig(rule="non_inferiority", margin=0.05))
    assert sup.outcome is not Outcome.PROMOTE
    assert ni.outcome is Outcome.PROMOTE


def test_first_champion_floor() -> None:
    ev = dataclasses.replace(_evidence(1.0), champion_version=None, primary=None)
    assert decide(ev, OK, GateConfig(first_champion_floor=0.6)).outcome is Outcome.PROMOTE
    low = decide(ev, OK, GateConfig(first_champion_floor=0.99))
    assert low.outcome is Outcome.REJECT and "misses the floor" in low.reason


def test_dry_run_records_but_never_blocks() -> None:
    d = decide(_evidence(-0.8), OK, GateConfig(mode="dry_run"))
    assert d.outcome is Outcome.REJECT and d.promotes
    assert d.reason.startswith("[dry run")
    hard_fail = decide(
        _evidence(1.0),
        (Check("smoke_test", False, "x", "y", "broken"),),
        GateConfig(mode="dry_run"),
    )
    assert not hard_fail.promotes


def test_decision_is_deterministic_and_serialisable() -> None:
    a = decide(_evidence(0.3, seed=5), OK, GateConfig()).to_dict()
    b = decide(_evidence(0.3, seed=5), OK, GateConfig()).to_dict()
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
    assert decide(ev, OK, GateConfig()).outcome is Outcome.PROMOTE
