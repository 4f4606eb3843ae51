"""The A/B judge: two arms of users, read at any time.

Sample-ratio mismatch first (chi-squared, alarm at ``srm_alpha``), balance of the declared
attributes, then an always-valid mSPRT (Johari, Pekelis & Walsh) on the per-user business
metric, so the test may be read after every user without inflating its error rate.

With ``rollout.ab.mde`` set, the record also states the test's plan
(``challenger.online.plan.plan_experiment``: users per arm for that effect at ``alpha`` and
``power``, from the configured or the champion arm's measured sd and traffic) and whether the
labelled users have reached it. The plan informs, it never decides: the always-valid test may
stop earlier, and ``max_users`` is what ends a test that never decides.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from challenger import metrics
from challenger.config import ABConfig
from challenger.errors import ConfigError
from challenger.gate.evidence import Check
from challenger.online.decision import Action, OnlineDecision
from challenger.online.log import read_proba
from challenger.online.plan import baseline_from, plan_experiment
from challenger.stats.sequential import SequentialResult, SRMResult, msprt, srm_test

__all__ = ["ABAnalysis", "analyse_ab", "decide_ab", "logged_proba", "per_request_metric"]


def logged_proba(frame: pd.DataFrame) -> np.ndarray | None:
    """The class probabilities of logged rows (multiclass), None when the rows have none."""
    if "proba" not in frame or not frame["proba"].notna().any():
        return None
    return read_proba(frame["proba"])


def per_request_metric(frame: pd.DataFrame, metric: str) -> pd.Series:
    """A per-request outcome, oriented so that higher is better (NaN while unlabelled).

    ``value`` is the business value sent with the label; the other metrics are the
    catalogue's per-row form (``challenger.metrics.per_row``) in its direction: accuracy is
    1 when the thresholded score matches the label, Brier and log loss are negated losses,
    and for a regression (the score is the prediction, the label the true value) MSE and MAE
    are the negated squared and absolute errors. A multiclass model's rows carry their class
    probabilities (``proba``): accuracy, Brier and log loss are computed from them.
    """
    if metric == "value":
        return frame["value"].astype(float)
    rows = metrics.per_row(
        metric,
        frame["label"].astype(float),
        frame["score"].astype(float),
        proba=logged_proba(frame),
    )
    return pd.Series(metrics.sign(metric) * rows, index=frame.index)


@dataclass(frozen=True)
class ABAnalysis:
    """An A/B test's sample-ratio check, balance checks and sequential test."""

    experiment: str
    metric: str
    srm: SRMResult
    balance: dict[str, float]
    test: SequentialResult
    n_users: int
    n_labelled_users: int
    means: dict[str, float | None]
    #: The plan (``plan_experiment``'s record plus ``met``), ``{"missing": why}`` when it
    #: cannot be made yet, None without ``rollout.ab.mde``.
    plan: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "plan": self.plan,
            "experiment": self.experiment,
            "metric": self.metric,
            "srm": self.srm.__dict__,
            "balance_p_values": self.balance,
            "sequential": self.test.__dict__,
            "n_users": self.n_users,
            "n_labelled_users": self.n_labelled_users,
            "means": self.means,
        }


def analyse_ab(rows: pd.DataFrame, config: ABConfig) -> ABAnalysis:
    """Analyse the logged requests of one A/B test (one challenger version).

    Units are users (sticky arms): each user's metric is the mean over their labelled
    requests, and users enter the sequential test in the order they first arrived.
    """
    rows = rows[rows["experiment"] == config.experiment]
    rows = rows[rows["user_id"].notna()]
    first = (
        rows.sort_values("ts")
        .groupby("user_id", sort=False)
        .agg(arm=("arm", "first"), ts=("ts", "first"), attributes=("attributes", "first"))
    )
    n_champ = int((first["arm"] == "champion").sum())
    n_chal = int((first["arm"] == "challenger").sum())
    srm = srm_test(n_champ, n_chal, config.split, config.srm_alpha)
    balance: dict[str, float] = {}
    if config.balance_by and len(first):
        attrs = first["attributes"].map(lambda s: json.loads(s) if isinstance(s, str) else {})
        for attr in config.balance_by:
            values = attrs.map(lambda d, a=attr: str(d.get(a, "?")))
            table = pd.crosstab(values, first["arm"])
            if table.shape[0] > 1 and table.shape[1] > 1:
                balance[attr] = float(stats.chi2_contingency(table.to_numpy()).pvalue)
            else:
                balance[attr] = 1.0
    outcome = rows.assign(metric=per_request_metric(rows, config.metric))
    outcome = outcome[outcome["metric"].notna()]
    per_user = outcome.groupby("user_id").agg(metric=("metric", "mean"))
    per_user = per_user.join(first[["arm", "ts"]]).sort_values("ts")
    test = msprt(
        per_user["metric"].to_numpy(float),
        (per_user["arm"] == "challenger").to_numpy(bool),
        tau=config.mixture_sd,
        alpha=config.alpha,
    )
    means = {
        arm: (float(g.mean()) if len(g) else None)
        for arm, g in (
            ("champion", per_user.loc[per_user["arm"] == "champion", "metric"]),
            ("challenger", per_user.loc[per_user["arm"] == "challenger", "metric"]),
        )
    }
    plan = None if config.mde is None else _plan(config, per_user, first["ts"], test)
    return ABAnalysis(
        config.experiment, config.metric, srm, balance, test, len(first), len(per_user), means, plan
    )


