"""What is written about a monitor run: its MLflow run, and the text of its Prefect artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from challenger.artifact import Artifact
from challenger.monitor.drift import DriftResult
from challenger.monitor.lineage import Effectiveness
from challenger.monitor.triggers import TriggerDecision
from challenger.monitor.validation import ValidationResult
from challenger.store.record import TAG
from challenger.store.tracking import Tracking

if TYPE_CHECKING:
    from challenger.monitor.check import Checked


def log_monitor_run(
    tracking: Tracking,
    primary_metric: str,
    batch_id: str,
    rows: int,
    drift: DriftResult,
    decision: TriggerDecision,
    champion_version: int,
    html: Path,
    lineage: tuple[Effectiveness, Path | None] | None = None,
) -> str:
    """One MLflow run per measured batch: drift metrics, the champion's windows, the report;
    with ``lineage``, the retraining-effectiveness verdict and the lineage plot."""
    tags = {
        f"{TAG}kind": "monitor",
        f"{TAG}batch": batch_id,
        f"{TAG}trigger": decision.trigger,
        f"{TAG}champion_version": str(champion_version),
    }
    with tracking.start_run(f"monitor-{batch_id}", tags=tags) as run_id:
        metrics = {
            "drift_share": drift.drift_share,
            "drift_unadjusted_share": len(drift.unadjusted_columns()) / max(1, len(drift.columns)),
            "rows": rows,
        }
        if drift.control is not None:
            metrics["drift_alarm_rate"] = drift.control.rate
        if drift.prediction is not None:
            metrics["prediction_drift_score"] = drift.prediction.score
        if drift.target is not None:
            metrics["target_drift_score"] = drift.target.score
        evidence = decision.evidence
        for i, window in enumerate(evidence.get("performance", {}).get("windows", [])):
            tracking.log_metrics({f"champion_{primary_metric}": window["value"]}, step=i)
        for metric, watched in evidence.get("performance_watched", {}).items():
            for i, window in enumerate(watched.get("windows", [])):
                tracking.log_metrics({f"champion_{metric}": window["value"]}, step=i)
        concept = evidence.get("concept")
        if concept is not None:
            metrics["concept_rows_seen"] = concept["rows_seen"]
            metrics["concept_alarm"] = float(concept["alarm"])
            if concept["mean_error"] is not None:
                metrics["concept_mean_error"] = concept["mean_error"]
        tracking.log_metrics(metrics)
        tracking.log_dict(drift.to_dict(), "drift/drift.json")
        tracking.log_dict(decision.to_dict(), "trigger.json")
        if html.exists():  # drift.report off: no Evidently report
            tracking.log_file(html, "drift")
        if lineage is not None:
            verdict, png = lineage
            tracking.log_metrics({"lineage_alarm": float(verdict.alarm)})
            tracking.log_dict(verdict.to_dict(), "lineage/effectiveness.json")
            if png is not None:
                tracking.log_file(png, "lineage")
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
    concept = decision.evidence.get("concept")
    return [
        {"item": "file", "value": batch},
        {"item": "kind", "value": kind},
        {"item": "rows", "value": rows},
        {"item": "validation", "value": f"passed {validation.n_expectations} expectations"},
        {"item": "drift share", "value": "n/a" if drift is None else f"{drift.drift_share:.0%}"},
        *(
            [{"item": "drift alarms", "value": drift.control.statement()}]
            if drift is not None and drift.control is not None
            else []
        ),
        *[{"item": "drift note", "value": n} for n in (drift.notes if drift else ())],
        *(
            [
                {
                    "item": "change detector",
                    "value": f"{concept['detector']}: {'ALARM' if concept['alarm'] else 'quiet'}, "
                    f"{concept['rows_fed']} new rows, {concept['rows_seen']} since "
                    f"v{concept['champion_version']}",
                }
            ]
            if concept is not None
            else []
        ),
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


def quarantine_artifact(name: str, note: str) -> Artifact:
    """The ``quarantine`` artifact of a file that failed validation (its note: ``BatchQuarantined.report``)."""
    return Artifact("quarantine", f"{name} failed validation", markdown=note)


def drift_markdown(batch_id: str, drift: DriftResult, link: str) -> str:
    """The ``drift-summary``: every column's test, score, threshold, evidence and alarm."""

    def num(value: float | None, spec: str) -> str:
        return "—" if value is None else format(value, spec)

    def verdict(drifted: bool, alarm: bool | None) -> str:
        if alarm is None:  # the prediction and the target are reported, never counted
            return "drift (not counted)" if drifted else "ok"
        return "**alarm**" if alarm else ("ok (own test fired)" if drifted else "ok")

    rows = [
        f"| {c.column} | {c.kind} | {c.method} | {c.score:.4g} | {c.threshold:.4g} | "
        f"{'yes' if c.drifted else 'no'} | {num(c.effect, '.3f')} | {num(c.p_value, '.3g')} | "
        f"{num(c.adjusted_p, '.3g')} | {verdict(c.drifted, c.alarm)} |"
        for c in (*drift.columns, drift.prediction, drift.target)
        if c is not None
    ]
    control = "" if drift.control is None else f"{drift.control.statement()}\n\n"
    notes = "".join(f"- {n}\n" for n in drift.notes)
    sample = (
        f" The HTML report shows Evidently on a seeded sample of {drift.report_rows:,} rows per side."
        if drift.report_rows and drift.report_rows < max(drift.n_reference, drift.n_current)
        else ""
    )
    return "\n".join(
        [
            f"## Drift of `{batch_id}`: {drift.n_drifted} of {len(drift.columns)} features "
            f"alarm ({drift.drift_share:.0%}, threshold {drift.share_threshold:.0%})",
            "",
            f"Verdicts by the {drift.engine} engine on {drift.n_current:,} current vs "
            f"{drift.n_reference:,} reference rows.{sample} "
            f"[Evidently report in MLflow]({link})",
            "",
            f"{control}{notes}",
            "| column | kind | method | score | threshold | own test | effect | p (two-sample) "
            "| adjusted p | verdict |",
            "|---|---|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    )


def monitor_artifacts(checked: Checked, ui_base: str, experiment_id: str) -> list[Artifact]:
    """What a checked file shows in the Prefect UI.

    The ``monitor-decision`` table; the ``retraining-effectiveness`` note when the champion
    lineage recovers less, ever sooner; and, when drift was measured, the link to the Evidently
    report logged to MLflow (``drift-report``) and the ``drift-summary`` of every column.
    """
    file, drift = checked.file, checked.file.drift
    shown = [
        Artifact(
            "monitor-decision",
            f"monitor of {file.batch}",
            table=decision_rows(
                file.batch, file.kind, file.rows, checked.validation, drift, file.decision
            ),
        )
    ]
    if checked.effectiveness is not None and checked.effectiveness.alarm:
        shown.append(
            Artifact(
                "retraining-effectiveness",
                "the champion lineage recovers less, ever sooner",
                markdown=f"## Retraining effectiveness\n\n{checked.effectiveness.message}\n",
            )
        )
    if drift is None or checked.drift_run is None or checked.drift_html is None:
        return shown
    link = (
        f"{ui_base}/#/experiments/{experiment_id}/runs/{checked.drift_run}"
        f"/artifacts/drift/{checked.drift_html.name}"
    )
    return [
        *shown,
        Artifact(
            "drift-report",
            f"Evidently HTML report logged to MLflow run {checked.drift_run}; "
            f"local copy {checked.drift_html}",
            link=link,
            link_text=f"Evidently drift report of {file.batch} (MLflow)",
        ),
        Artifact(
            "drift-summary",
            f"drift of {file.batch}",
            markdown=drift_markdown(file.batch, drift, link),
        ),
    ]
