"""Online comparison: shadow, A/B and canary analysis of what the serving app logged.

Pure functions from frames of the prediction log (``challenger.serving.log``) and the
``rollout`` policy to an ``OnlineDecision`` with its checks and reasons; applying a decision
(registry, rollout state, records) is the online flow's job.

* Shadow: agreement rate of the champion's and the shadow's decisions on the same requests,
  PSI of their score distributions (< 0.1 fine, 0.1–0.25 watch, > 0.25 alarm), the
  shadow's error rate and the latency it would add (CPU time of a prediction, shadow minus
  champion, so a busy machine does not inflate it); once enough requests are labelled, the
  offline gate's paired bootstrap on those live rows decides.
* A/B: sample-ratio mismatch first (chi-squared, alarm at ``srm_alpha``), balance of the
  declared attributes, then an always-valid mSPRT (Johari, Pekelis & Walsh) on the
  per-user business metric, so the test may be read at any time.
* Canary: per stage, a Kayenta-style judge: Mann–Whitney U per metric between canary and
  baseline requests with a tolerance on the effect; a critical metric failing rolls back at
  once; a stage passes only with enough data.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from challenger.config import ABConfig, CanaryConfig, GateConfig, JudgeMetricConfig, ShadowConfig
from challenger.gate.decide import Outcome, decide
from challenger.gate.evidence import Check, gather_evidence
from challenger.stats import StatisticsInputError

Action = Literal["promote", "advance", "keep_watching", "rollback"]
FloatArray = NDArray[np.float64]

__all__ = [
    "ABAnalysis",
    "Action",
    "JudgeMetricResult",
    "OnlineDecision",
    "ShadowAnalysis",
    "analyse_ab",
    "analyse_shadow",
    "decide_ab",
    "decide_shadow",
    "judge_canary",
    "msprt",
    "per_request_metric",
    "psi",
    "srm_test",
]

#: Shadow predictions timed on their own needed before the added latency is judged.
MIN_TIMED = 50

_OUTCOME: dict[str, Outcome] = {
    "promote": Outcome.PROMOTE,
    "rollback": Outcome.REJECT,
    "keep_watching": Outcome.INCONCLUSIVE,
    "advance": Outcome.INCONCLUSIVE,
}


@dataclass(frozen=True)
class OnlineDecision:
    """What the live evidence says and what to do about it.

    Attributes:
        strategy: shadow, ab or canary.
        action: promote (challenger becomes champion), advance (next canary stage),
            keep_watching (not enough evidence yet), rollback (stop its traffic, retire it).
        reason: One line: the deciding check.
        checks: Every check with its value, threshold and reason.
        challenger_version: The version judged.
        champion_version: The champion it was compared with.
        details: The numbers behind the checks (for the record).
        next_stage: The canary stage to move to (advance only).
    """

    strategy: str
    action: Action
    reason: str
    checks: tuple[Check, ...]
    challenger_version: int | None
    champion_version: int | None
    details: dict[str, Any] = field(default_factory=dict)
    next_stage: int | None = None

    @property
    def outcome(self) -> Outcome:
        """The gate outcome this maps to (advance is still INCONCLUSIVE: more stages to go)."""
        return _OUTCOME[self.action]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "strategy": self.strategy,
            "action": self.action,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "challenger_version": self.challenger_version,
            "champion_version": self.champion_version,
            "next_stage": self.next_stage,
            "checks": [c.to_dict() for c in self.checks],
            "details": self.details,
        }


# ------------------------------------------------------------------------ building blocks


def psi(expected: FloatArray, actual: FloatArray, bins: int = 10, eps: float = 1e-4) -> float:
    """Population stability index of ``actual`` against ``expected`` (quantile bins).

    Bins are the quantiles of ``expected``; empty bins get ``eps`` so the log is defined.

    Raises:
        ValueError: Either sample is empty.
    """
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.size == 0 or a.size == 0:
        raise ValueError("PSI needs two non-empty samples")
    edges = np.unique(np.quantile(e, np.linspace(0.0, 1.0, bins + 1)))
    if edges.size < 2:  # a constant reference: one bin around it
        edges = np.array([e[0] - 0.5, e[0] + 0.5])
    inner = edges[1:-1]
    pe = np.bincount(np.searchsorted(inner, e, side="right"), minlength=inner.size + 1) / e.size
    pa = np.bincount(np.searchsorted(inner, a, side="right"), minlength=inner.size + 1) / a.size
    pe = np.clip(pe, eps, None)
    pa = np.clip(pa, eps, None)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


@dataclass(frozen=True)
class SRMResult:
    """Sample-ratio-mismatch test of the arms' sizes against the configured split."""

    n_champion: int
    n_challenger: int
    expected_share: float
    observed_share: float
    p_value: float
    mismatch: bool


