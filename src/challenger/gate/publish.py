"""Publishing a gate decision where a reviewer looks: the version and the MLflow run.

:func:`publish` writes the decision into the version's record (its artifact and summary tags)
and the model card (the version's description),
and on the active MLflow run the plots, ``gate/report.md``, ``gate/decision.json``, the
holdout metrics and the run's tags. It returns the markdown report, which the flow also
shows as a Prefect artifact.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from challenger.config import GateConfig
from challenger.gate import report
from challenger.gate.decide import GateDecision, threshold
from challenger.gate.describe import direction, natural, natural_bounds
from challenger.gate.evidence import Evidence
from challenger.gate.judge import Verdict
from challenger.store.record import TAG, Delta, VersionRecord
from challenger.store.registry import Registry
from challenger.store.tracking import Tracking

_DESCRIPTION_LIMIT = 4900


def _delta(evidence: Evidence) -> Delta | None:
    """The primary metric's Δ as challenger − champion in its units, and its direction."""
    bs = evidence.primary
    if bs is None:
        return None
    lo, hi = natural_bounds(bs.metric, bs.lower, bs.upper)
    return Delta(bs.metric, natural(bs.metric, bs.delta), lo, hi, direction(bs.delta))


def decision_record(decision: GateDecision, evidence: Evidence) -> VersionRecord:
    """What the gate's decision adds to a version's record (Δ as challenger − champion)."""
    held = evidence.holdout
    return VersionRecord(
        gate_decision=decision.outcome.value,
        gate_action=decision.action,
        gate_reason=decision.reason,
        gate_mode=decision.mode,
        # the secondary metrics too: the monitor watches some of them (triggers.performance)
        holdout={evidence.primary_metric: evidence.challenger_value}
        | {
            m: float(c)
            for m, v in evidence.secondary.items()
            if (c := v.get("challenger")) is not None
        },
        compared_with="none"
        if evidence.champion_version is None
        else f"v{evidence.champion_version}",
        delta=_delta(evidence),
        holdout_rows=evidence.n_rows,
        holdout_draw=held.get("how"),
        holdout_excluded=held.get("excluded"),
        holdout_seen_challenger=held.get("seen_by_challenger"),
        holdout_seen_champion=held.get("seen_by_champion"),
    )


def publish(
    model_name: str,
    policy: GateConfig,
    registry: Registry,
    tracking: Tracking,
    version: int,
    verdict: Verdict,
    card: str,
    result: Mapping[str, Any],
    ui_base: str | None = None,
) -> str:
    """Record a decision on the version and on the active MLflow run; returns the report.

    Args:
        model_name: The registered model's name.
        policy: The gate section (whether to draw the plots, the threshold drawn in them).
        registry: The registered model.
        tracking: The experiment whose run is active.
        version: The judged version.
        verdict: The judgement.
        card: The model card (markdown).
        result: The step's JSON result (``gate/decision.json``).
        ui_base: The MLflow UI (``ops.service.mlflow_ui_base``): the card and the report
            then link to the run and its plots.
    """
    evidence, decision = verdict.evidence, verdict.decision
    run_id = tracking.active_run_id()
    links = (
        report.RunLinks(ui_base.rstrip("/"), tracking.experiment_id, run_id)
        if ui_base and run_id
        else None
    )
    footer = report.card_footer(links)
    registry.update_record(
        version,
        decision_record(decision, evidence),
        description=card[: _DESCRIPTION_LIMIT - len(footer)] + footer,
    )
    with tempfile.TemporaryDirectory() as tmp:
        plots = (
            report.write_plots(
                verdict.y,
                verdict.champion_scores,
                verdict.challenger_scores,
                evidence,
                threshold(policy),
                Path(tmp),
            )
            if policy.plots
            else []
        )
        for p in plots:
            tracking.log_file(p, "gate")
    text = report.gate_report(
        model_name=model_name,
        version=version,
        evidence=evidence,
        decision=decision,
        card=card,
        plots=[f"gate/{p.name}" for p in plots],
        links=links,
    )
    tracking.log_text(text, "gate/report.md")
    tracking.log_dict(result, "gate/decision.json")
    metrics = {
        f"holdout_{m}_{who}": v
        for m, row in evidence.secondary.items()
        for who, v in row.items()
        if who in ("champion", "challenger") and v is not None
    }
    delta = _delta(evidence)
    if delta is not None:  # challenger − champion, in the metric's units
        shown = {"delta": delta.value, "delta_lower": delta.lower, "delta_upper": delta.upper}
        metrics |= {k: v for k, v in shown.items() if v is not None}
    for who, ops in evidence.operational.items():
        metrics |= {f"{who}_{k}": v for k, v in ops.to_dict().items() if v is not None}
    tracking.log_metrics(metrics)
    tracking.set_run_tags(
        {f"{TAG}gate_decision": decision.outcome.value, f"{TAG}version": str(version)}
    )
    return text
