"""The A/B judge on seeded synthetic users: sample-ratio mismatch first, then the sequential test."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from challenger.config import ABConfig
from challenger.online.judges.ab import analyse_ab, decide_ab


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


def test_ab_on_a_regression_compares_the_negated_errors_per_user() -> None:
    from challenger.online.judges.ab import per_request_metric

    rng = np.random.default_rng(5)
    rows = _ab_rows(600, effect=0.0, seed=5)
    truth = rng.normal(50.0, 10.0, len(rows))
    chal = (rows["arm"] == "challenger").to_numpy()
    rows["label"] = truth
    rows["score"] = truth + rng.normal(0, np.where(chal, 1.0, 4.0))
    assert np.allclose(per_request_metric(rows, "mse"), -((rows["score"] - truth) ** 2))
    assert np.allclose(per_request_metric(rows, "mae"), -(rows["score"] - truth).abs())
    cfg = ABConfig(metric="mae", min_users=100, mixture_sd=2.0)
    d = decide_ab(analyse_ab(rows, cfg), cfg, challenger_version=2, champion_version=1)
    assert d.action == "promote", d.reason
    means = d.details["ab"]["means"]
    assert means["challenger"] > means["champion"] + 2.0  # -0.8 against -3.2