def srm_test(n_champion: int, n_challenger: int, split: float, alpha: float) -> SRMResult:
    """Chi-squared goodness of fit of the arm sizes to the split (alarm when p < alpha)."""
    total = n_champion + n_challenger
    if total == 0:
        return SRMResult(0, 0, split, float("nan"), 1.0, False)
    expected = np.array([total * (1.0 - split), total * split])
    p = float(stats.chisquare([n_champion, n_challenger], f_exp=expected).pvalue)
    return SRMResult(n_champion, n_challenger, split, n_challenger / total, p, p < alpha)


@dataclass(frozen=True)
class SequentialResult:
    """An always-valid comparison of two means (challenger − champion, higher is better).

    Attributes:
        delta: Difference of the arms' means at the last look.
        p_value: Always-valid p-value (running minimum over the looks).
        lower: Lower bound of the always-valid confidence sequence at level 1 − alpha.
        upper: Upper bound.
        n_champion: Units in the champion arm.
        n_challenger: Units in the challenger arm.
        looks: Looks at the data (each new unit after the first few is one look).
    """

    delta: float
    p_value: float
    lower: float
    upper: float
    n_champion: int
    n_challenger: int
    looks: int


def msprt(
    values: FloatArray,
    is_challenger: NDArray[np.bool_],
    *,
    tau: float,
    alpha: float,
    min_per_arm: int = 5,
) -> SequentialResult:
    """Mixture SPRT for a difference of means with a normal mixing distribution N(0, τ²).

    The units are in arrival order; after each unit (once each arm has ``min_per_arm``)
    the likelihood ratio of the estimated difference Δ with variance V = s²₁/n₁ + s²₀/n₀
    against H0: Δ = 0 is Λ = √(V/(V+τ²)) · exp(τ²Δ² / (2V(V+τ²))); the always-valid
    p-value is the running minimum of 1/Λ, and the confidence sequence is the running
    intersection of Δ ± √(V(V+τ²)/τ² · (2 log(1/α) + log((V+τ²)/V))). Reading it at any
    time keeps the type-I error at α (Johari, Pekelis & Walsh 2017).

    Args:
        values: One value per unit (e.g. a user's mean outcome), in arrival order.
        is_challenger: True for units in the challenger arm.
        tau: Mixing standard deviation: the effect size the test is most sensitive to.
        alpha: Significance level of the confidence sequence.
        min_per_arm: Units per arm before the first look (variance estimates need a few).

    Raises:
        ValueError: Arrays of different lengths, or a non-positive tau.
    """
    y = np.asarray(values, dtype=float)
    arm = np.asarray(is_challenger, dtype=bool)
    if y.shape != arm.shape:
        raise ValueError("values and is_challenger must have the same length")
    if tau <= 0:
        raise ValueError("tau must be positive")
    n1 = np.cumsum(arm)
    n0 = np.cumsum(~arm)
    s1 = np.cumsum(np.where(arm, y, 0.0))
    s0 = np.cumsum(np.where(arm, 0.0, y))
    q1 = np.cumsum(np.where(arm, y * y, 0.0))
    q0 = np.cumsum(np.where(arm, 0.0, y * y))
    ok = (n1 >= max(2, min_per_arm)) & (n0 >= max(2, min_per_arm))
    n_chal, n_champ = int(n1[-1]) if y.size else 0, int(n0[-1]) if y.size else 0
    if not ok.any():
        return SequentialResult(float("nan"), 1.0, -math.inf, math.inf, n_champ, n_chal, 0)
    n1, n0, s1, s0, q1, q0 = (a[ok].astype(float) for a in (n1, n0, s1, s0, q1, q0))
    m1, m0 = s1 / n1, s0 / n0
    v1 = np.maximum(q1 - n1 * m1 * m1, 0.0) / (n1 - 1)
    v0 = np.maximum(q0 - n0 * m0 * m0, 0.0) / (n0 - 1)
    var = np.maximum(v1 / n1 + v0 / n0, 1e-12)
    delta = m1 - m0
    t2 = tau * tau
    log_lr = 0.5 * np.log(var / (var + t2)) + t2 * delta * delta / (2.0 * var * (var + t2))
    p = float(min(1.0, np.exp(-np.max(log_lr))))
    half = np.sqrt(var * (var + t2) / t2 * (2.0 * math.log(1.0 / alpha) + np.log((var + t2) / var)))
    return SequentialResult(
        delta=float(delta[-1]),
        p_value=p,
        lower=float(np.max(delta - half)),
        upper=float(np.min(delta + half)),
        n_champion=n_champ,
        n_challenger=n_chal,
        looks=int(delta.size),
    )