def _plan(
    config: ABConfig, per_user: pd.DataFrame, first_ts: pd.Series, test: SequentialResult
) -> dict[str, Any]:
    """The test's plan from what the log shows (champion users' sd, users a day), and whether
    each arm's labelled users have reached it."""
    champ = per_user.loc[per_user["arm"] == "champion", "metric"]
    baseline = baseline_from(champ, first_ts)
    try:
        plan = plan_experiment(config, baseline)
    except ConfigError as exc:
        return {"missing": str(exc)}
    plan["met"] = (
        test.n_challenger >= plan["users_challenger"] and test.n_champion >= plan["users_champion"]
    )
    return plan


def decide_ab(
    analysis: ABAnalysis,
    config: ABConfig,
    *,
    challenger_version: int | None,
    champion_version: int | None,
) -> OnlineDecision:
    """SRM first, then the always-valid test: promote, roll back, or keep watching."""
    a = analysis
    checks: list[Check] = []
    details: dict[str, Any] = {"ab": a.to_dict()}

    def decision(action: Action, reason: str) -> OnlineDecision:
        return OnlineDecision(
            "ab", action, reason, tuple(checks), challenger_version, champion_version, details
        )

    srm = a.srm
    checks.append(
        Check(
            "sample_ratio",
            not srm.mismatch,
            f"{srm.n_challenger}/{srm.n_champion + srm.n_challenger} users (p={srm.p_value:.3g})",
            f"share {srm.expected_share:g}, p >= {config.srm_alpha:g}",
            f"challenger arm has {srm.observed_share:.2%} of users against a split of "
            f"{srm.expected_share:.0%} (chi-squared p = {srm.p_value:.3g})",
        )
    )
    for attr, p in a.balance.items():
        checks.append(
            Check(
                f"balance_{attr}",
                p >= config.srm_alpha,
                f"p={p:.3g}",
                f">= {config.srm_alpha:g}",
                f"make-up of both arms by {attr} (chi-squared p = {p:.3g})",
            )
        )
    t = a.test
    sequential = Check(
        "sequential_test",
        t.p_value < config.alpha and t.delta > 0,
        f"Δ {t.delta:+.4f} [{t.lower:+.4f}, {t.upper:+.4f}], p={t.p_value:.3g}",
        f"always-valid p < {config.alpha:g}",
        f"mSPRT on per-user {a.metric} (higher is better): Δ = {t.delta:+.4f}, "
        f"always-valid p = {t.p_value:.3g} after {t.n_champion} + {t.n_challenger} users",
        hard=False,
    )
    checks.append(sequential)
    plan = a.plan
    if plan is not None and "missing" not in plan:
        checks.append(
            Check(
                "planned_sample",
                bool(plan["met"]),
                f"{t.n_champion} + {t.n_challenger} users",
                f">= {plan['users_champion']} + {plan['users_challenger']}",
                f"the plan (mde {plan['mde']:g}, sd {plan['sd']:.4g}, power {plan['power']:g}) "
                f"needs {plan['users_champion']} + {plan['users_challenger']} labelled users, "
                f"about {plan['days']:.1f} days at {plan['daily_users']:.0f} users a day",
                hard=False,
            )
        )
    broken = [c for c in checks if c.hard and not c.passed]
    if broken:
        return decision(
            "keep_watching",
            f"{broken[0].reason}: the assignment is broken and the comparison cannot be "
            "trusted; fix it before reading the test",
        )
    if min(t.n_champion, t.n_challenger) < config.min_users:
        return decision(
            "keep_watching",
            f"{t.n_champion} and {t.n_challenger} labelled users per arm; the test needs "
            f"{config.min_users} in each",
        )
    if t.p_value < config.alpha:
        if t.delta > 0:
            return decision("promote", sequential.reason + ": the challenger is better")
        return decision("rollback", sequential.reason + ": the challenger is worse")
    if config.max_users is not None and t.n_champion + t.n_challenger >= config.max_users:
        return decision(
            "rollback",
            f"no difference detected after {t.n_champion + t.n_challenger} users "
            f"(max_users {config.max_users}); stopping keeps the champion",
        )
    reason = sequential.reason + ": not decided yet"
    if plan is not None and "missing" not in plan and not plan["met"]:
        reason += (
            f"; the plan needs {plan['users_champion']} + {plan['users_challenger']} labelled "
            f"users (about {plan['days']:.1f} days in all)"
        )
    return decision("keep_watching", reason)
