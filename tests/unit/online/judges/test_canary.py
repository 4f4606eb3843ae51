"""The canary judge on seeded synthetic logs: advance, critical rollback, waiting for data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from challenger.config import CanaryConfig
from challenger.online.judges.canary import judge_canary


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


def test_canary_judges_a_regression_on_its_absolute_error() -> None:
    from challenger.config import JudgeMetricConfig

    rng = np.random.default_rng(4)
    n = 2000
    rows = _canary_rows(n, seed=4)
    truth = rng.normal(-14.0, 12.0, n)
    is_c = (rows["arm"] == "challenger").to_numpy()
    rows["label"] = truth
    judge = (JudgeMetricConfig(name="mae", critical=True, tolerance=0.0),)
    cfg = CanaryConfig(min_requests=100, min_labels=80, metrics=judge)

    def verdict(canary_noise: float) -> object:
        rows["score"] = truth + rng.normal(0, np.where(is_c, canary_noise, 5.0))
        return judge_canary(rows, cfg, stage=0, challenger_version=2, champion_version=1)

    better = verdict(2.0)
    assert better.action == "advance", better.reason  # type: ignore[attr-defined]
    mae = better.details["metrics"][0]  # type: ignore[attr-defined]
    assert mae["canary"] < mae["baseline"] - 2.0  # mean |N(0, 2)| ≈ 1.6 against ≈ 4.0
    worse = verdict(9.0)
    assert worse.action == "rollback" and "mae canary worse" in worse.reason  # type: ignore[attr-defined]