def per_request_metric(frame: pd.DataFrame, metric: str) -> pd.Series:
    """A per-request outcome, oriented so that higher is better (NaN while unlabelled).

    ``accuracy`` is 1 when the thresholded score matches the label, ``brier`` and
    ``log_loss`` are the negated per-row losses, ``value`` is the business value sent with
    the label.
    """
    label = frame["label"].astype(float)
    score = frame["score"].astype(float)
    if metric == "accuracy":
        out = ((score >= 0.5).astype(float) == label).astype(float)
        return out.where(label.notna() & score.notna())
    if metric == "brier":
        return -((score - label) ** 2)
    if metric == "log_loss":
        p = score.clip(1e-15, 1 - 1e-15)
        return label * np.log(p) + (1 - label) * np.log(1 - p)
    if metric == "value":
        return frame["value"].astype(float)
    raise ValueError(f"unknown business metric {metric!r}")


def _quantile(x: pd.Series, q: float) -> float | None:
    x = x.dropna()
    return float(np.quantile(x, q)) if len(x) else None


# ------------------------------------------------------------------------------- shadow


@dataclass(frozen=True)
class ShadowAnalysis:
    """One shadow model compared with the champion on the same live requests."""

    shadow: str
    shadow_version: int
    champion_version: int | None
    n_pairs: int
    n_labelled: int
    agreement: float | None
    psi: float | None
    shadow_error_rate: float
    champion_ms_p50: float | None
    champion_ms_p99: float | None
    shadow_ms_p50: float | None
    shadow_ms_p99: float | None
    labelled: pd.DataFrame = field(repr=False, compare=False)

    @property
    def added_ms_p50(self) -> float | None:
        """Median latency the shadow would add if it answered instead of the champion."""
        if self.shadow_ms_p50 is None or self.champion_ms_p50 is None:
            return None
        return self.shadow_ms_p50 - self.champion_ms_p50

    @property
    def added_ms_p99(self) -> float | None:
        """The same at the 99th percentile."""
        if self.shadow_ms_p99 is None or self.champion_ms_p99 is None:
            return None
        return self.shadow_ms_p99 - self.champion_ms_p99

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "shadow": self.shadow,
            "shadow_version": self.shadow_version,
            "champion_version": self.champion_version,
            "n_pairs": self.n_pairs,
            "n_labelled": self.n_labelled,
            "agreement": self.agreement,
            "psi": self.psi,
            "shadow_error_rate": self.shadow_error_rate,
            "champion_ms_p50": self.champion_ms_p50,
            "champion_ms_p99": self.champion_ms_p99,
            "shadow_ms_p50": self.shadow_ms_p50,
            "shadow_ms_p99": self.shadow_ms_p99,
            "added_ms_p50": self.added_ms_p50,
            "added_ms_p99": self.added_ms_p99,
        }


