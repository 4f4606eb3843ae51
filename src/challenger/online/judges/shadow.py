"""The shadow judge: a shadow model against the champion on the same live requests.

``analyse_shadow`` reads the paired predictions (``LogStore.shadow_pairs``): agreement rate of
the two models (binary: the same class at ``decision_threshold``; multiclass: the same
predicted class; regression: predictions
within ``agreement_tolerance`` standard deviations of the champion's predictions, with their
mean absolute difference), PSI of their score (binary), predicted class (multiclass, one
bin per class) or prediction (regression) distributions (< 0.1 fine, 0.1–0.25 watch, > 0.25 alarm), the shadow's error rate and the latency it would add (CPU time of a
prediction, shadow minus champion, so a busy machine does not inflate it). ``decide_shadow``
applies the guardrails, then, once enough requests are labelled, the offline gate's paired
bootstrap on those live rows decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from challenger.config import GateConfig, ShadowConfig
from challenger.gate.decide import Outcome, decide
from challenger.gate.evidence import Check, gather_evidence
from challenger.online.decision import Action, OnlineDecision
from challenger.online.log import read_proba
from challenger.stats import StatisticsInputError
from challenger.stats.distribution import psi

__all__ = [
    "MIN_TIMED",
    "ShadowAnalysis",
    "agreement",
    "analyse_shadow",
    "class_psi",
    "decide_shadow",
]

#: Shadow predictions timed on their own needed before the added latency is judged.
MIN_TIMED = 50


def _quantile(x: pd.Series, q: float) -> float | None:
    x = x.dropna()
    return float(np.quantile(x, q)) if len(x) else None


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
    task: str = "binary"
    mean_abs_diff: float | None = None

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
            "task": self.task,
            "mean_abs_diff": self.mean_abs_diff,
        }


def agreement(champion: np.ndarray, shadow: np.ndarray, task: str, config: ShadowConfig) -> float:
    """The share of requests on which the two models agree.

    Binary: both scores on the same side of ``decision_threshold`` (the same class answered).
    Multiclass: the same predicted class (the logged scores are the classes' codes).
    Regression: ``|shadow - champion| <= agreement_tolerance * sd(champion)``, the standard
    deviation of the champion's predictions on these requests, so the rate does not depend
    on the target's units (with constant champion predictions only equal ones agree).
    """
    if task == "multiclass":
        return float((champion == shadow).mean())
    if task == "regression":
        allowed = config.agreement_tolerance * float(np.std(champion))
        return float((np.abs(shadow - champion) <= allowed).mean())
    t = config.decision_threshold
    return float(((champion >= t) == (shadow >= t)).mean())


def class_psi(champion: np.ndarray, shadow: np.ndarray, eps: float = 1e-4) -> float:
    """PSI of two predicted-class distributions, one bin per class code."""
    k = int(max(champion.max(), shadow.max())) + 1
    pe = np.clip(np.bincount(champion.astype(int), minlength=k) / champion.size, eps, None)
    pa = np.clip(np.bincount(shadow.astype(int), minlength=k) / shadow.size, eps, None)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


def analyse_shadow(
    pairs: pd.DataFrame, config: ShadowConfig, task: str = "binary"
) -> ShadowAnalysis:
    """Compare a shadow with the champion on paired requests (``LogStore.shadow_pairs``).

    Args:
        pairs: The paired rows.
        config: The shadow policy.
        task: ``data.task``: what the scores are (P(class 1) or the predicted value).

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
    agreed = psi_value = mad = None
    if len(ok):
        champ, other = ok["champion_score"].to_numpy(float), ok["shadow_score"].to_numpy(float)
        agreed = agreement(champ, other, task, config)
        psi_value = (
            class_psi(champ, other) if task == "multiclass" else psi(champ, other, config.psi_bins)
        )
        if task == "regression":
            mad = float(np.mean(np.abs(other - champ)))
    labelled = ok[ok["label"].notna()]
    timed = ok["shadow_ms"].dropna()  # requests the worker predicted alone, warm
    return ShadowAnalysis(
        shadow=str(pairs["shadow"].iloc[0]),
        shadow_version=int(versions[0]),
        champion_version=int(champions[-1]) if len(champions) else None,
        n_pairs=n,
        n_labelled=len(labelled),
        agreement=agreed,
        psi=psi_value,
        shadow_error_rate=float(pairs["shadow_error"].notna().mean()),
        champion_ms_p50=_quantile(pairs["champion_ms"], 0.5),
        champion_ms_p99=_quantile(pairs["champion_ms"], 0.99),
        shadow_ms_p50=_quantile(timed, 0.5) if len(timed) >= MIN_TIMED else None,
        shadow_ms_p99=_quantile(timed, 0.99) if len(timed) >= MIN_TIMED else None,
        labelled=labelled,
        task=task,
        mean_abs_diff=mad,
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
    blocks a promotion until someone looks, but not a rollback the labels call for), then the offline gate's statistics on the
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
    what = {"regression": "predictions", "multiclass": "predicted classes"}.get(a.task, "scores")
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
            f"PSI of the shadow's {what} against the champion's on the same requests: "
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
            (
                f"share of requests where the predictions differ by at most "
                f"{config.agreement_tolerance:g} sd of the champion's (mean absolute "
                f"difference {a.mean_abs_diff:.4g}): "
                if a.task == "regression" and a.mean_abs_diff is not None
                else "share of requests where both models predict the same class: "
                if a.task == "multiclass"
                else "share of requests where both models take the same decision at threshold "
                f"{config.decision_threshold:g}: "
            )
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
    psi_alarm = (
        f"score distributions differ (PSI {a.psi:.3f} > {config.psi_alarm:g}); "
        "investigate before promoting"
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
        return decision("keep_watching", psi_alarm if level == "alarm" else checks[-1].reason)
    y = a.labelled["label"].to_numpy(float)
    if a.task != "regression":
        y = y.astype(int)
    shadow_scores = a.labelled["shadow_score"].to_numpy(float)
    champion_scores = a.labelled["champion_score"].to_numpy(float)
    if a.task == "multiclass":  # the gate reads class probabilities, columns in code order
        shadow_scores = read_proba(a.labelled["shadow_proba"])
        champion_scores = read_proba(a.labelled["champion_proba"])
    try:
        evidence = gather_evidence(
            y,
            shadow_scores,
            champion_scores,
            primary_metric=primary_metric,
            champion_version=a.champion_version,
            challenger_version=a.shadow_version,
            confidence=gate.confidence,
            n_resamples=gate.n_resamples,
            seed=seed,
            task=a.task,
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
        if level == "alarm":  # a PSI alarm blocks a promotion, not a rollback the labels show
            return decision("keep_watching", f"{psi_alarm} ({gate_decision.reason})")
        action = "promote"
    elif gate_decision.outcome is Outcome.REJECT:
        action = "rollback"
    else:
        action = "keep_watching"
    return decision(action, f"on {a.n_labelled} labelled live requests: {gate_decision.reason}")
