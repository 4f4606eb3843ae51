"""What is written about a monitor run: its MLflow run, and the text of its Prefect artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from challenger.monitor.drift import DriftResult
from challenger.monitor.triggers import TriggerDecision
from challenger.monitor.validation import ValidationResult
from challenger.store.record import TAG
from challenger.store.tracking import Tracking


def log_monitor_run(
    tracking: Tracking,
    primary_metric: str,
    batch_id: str,
    frame: pd.DataFrame,
    drift: DriftResult,
    decision: TriggerDecision,
    champion_version: int,
    html: Path,
) -> str:
    """One MLflow run per measured batch: drift metrics, the champion's windows, the report."""
    tags = {
        f"{TAG}kind": "monitor",
        f"{TAG}batch": batch_id,
        f"{TAG}trigger": decision.trigger,
        f"{TAG}champion_version": str(champion_version),
    }
    with tracking.start_run(f"monitor-{batch_id}", tags=tags) as run_id:
        metrics = {"drift_share": drift.drift_share, "rows": len(frame)}
        if drift.prediction is not None:
            metrics["prediction_drift_score"] = drift.prediction.score
        if drift.target is not None:
            metrics["target_drift_score"] = drift.target.score
        for i, window in enumerate(decision.evidence.get("performance", {}).get("windows", [])):
            tracking.log_metrics({f"champion_{primary_metric}": window["value"]}, step=i)
        tracking.log_metrics(metrics)
        tracking.log_dict(drift.to_dict(), "drift/drift.json")
        tracking.log_dict(decision.to_dict(), "trigger.json")
        tracking.log_file(html, "drift")
    return str(run_id)


def decision_rows(
    batch: str,
    kind: str,
    rows: int,
    validation: ValidationResult,
    drift: DriftResult | None,
    decision: TriggerDecision,
) -> list[dict[str, Any]]:
    """Rows of the ``monitor-decision`` table."""
    return [
        {"item": "file", "value": batch},
        {"item": "kind", "value": kind},
        {"item": "rows", "value": rows},
        {"item": "validation", "value": f"passed {validation.n_expectations} expectations"},
        {"item": "drift share", "value": "n/a" if drift is None else f"{drift.drift_share:.0%}"},
        {"item": "retrain", "value": f"{decision.retrain} ({decision.trigger})"},
        *[{"item": "reason", "value": r} for r in decision.reasons],
    ]


def quarantine_markdown(name: str, validation: ValidationResult, where: Path) -> str:
    """The ``quarantine`` note: what failed and how to release the fixed file."""
    return (
        f"## `{name}` quarantined\n\n```\n{validation.summary()}\n```\n\n"
        f"Report: `{where}/validation.json` (GX data docs: `{where}/data_docs.html`). "
        f"Fix the file there and run `challenger release {where.name}`."
    )


def drift_markdown(batch_id: str, drift: DriftResult, link: str) -> str:
    """The ``drift-summary``: every column's test, score, threshold and verdict."""
    rows = [
        f"| {c.column} | {c.kind} | {c.method} | {c.score:.4g} | {c.threshold:.4g} | "
        f"{'**drift**' if c.drifted else 'ok'} |"
        for c in (*drift.columns, drift.prediction, drift.target)
        if c is not None
    ]
    sample = (
        f" The HTML report shows Evidently on a seeded sample of {drift.report_rows:,} rows per side."
        if drift.report_rows and drift.report_rows < max(drift.n_reference, drift.n_current)
        else ""
    )
    return "\n".join(
        [
            f"## Drift of `{batch_id}`: {drift.n_drifted} of {len(drift.columns)} features "
            f"({drift.drift_share:.0%}, threshold {drift.share_threshold:.0%})",
            "",
            f"Verdicts by the {drift.engine} engine on {drift.n_current:,} current vs "
            f"{drift.n_reference:,} reference rows.{sample} "
            f"[Evidently report in MLflow]({link})",
            "",
            "| column | kind | method | score | threshold | verdict |",
            "|---|---|---|---|---|---|",
            *rows,
        ]
    )
