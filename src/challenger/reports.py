"""The record of a decision: version tags, the model card and the decision table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from challenger.evaluation import Evidence
from challenger.gate import GateDecision
from challenger.registry import TAG
from challenger.training import CVResult


def version_tags(
    *,
    trigger: str,
    fingerprint: str,
    cv: CVResult,
    primary_metric: str,
    batches: list[str],
    n_train: int,
    n_holdout: int,
) -> dict[str, str]:
    """Tags every new version carries from the moment it is registered."""
    return {
        f"{TAG}trigger": trigger,
        f"{TAG}data_fingerprint": fingerprint,
        f"{TAG}cv_strategy": f"{cv.strategy}(k={cv.n_splits})",
        f"{TAG}candidate": cv.candidate,
        f"{TAG}estimator": cv.estimator,
        f"{TAG}cv_{primary_metric}": f"{cv.mean(primary_metric):.4f} ± {cv.std(primary_metric):.4f}",
        f"{TAG}training_batches": ",".join(batches),
        f"{TAG}train_rows": str(n_train),
        f"{TAG}holdout_rows": str(n_holdout),
        f"{TAG}gate_decision": "PENDING",
    }


def decision_tags(decision: GateDecision, evidence: Evidence) -> dict[str, str]:
    """Tags written once the gate has decided."""
    tags = {
        f"{TAG}gate_decision": decision.outcome.value,
        f"{TAG}gate_action": decision.action,
        f"{TAG}gate_reason": decision.reason[:4000],
        f"{TAG}gate_mode": decision.mode,
        f"{TAG}holdout_{evidence.primary_metric}": f"{evidence.challenger_value:.6f}",
        f"{TAG}compared_with": "none"
        if evidence.champion_version is None
        else f"v{evidence.champion_version}",
    }
    if evidence.primary is not None:
        bs = evidence.primary
        tags[f"{TAG}delta_{bs.metric}"] = f"{bs.delta:+.6f}"
        tags[f"{TAG}delta_lower"] = f"{bs.lower:+.6f}"
        tags[f"{TAG}delta_upper"] = f"{bs.upper:+.6f}"
    return tags


def model_card(
    *,
    model_name: str,
    version: int,
    cv: CVResult,
    all_cv: tuple[CVResult, ...],
    trigger: str,
    trigger_reasons: tuple[str, ...] | list[str],
    evidence: Evidence,
    decision: GateDecision,
    fingerprint: str,
    n_train: int,
) -> str:
    """A short markdown model card: what this version is and how it compared."""
    m = evidence.primary_metric
    lines = [
        f"## {model_name} v{version}: {decision.outcome.value}",
        "",
        f"**Decision:** {decision.outcome.value} → {decision.action.replace('_', ' ')} ({decision.mode} gate, {decision.rule}).",
        f"**Why:** {decision.reason}",
        "",
        f"**Trigger:** {trigger}" + (f" — {'; '.join(trigger_reasons)}" if trigger_reasons else ""),
        f"**Model:** `{cv.estimator}` (candidate `{cv.candidate}`), params `{cv.params}`",
        f"**Training data:** {n_train} rows, fingerprint `{fingerprint}`; "
        f"CV {cv.strategy} k={cv.n_splits}: {m} {cv.mean(m):.4f} ± {cv.std(m):.4f}",
        "",
        "| candidate | CV " + m + " (mean ± sd) |",
        "|---|---|",
        *[f"| {r.candidate} | {r.mean(m):.4f} ± {r.std(m):.4f} |" for r in all_cv],
        "",
        f"**Holdout:** {evidence.n_rows} rows, newer than the training rows.",
        "",
        "| metric | champion | challenger |",
        "|---|---|---|",
    ]
    for metric, row in evidence.secondary.items():
        champ = row.get("champion")
        lines.append(
            f"| {metric} | {'—' if champ is None else f'{champ:.4f}'} | {row['challenger']:.4f} |"
        )
    if evidence.primary is not None:
        bs = evidence.primary
        lines += [
            "",
            f"Paired bootstrap ({bs.method}, {bs.n_resamples} resamples): Δ{m} = {bs.delta:+.4f}, "
            f"one-sided {bs.confidence:.0%} bounds [{bs.lower:+.4f}, {bs.upper:+.4f}] vs champion v{evidence.champion_version}.",
        ]
    lines += ["", "| check | passed | value | threshold |", "|---|---|---|---|"]
    lines += [
        f"| {c.name} | {'yes' if c.passed else 'no'} | {c.value} | {c.threshold} |"
        for c in decision.checks
    ]
    return "\n".join(lines)


def decision_table(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows for the Prefect table artifact of a retrain."""
    decision = result["decision"]
    rows = [
        {"item": "outcome", "value": decision["outcome"], "detail": decision["reason"]},
        {
            "item": "action",
            "value": decision["action"],
            "detail": f"mode {decision['mode']}, rule {decision['rule']}",
        },
        {
            "item": "challenger",
            "value": f"v{result['challenger_version']}",
            "detail": result.get("candidate", ""),
        },
        {
            "item": "champion before",
            "value": "none"
            if result["champion_before"] is None
            else f"v{result['champion_before']}",
            "detail": "",
        },
    ]
    rows += [
        {
            "item": f"check: {c['name']}",
            "value": "pass" if c["passed"] else "fail",
            "detail": c["reason"],
        }
        for c in decision["checks"]
    ]
    return rows
