"""The shadow judge on seeded synthetic pairs: promotion on labelled live rows, guardrails."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from challenger.config import GateConfig, ShadowConfig
from challenger.online.judges.shadow import analyse_shadow, decide_shadow


def _pairs(n: int, *, better: bool, error: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z = rng.normal(-1.0, 1.2, n)  # true log-odds; labels drawn from them
    label = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(float)
    champ = 1 / (1 + np.exp(-(z + rng.normal(0, 1.0, n))))
    chal = 1 / (1 + np.exp(-(z + rng.normal(0, 0.3 if better else 1.0, n))))
    failed = rng.random(n) < error
    return pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "idx": 0,
            "shadow": "challenger",
            "shadow_version": 2,
            "champion_version": 1,
            "champion_score": champ,
            "champion_ms": rng.gamma(4.0, 0.5, n),
            "shadow_score": np.where(failed, np.nan, chal),
            "shadow_ms": rng.gamma(4.0, 0.5, n),
            "shadow_error": np.where(failed, "ValueError: boom", None),
            "label": label,
        }
    )


def _shadow(pairs: pd.DataFrame, **cfg: object) -> object:
    config = ShadowConfig(min_requests=200, **cfg)  # type: ignore[arg-type]
    analysis = analyse_shadow(pairs, config)
    return decide_shadow(
        analysis, config, GateConfig(n_resamples=500), primary_metric="roc_auc", seed=1
    )


def test_shadow_promotes_a_better_model_on_labelled_live_rows() -> None:
    d = _shadow(_pairs(1500, better=True))
    assert d.action == "promote", d.reason  # type: ignore[attr-defined]
    shadow = d.details["shadow"]  # type: ignore[attr-defined]
    assert 0.5 < shadow["agreement"] <= 1.0 and shadow["psi"] is not None
    assert "evidence" in d.details  # type: ignore[attr-defined]


def test_shadow_guardrails() -> None:
    assert _shadow(_pairs(1000, better=True, error=0.2)).action == "rollback"  # type: ignore[attr-defined]
    slow = _pairs(1000, better=True)
    slow["shadow_ms"] += 80.0
    d = _shadow(slow)
    assert d.action == "rollback" and "latency" in d.reason  # type: ignore[attr-defined]
    few = _shadow(_pairs(100, better=True))
    assert few.action == "keep_watching" and "100 of 200" in few.reason  # type: ignore[attr-defined]
    unlabelled = _pairs(1000, better=True).assign(label=np.nan)
    d = _shadow(unlabelled)
    assert d.action == "keep_watching" and "labels" in d.reason  # type: ignore[attr-defined]
    shifted = _pairs(1000, better=True)
    shifted["shadow_score"] = np.clip(shifted["shadow_score"] + 0.3, 0, 1)
    d = _shadow(shifted)  # the labels show it miscalibrated: a PSI alarm does not hold that back
    assert d.action == "rollback" and "calibration" in d.reason  # type: ignore[attr-defined]
    # a better shadow whose scores moved beyond the alarm is held back, with the gate's reason
    d = _shadow(_pairs(1000, better=True), psi_watch=0.0001, psi_alarm=0.0002)
    assert d.action == "keep_watching" and "PSI" in d.reason  # type: ignore[attr-defined]
    assert "clears" in d.reason  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="no paired"):
        analyse_shadow(_pairs(10, better=True).head(0), ShadowConfig())


def _regression_pairs(n: int, *, shadow_noise: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.normal(50.0, 10.0, n)
    pairs = _pairs(n, better=True, seed=seed)
    pairs["label"] = truth
    pairs["champion_score"] = truth + rng.normal(0, 5.0, n)
    pairs["shadow_score"] = truth + rng.normal(0, shadow_noise, n)
    return pairs


def test_regression_shadow_agreement_is_within_a_share_of_the_champions_spread() -> None:
    from challenger.online.judges.shadow import agreement

    config = ShadowConfig(agreement_tolerance=0.1)
    champ = np.array([0.0, 10.0, 20.0, 30.0])  # sd 11.18: agreement within 1.118
    other = np.array([0.5, 12.0, 20.0, 31.0])
    assert agreement(champ, other, "regression", config) == pytest.approx(0.75)
    same = ShadowConfig(agreement_tolerance=0.0)
    assert agreement(champ, champ.copy(), "regression", same) == 1.0
    assert agreement(np.full(3, 5.0), np.array([5.0, 5.1, 5.0]), "regression", config) == (
        pytest.approx(2 / 3)
    )


def test_regression_shadow_judges_predictions_and_promotes_on_the_regression_metric() -> None:
    config = ShadowConfig(min_requests=200)
    better = analyse_shadow(_regression_pairs(1500, shadow_noise=1.0), config, "regression")
    assert better.task == "regression" and better.mean_abs_diff is not None
    assert 3.0 < better.mean_abs_diff < 5.0  # |N(0,5) - N(0,1)| has mean about 4.1
    assert better.psi is not None and better.psi < 0.25  # the same distribution of predictions
    d = decide_shadow(better, config, GateConfig(n_resamples=500), primary_metric="rmse", seed=1)
    assert d.action == "promote", d.reason
    assert d.details["evidence"]["primary_metric"] == "rmse"
    agreement_check = next(c for c in d.checks if c.name == "agreement_rate")
    assert "sd of the champion's" in agreement_check.reason
    psi_check = next(c for c in d.checks if c.name == "score_psi")
    assert "predictions" in psi_check.reason
    worse = analyse_shadow(_regression_pairs(1500, shadow_noise=12.0), config, "regression")
    d = decide_shadow(worse, config, GateConfig(n_resamples=500), primary_metric="rmse", seed=1)
    assert d.action in ("rollback", "keep_watching") and d.action != "promote", d.reason


def test_multiclass_shadow_agrees_on_the_class_and_is_judged_on_its_probabilities() -> None:
    import json

    from challenger.online.judges.shadow import class_psi

    rng = np.random.default_rng(6)
    n = 1500

    def softmax(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    logits = rng.normal(0, 2.0, (n, 3))
    chal = softmax(logits)  # the truth's own probabilities: calibrated and sharp
    y = np.array([rng.choice(3, p=row) for row in chal])
    champ = softmax(0.4 * logits + rng.normal(0, 1.0, (n, 3)))
    pairs = _pairs(n, better=True, seed=6)
    pairs["label"] = y.astype(float)
    pairs["champion_score"] = np.argmax(champ, axis=1).astype(float)
    pairs["shadow_score"] = np.argmax(chal, axis=1).astype(float)
    pairs["champion_proba"] = [json.dumps(r.tolist()) for r in champ]
    pairs["shadow_proba"] = [json.dumps(r.tolist()) for r in chal]
    config = ShadowConfig(min_requests=200)
    a = analyse_shadow(pairs, config, "multiclass")
    same = (pairs["champion_score"] == pairs["shadow_score"]).mean()
    assert a.agreement == pytest.approx(same)
    assert a.psi == pytest.approx(
        class_psi(pairs["champion_score"].to_numpy(), pairs["shadow_score"].to_numpy())
    )
    d = decide_shadow(a, config, GateConfig(n_resamples=500), primary_metric="log_loss", seed=1)
    assert d.action == "promote", d.reason
    assert "same class" in next(c for c in d.checks if c.name == "agreement_rate").reason
    assert class_psi(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1])) == pytest.approx(0.0)
    assert class_psi(np.array([0, 0, 1, 1]), np.array([2, 2, 2, 2])) > 1.0
