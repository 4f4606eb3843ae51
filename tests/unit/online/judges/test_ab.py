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


def test_the_ab_record_states_its_plan_and_whether_the_users_reached_it() -> None:
    rows = _ab_rows(2000, effect=0.0, seed=3)
    rows["ts"] = rows["ts"] * 86.4  # 2,000 users over two days: 1,000 a day
    cfg = ABConfig(min_users=100, mde=0.02, power=0.8)
    d = decide_ab(analyse_ab(rows, cfg), cfg, challenger_version=2, champion_version=1)
    plan = d.details["ab"]["plan"]
    # The plan is made from the champion arm's measured per-user sd and the traffic.
    from challenger.online.plan import plan_ab

    champ = rows[rows["arm"] == "champion"]
    per_user = -((champ["score"] - champ["label"]) ** 2)  # the default metric: negated Brier
    expected = plan_ab(mde=0.02, daily_traffic=plan["daily_users"], split=0.5, sd=per_user.std())
    assert plan["sd_from"] == "prediction log" and plan["sd"] == float(per_user.std())
    assert plan["users_challenger"] == expected.n_challenger
    assert abs(plan["daily_users"] - 1000.0) < 5.0
    check = next(c for c in d.checks if c.name == "planned_sample")
    smaller_arm = min(int((rows["arm"] == a).sum()) for a in ("champion", "challenger"))
    assert plan["met"] is check.passed is (smaller_arm >= expected.n_challenger)
    assert not check.hard
    # A small effect needs more users than two days bring: not met, and the reason says so.
    small = ABConfig(min_users=100, mde=0.002)
    d = decide_ab(analyse_ab(rows, small), small, challenger_version=2, champion_version=1)
    assert d.details["ab"]["plan"]["met"] is False and d.action == "keep_watching"
    assert "the plan needs" in d.reason
    # A big one is met well before: the plan never holds a decision back or forces one.
    big = ABConfig(min_users=100, mde=0.2)
    d = decide_ab(analyse_ab(rows, big), big, challenger_version=2, champion_version=1)
    assert d.details["ab"]["plan"]["met"] is True and "the plan needs" not in d.reason


def test_without_an_mde_the_record_has_no_plan_and_without_labels_it_says_what_is_missing() -> None:
    rows = _ab_rows(300, effect=0.0)
    cfg = ABConfig(min_users=100)
    assert analyse_ab(rows, cfg).plan is None
    unlabelled = rows.assign(label=np.nan)
    plan = analyse_ab(unlabelled, ABConfig(min_users=100, mde=0.01)).plan
    assert plan is not None and "per-user sd" in plan["missing"]