def analyse_shadow(pairs: pd.DataFrame, config: ShadowConfig) -> ShadowAnalysis:
    """Compare a shadow with the champion on paired requests (``LogStore.shadow_pairs``).

    Raises:
        ValueError: The frame holds no pair, or pairs of several shadow versions.
    """
    if pairs.empty:
        raise ValueError("no paired shadow predictions to analyse")
    versions = pairs["shadow_version"].unique()
    if len(versions) != 1:
        raise ValueError(f"pairs of several shadow versions: {sorted(versions)}")
    champions = pairs["champion_version"].dropna().unique()
    ok = pairs[pairs["shadow_error"].isna() & pairs["champion_score"].notna()]
    n = len(pairs)
    agreement = psi_value = None
    if len(ok):
        t = config.decision_threshold
        agreement = float(
            ((ok["champion_score"] >= t) == (ok["shadow_score"] >= t)).to_numpy().mean()
        )
        psi_value = psi(
            ok["champion_score"].to_numpy(float),
            ok["shadow_score"].to_numpy(float),
            config.psi_bins,
        )
    labelled = ok[ok["label"].notna()]
    timed = ok["shadow_ms"].dropna()  # requests the worker predicted alone, warm
    return ShadowAnalysis(
        shadow=str(pairs["shadow"].iloc[0]),
        shadow_version=int(versions[0]),
        champion_version=int(champions[-1]) if len(champions) else None,
        n_pairs=n,
        n_labelled=len(labelled),
        agreement=agreement,
        psi=psi_value,
        shadow_error_rate=float(pairs["shadow_error"].notna().mean()),
        champion_ms_p50=_quantile(pairs["champion_ms"], 0.5),
        champion_ms_p99=_quantile(pairs["champion_ms"], 0.99),
        shadow_ms_p50=_quantile(timed, 0.5) if len(timed) >= MIN_TIMED else None,
        shadow_ms_p99=_quantile(timed, 0.99) if len(timed) >= MIN_TIMED else None,
        labelled=labelled,
    )


