"""Online analysis: PSI, sample-ratio mismatch, the always-valid mSPRT, the canary judge and
the shadow and A/B decisions, on seeded synthetic logs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from challenger.config import ABConfig, CanaryConfig, GateConfig, ShadowConfig
from challenger.online.analysis import (
    analyse_ab,
    analyse_shadow,
    decide_ab,
    decide_shadow,
    judge_canary,
    msprt,
    psi,
    srm_test,
)


def test_psi_levels() -> None:
    rng = np.random.default_rng(0)
    a = rng.beta(2, 5, 20_000)
    assert psi(a, rng.beta(2, 5, 20_000)) < 0.01
    assert psi(a, rng.beta(5, 2, 20_000)) > 0.25
    assert 0.0 < psi(a, np.clip(a + 0.03, 0, 1)) < 0.25
    assert psi(np.full(100, 0.3), np.full(100, 0.3)) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="non-empty"):
        psi(np.array([]), a)


def test_srm_alarm_only_on_a_real_mismatch() -> None:
    assert not srm_test(5000, 5000, 0.5, 0.001).mismatch
    assert not srm_test(7000, 3000, 0.3, 0.001).mismatch
    off = srm_test(5300, 4700, 0.5, 0.001)
    assert off.mismatch and off.p_value < 1e-6


def test_msprt_is_always_valid_under_the_null_and_has_power() -> None:
    rng = np.random.default_rng(42)
    runs, n, alpha = 200, 400, 0.05
    false = 0
    for _ in range(runs):
        y = rng.normal(0.0, 1.0, n)
        arm = rng.random(n) < 0.5
        false += msprt(y, arm, tau=0.2, alpha=alpha).p_value < alpha
    # Read after every unit, yet at most alpha (plus Monte-Carlo slack): always valid.
    assert false / runs <= alpha + 2 * np.sqrt(alpha * (1 - alpha) / runs)
    hits = 0
    for _ in range(50):
        arm = rng.random(n) < 0.5
        y = rng.normal(0.0, 1.0, n) + 0.5 * arm
        r = msprt(y, arm, tau=0.2, alpha=alpha)
        hits += r.p_value < alpha and r.lower > 0
    assert hits >= 40
    r = msprt(np.array([1.0, 2.0]), np.array([True, False]), tau=0.1, alpha=0.05)
    assert r.p_value == 1.0 and r.looks == 0
    with pytest.raises(ValueError, match="same length"):
        msprt(np.zeros(3), np.zeros(2, dtype=bool), tau=0.1, alpha=0.05)


def _canary_rows(
    n: int, *, canary_error: float = 0.0, canary_shift: float = 0.0, stage: int = 0, seed: int = 0
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = np.where(rng.random(n) < 0.3, "challenger", "champion")
    is_c = arm == "challenger"
    label = (rng.random(n) < 0.3).astype(float)
    score = np.clip(
        0.3 + 0.4 * (label - 0.3) + rng.normal(0, 0.1, n) + canary_shift * is_c * (1 - 2 * label),
        0,
        1,
    )
    failed = is_c & (rng.random(n) < canary_error)
    return pd.DataFrame(
        {
            "experiment": "loan-default-canary",
            "stage": stage,
            "arm": arm,
            "status": np.where(failed, "fallback", "ok"),
            "latency_ms": rng.gamma(4.0, 0.5, n),
            "score": score,
            "label": label,
        }
    )


def _judge(rows: pd.DataFrame, stage: int = 0, **kw: object) -> object:
    cfg = CanaryConfig(min_requests=100, min_labels=80)
    return judge_canary(rows, cfg, stage=stage, challenger_version=2, champion_version=1, **kw)


def test_canary_judge_advances_a_healthy_stage() -> None:
    d = _judge(_canary_rows(2000))
    assert d.action == "advance" and d.next_stage == 1, d.reason  # type: ignore[attr-defined]
    last = _judge(_canary_rows(2000, stage=2), stage=2)
    assert last.action == "promote"  # type: ignore[attr-defined]


def test_canary_judge_rolls_back_on_a_critical_failure_even_early() -> None:
    d = _judge(_canary_rows(200, canary_error=0.5))
    assert d.action == "rollback" and "error_rate" in d.reason  # type: ignore[attr-defined]
    worse = _judge(_canary_rows(2000, canary_shift=0.3))
    assert worse.action == "rollback" and "brier" in worse.reason  # type: ignore[attr-defined]
    guard = _judge(_canary_rows(2000, canary_shift=0.3), critical_only=True)
    assert guard.action == "rollback"  # type: ignore[attr-defined]


def test_canary_judge_waits_for_enough_data() -> None:
    d = _judge(_canary_rows(150))
    assert d.action == "keep_watching" and "need 100" in d.reason  # type: ignore[attr-defined]
    other_stage = _judge(_canary_rows(2000, stage=1), stage=0)
    assert other_stage.action == "keep_watching", "rows of another stage never count"  # type: ignore[attr-defined]


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
    d = _shadow(shifted)
    assert d.action == "keep_watching" and "PSI" in d.reason  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="no paired"):
        analyse_shadow(_pairs(10, better=True).head(0), ShadowConfig())


def _ab_rows(
    n_users: int, *, effect: float, challenger_share: float = 0.5, seed: int = 0
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        arm = "challenger" if rng.random() < challenger_share else "champion"
        label = float(rng.random() < 0.3)
        noise = 0.35 - (effect if arm == "challenger" else 0.0)
        score = float(np.clip(label + rng.normal(0, noise), 0, 1))
        rows.append(
            {
                "user_id": f"u{u}",
                "ts": float(u),
                "experiment": "loan-default-ab",
                "arm": arm,
                "score": score,
                "label": label,
                "value": np.nan,
                "attributes": json.dumps({"country": ["DE", "FR"][u % 2]}),
            }
        )
    return pd.DataFrame(rows)


def test_ab_decides_with_srm_first() -> None:
    cfg = ABConfig(min_users=100, balance_by=("country",))
    better = _ab_rows(2000, effect=0.15)
    d = decide_ab(analyse_ab(better, cfg), cfg, challenger_version=2, champion_version=1)
    assert d.action == "promote", d.reason
    worse = _ab_rows(2000, effect=-0.15)
    d = decide_ab(analyse_ab(worse, cfg), cfg, challenger_version=2, champion_version=1)
    assert d.action == "rollback", d.reason
    skewed = _ab_rows(2000, effect=0.15, challenger_share=0.6)
    d = decide_ab(analyse_ab(skewed, cfg), cfg, challenger_version=2, champion_version=1)
    assert d.action == "keep_watching" and "assignment is broken" in d.reason
    same = _ab_rows(400, effect=0.0)
    d = decide_ab(analyse_ab(same, cfg), cfg, challenger_version=2, champion_version=1)
    assert d.action == "keep_watching", d.reason


# ------------------------------------------------------------ what a decision does to the registry


def test_a_rollback_retires_a_challenger_and_restores_only_the_champion_it_replaced() -> None:
    from challenger.online.review import plan_rollback

    # A canary (or A/B arm, or shadow) of v3 against champion v2: the champion never moved.
    retire = plan_rollback(3, compared_with=2, champion=2, previous=1)
    assert retire.kind == "retire" and retire.target is None
    # v3 was promoted (online) from v2 and has since done worse than v2: restore v2.
    restore = plan_rollback(3, compared_with=2, champion=3, previous=2)
    assert restore.kind == "restore" and restore.target == 2
    # v3 is the champion but previous-champion is not what it was compared with: by hand.
    for previous in (None, 1):
        refuse = plan_rollback(3, compared_with=2, champion=3, previous=previous)
        assert refuse.kind == "refuse" and "challenger rollback" in refuse.reason


def test_promotions_and_champion_rollbacks_expect_the_champion_they_judged() -> None:
    from challenger.online.analysis import OnlineDecision
    from challenger.online.review import champion_expectation

    def d(action: str, details: dict[str, object] | None = None) -> OnlineDecision:
        return OnlineDecision("canary", action, "r", (), 3, 2, dict(details or {}))  # type: ignore[arg-type]

    assert champion_expectation(d("promote")) == (True, 2)
    assert champion_expectation(d("rollback", {"watch": {"champion": 3}})) == (True, 3)
    assert champion_expectation(d("rollback")) == (False, None)
    assert champion_expectation(d("advance")) == (False, None)


def test_only_binary_classifiers_are_served() -> None:
    from sklearn.linear_model import LinearRegression, LogisticRegression

    from challenger.errors import ChallengerError
    from challenger.online.serve.models import binary_problem, require_binary

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    binary = LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))
    multi = LogisticRegression().fit(X, np.digitize(X[:, 0], [-0.5, 0.5]))
    regressor = LinearRegression().fit(X, X[:, 0])
    assert binary_problem(binary) is None
    assert "3 classes" in str(binary_problem(multi))
    assert "regressor" in str(binary_problem(regressor))
    with pytest.raises(ChallengerError, match=r"m v7 \(champion\) is a regressor.*binary"):
        require_binary(regressor, "m v7 (champion)")
