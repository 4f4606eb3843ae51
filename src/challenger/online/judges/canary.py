"""The canary judge: one stage of a staged rollout, Kayenta-style.

Per metric, a Mann–Whitney U test between canary and baseline requests of the same cohort,
with a tolerance on the effect; a critical metric failing rolls back at once (the serving
app's guard judges only those), and a stage passes only with enough data for every metric.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from challenger import metrics
from challenger.config import CanaryConfig, JudgeMetricConfig
from challenger.gate.evidence import Check
from challenger.online.decision import Action, OnlineDecision
from challenger.online.judges.ab import logged_proba

__all__ = ["JudgeMetricResult", "judge_canary"]


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
    # a per-row loss of the task (config checks it fits): Brier, log loss, squared or
    # absolute error of the logged score (P(class 1) or the predicted value)
    # (a multiclass model's from its logged class probabilities)
    losses = metrics.per_row(
        name, ok["label"].astype(float), ok["score"].astype(float), proba=logged_proba(ok)
    )
    return pd.Series(losses, index=ok.index)


def _judge_metric(
    metric: JudgeMetricConfig,
    canary: pd.Series,
    baseline: pd.Series,
    config: CanaryConfig,
) -> JudgeMetricResult:
    labelled = metric.name not in ("error_rate", "latency_ms")  # a per-row loss of the task
    needed = config.min_labels if labelled else config.min_requests
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