def decide_shadow(
    analysis: ShadowAnalysis,
    config: ShadowConfig,
    gate: GateConfig,
    *,
    primary_metric: str,
    seed: int,
) -> OnlineDecision:
    """Turn a shadow comparison into promote / keep watching / roll back.

    Guardrails first (error rate, added latency: failing either rolls back; a PSI alarm
    blocks promotion until someone looks), then the offline gate's statistics on the
    labelled live rows: the same paired bootstrap and policy as the holdout comparison.
    """
    a = analysis
    checks: list[Check] = []
    details: dict[str, Any] = {"shadow": a.to_dict()}

    def decision(action: Action, reason: str) -> OnlineDecision:
        return OnlineDecision(
            "shadow", action, reason, tuple(checks), a.shadow_version, a.champion_version, details
        )

    enough = a.n_pairs >= config.min_requests
    checks.append(
        Check(
            "shadow_requests",
            enough,
            str(a.n_pairs),
            f">= {config.min_requests}",
            f"{a.n_pairs} requests seen by both champion and shadow v{a.shadow_version}",
            hard=False,
        )
    )
    err_ok = a.shadow_error_rate <= config.max_error_rate
    checks.append(
        Check(
            "shadow_error_rate",
            err_ok,
            f"{a.shadow_error_rate:.2%}",
            f"<= {config.max_error_rate:.2%}",
            f"shadow v{a.shadow_version} failed on {a.shadow_error_rate:.2%} of requests",
        )
    )
    added = a.added_ms_p99
    lat_ok = added is None or added <= config.max_added_latency_ms
    checks.append(
        Check(
            "added_latency_p99",
            lat_ok,
            "n/a" if added is None else f"{added:+.2f} ms",
            f"<= {config.max_added_latency_ms:g} ms",
            "answering with the shadow would change p99 model latency by "
            + ("n/a" if added is None else f"{added:+.2f} ms")
            + f" (p50 {a.added_ms_p50:+.2f} ms)"
            if a.added_ms_p50 is not None
            else "no successful shadow prediction to time",
        )
    )
    if a.psi is None:
        level = "n/a"
    elif a.psi < config.psi_watch:
        level = "fine"
    elif a.psi <= config.psi_alarm:
        level = "watch"
    else:
        level = "alarm"
    details["psi_level"] = level
    checks.append(
        Check(
            "score_psi",
            level in ("fine", "watch"),
            "n/a" if a.psi is None else f"{a.psi:.3f} ({level})",
            f"<= {config.psi_alarm:g}",
            "PSI of the shadow's scores against the champion's on the same requests: "
            + ("n/a" if a.psi is None else f"{a.psi:.3f}, {level}"),
            hard=False,
        )
    )
    checks.append(
        Check(
            "agreement_rate",
            True,
            "n/a" if a.agreement is None else f"{a.agreement:.2%}",
            "reported",
            "share of requests where both models take the same decision at threshold "
            f"{config.decision_threshold:g}: "
            + ("n/a" if a.agreement is None else f"{a.agreement:.2%}"),
            hard=False,
        )
    )
    if enough and not err_ok:
        return decision("rollback", checks[1].reason + f" (budget {config.max_error_rate:.2%})")
    if enough and not lat_ok:
        return decision(
            "rollback", checks[2].reason + f" (budget {config.max_added_latency_ms:g} ms)"
        )
    if not enough:
        return decision(
            "keep_watching", f"only {a.n_pairs} of {config.min_requests} paired requests so far"
        )
    if level == "alarm":
        return decision(
            "keep_watching",
            f"score distributions differ (PSI {a.psi:.3f} > {config.psi_alarm:g}); "
            "investigate before promoting",
        )
    if a.n_labelled < gate.min_holdout_rows:
        checks.append(
            Check(
                "live_labels",
                False,
                str(a.n_labelled),
                f">= {gate.min_holdout_rows}",
                f"{a.n_labelled} of the paired requests have labels; the gate needs "
                f"{gate.min_holdout_rows}",
                hard=False,
            )
        )
        return decision("keep_watching", checks[-1].reason)
    y = a.labelled["label"].to_numpy(float).astype(int)
    try:
        evidence = gather_evidence(
            y,
            a.labelled["shadow_score"].to_numpy(float),
            a.labelled["champion_score"].to_numpy(float),
            primary_metric=primary_metric,
            champion_version=a.champion_version,
            challenger_version=a.shadow_version,
            confidence=gate.confidence,
            n_resamples=gate.n_resamples,
            seed=seed,
        )
    except StatisticsInputError as exc:
        checks.append(Check("live_evidence", False, "n/a", "computable", str(exc), hard=False))
        return decision("keep_watching", f"the labelled live rows cannot decide yet: {exc}")
    if evidence.champion_version is None:  # no champion version on the rows: cannot compare
        return decision("keep_watching", "the paired rows carry no champion version")
    gate_decision = decide(evidence, tuple(c for c in checks if c.hard), gate)
    checks.extend(c for c in gate_decision.checks if c not in checks)
    details["evidence"] = evidence.to_dict()
    details["gate"] = gate_decision.to_dict()
    action: Action
    if gate_decision.promotes and gate_decision.outcome is Outcome.PROMOTE:
        action = "promote"
    elif gate_decision.outcome is Outcome.REJECT:
        action = "rollback"
    else:
        action = "keep_watching"
    return decision(action, f"on {a.n_labelled} labelled live requests: {gate_decision.reason}")


# ---------------------------------------------------------------------------------- A/B


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
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
    return ABAnalysis(
        config.experiment, config.metric, srm, balance, test, len(first), len(per_user), means
    )


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
    checks.append(
        Check(
            "sequential_test",
            t.p_value < config.alpha and t.delta > 0,
            f"Δ {t.delta:+.4f} [{t.lower:+.4f}, {t.upper:+.4f}], p={t.p_value:.3g}",
            f"always-valid p < {config.alpha:g}",
            f"mSPRT on per-user {a.metric} (higher is better): Δ = {t.delta:+.4f}, "
            f"always-valid p = {t.p_value:.3g} after {t.n_champion} + {t.n_challenger} users",
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
            return decision("promote", checks[-1].reason + ": the challenger is better")
        return decision("rollback", checks[-1].reason + ": the challenger is worse")
    if config.max_users is not None and t.n_champion + t.n_challenger >= config.max_users:
        return decision(
            "rollback",
            f"no difference detected after {t.n_champion + t.n_challenger} users "
            f"(max_users {config.max_users}); stopping keeps the champion",
        )
    return decision("keep_watching", checks[-1].reason + ": not decided yet")


# ------------------------------------------------------------------------------- canary


@dataclass(frozen=True)
class JudgeMetricResult:
    """One metric of the canary judge."""

    name: str
    critical: bool
    verdict: Literal["pass", "fail", "nodata"]
    n_canary: int
    n_baseline: int
    canary: float | None
    baseline: float | None
    effect: float | None
    p_value: float | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return dict(self.__dict__)


def _metric_values(rows: pd.DataFrame, name: str) -> pd.Series:
    if name == "error_rate":
        return (rows["status"] != "ok").astype(float)
    if name == "latency_ms":
        return rows["latency_ms"].astype(float)
    ok = rows[(rows["status"] == "ok") & rows["label"].notna()]
    y, p = ok["label"].astype(float), ok["score"].astype(float)
    if name == "brier":
        return (p - y) ** 2
    if name == "log_loss":
        p = p.clip(1e-15, 1 - 1e-15)
        return -(y * np.log(p) + (1 - y) * np.log(1 - p))
    raise ValueError(f"unknown judge metric {name!r}")


def _judge_metric(
    metric: JudgeMetricConfig,
    canary: pd.Series,
    baseline: pd.Series,
    config: CanaryConfig,
) -> JudgeMetricResult:
    needed = config.min_labels if metric.name in ("brier", "log_loss") else config.min_requests
    floor = min(20, needed)  # a failure may be declared early; a pass needs the full sample
    nc, nb = len(canary), len(baseline)
    if min(nc, nb) < floor:
        return JudgeMetricResult(
            metric.name,
            metric.critical,
            "nodata",
            nc,
            nb,
            None,
            None,
            None,
            None,
            f"{metric.name}: {nc} canary and {nb} baseline observations; need {needed} each",
        )
    c, b = canary.to_numpy(float), baseline.to_numpy(float)
    if metric.name == "latency_ms":
        cv, bv = float(np.median(c)), float(np.median(b))
        effect = cv / bv - 1.0 if bv > 0 else 0.0
        shown = f"median {cv:.2f} vs {bv:.2f} ms ({effect:+.0%})"
    else:
        cv, bv = float(c.mean()), float(b.mean())
        effect = cv - bv
        shown = f"{cv:.4f} vs {bv:.4f} ({effect:+.4f})"
    if np.ptp(np.concatenate([c, b])) == 0.0:
        p = 1.0
    else:
        p = float(stats.mannwhitneyu(c, b, alternative="two-sided").pvalue)
    worse = p < config.alpha and effect > metric.tolerance
    if worse:
        verdict: Literal["pass", "fail", "nodata"] = "fail"
        reason = f"{metric.name} canary worse: {shown}, Mann-Whitney p = {p:.3g}, tolerance {metric.tolerance:g}"
    elif min(nc, nb) < needed:
        verdict = "nodata"
        reason = f"{metric.name}: {shown} so far; {nc} canary and {nb} baseline observations, need {needed} each"
    else:
        verdict = "pass"
        reason = f"{metric.name}: {shown}, p = {p:.3g} within tolerance {metric.tolerance:g}"
    return JudgeMetricResult(
        metric.name, metric.critical, verdict, nc, nb, cv, bv, effect, p, reason
    )


def judge_canary(
    rows: pd.DataFrame,
    config: CanaryConfig,
    *,
    stage: int,
    challenger_version: int | None,
    champion_version: int | None,
    critical_only: bool = False,
) -> OnlineDecision:
    """Judge one canary stage: canary requests against baseline requests of the same cohort.

    Args:
        rows: Logged requests of the canary experiment for this challenger and stage.
        config: The canary policy.
        stage: Index of the stage being judged.
        challenger_version: The canary version.
        champion_version: The baseline version.
        critical_only: Judge only critical metrics (the app's fast guard).

    Returns:
        rollback when any critical metric fails (or the score is below ``marginal_score``),
        advance (or promote after the last stage below 100 %) when the score reaches
        ``pass_score`` with enough data for every metric, keep_watching otherwise.
    """
    weight = config.stages[min(stage, len(config.stages) - 1)]
    rows = rows[(rows["experiment"] == config.experiment) & (rows["stage"] == stage)]
    canary_rows = rows[rows["arm"] == "challenger"]
    baseline_rows = rows[rows["arm"] == "champion"]
    metrics = [m for m in config.metrics if m.critical or not critical_only]
    results = [
        _judge_metric(
            m, _metric_values(canary_rows, m.name), _metric_values(baseline_rows, m.name), config
        )
        for m in metrics
    ]
    checks = tuple(
        Check(
            f"canary_{r.name}",
            r.verdict != "fail",
            r.verdict,
            f"tolerance {next(m.tolerance for m in metrics if m.name == r.name):g}",
            r.reason,
            hard=r.critical,
        )
        for r in results
    )
    passed = sum(r.verdict == "pass" for r in results)
    score = 100.0 * passed / len(results)
    details: dict[str, Any] = {
        "stage": stage,
        "weight": weight,
        "score": score,
        "metrics": [r.to_dict() for r in results],
        "canary_requests": len(canary_rows),
        "baseline_requests": len(baseline_rows),
    }

    def decision(action: Action, reason: str, next_stage: int | None = None) -> OnlineDecision:
        return OnlineDecision(
            "canary",
            action,
            reason,
            checks,
            challenger_version,
            champion_version,
            details,
            next_stage,
        )

    failed_critical = [r for r in results if r.critical and r.verdict == "fail"]
    if failed_critical:
        return decision(
            "rollback", f"stage {stage} ({weight:g} %): critical {failed_critical[0].reason}"
        )
    if weight >= 100:
        return decision("promote", f"stage {stage} is the full rollout ({weight:g} %)")
    if critical_only:
        return decision("keep_watching", f"stage {stage}: no critical metric fails")
    failed = [r for r in results if r.verdict == "fail"]
    pending = [r for r in results if r.verdict == "nodata"]
    if pending:
        return decision("keep_watching", f"stage {stage} ({weight:g} %): {pending[0].reason}")
    if score < config.marginal_score:
        return decision(
            "rollback",
            f"stage {stage} ({weight:g} %): score {score:.0f} below {config.marginal_score:g}; {failed[0].reason}",
        )
    if score < config.pass_score:
        return decision(
            "keep_watching",
            f"stage {stage} ({weight:g} %): marginal score {score:.0f}; {failed[0].reason}",
        )
    nxt = stage + 1
    if nxt >= len(config.stages) or config.stages[nxt] >= 100:
        return decision(
            "promote",
            f"stage {stage} ({weight:g} %) passed with score {score:.0f}: full rollout",
        )
    return decision(
        "advance",
        f"stage {stage} ({weight:g} %) passed with score {score:.0f}; next {config.stages[nxt]:g} %",
        nxt,
    )
