"""The monitor flow: validate a batch, measure drift, decide whether to retrain.

Thin orchestration only: every computation is a call into ``challenger``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from challenger.config import load_config
from challenger.data import accept_batch, accepted_batches, read_table
from challenger.drift import measure_drift
from challenger.errors import BatchQuarantined
from challenger.monitoring import batch_schema, champion_performance
from challenger.registry import TAG, Registry
from challenger.triggers import decide_retrain
from challenger.validation import quarantine, validate_batch
from flows.retrain import retrain_flow


@flow(name="monitor", log_prints=False)
def monitor_flow(
    batch: str,
    reason: str = "scheduled",
    config: str | None = None,
    retrain: bool = True,
) -> dict[str, Any]:
    """Validate a batch, measure drift against the champion's training data, maybe retrain.

    Args:
        batch: Path of the CSV/Parquet batch to check.
        reason: Why the monitor runs: ``scheduled`` (interval), or ``manual`` to force a retrain.
        config: Path to challenger.yaml.
        retrain: Start the retrain flow when a trigger fires (False: only report).

    Raises:
        BatchQuarantined: The batch failed validation; it was moved to quarantine with its report.
    """
    log = get_run_logger()
    settings = load_config(config)
    d = settings.data
    path = Path(batch)
    frame = read_table(path)
    registry = Registry.from_settings(settings)
    champion = registry.champion()
    reference = registry.load_reference(champion) if champion else None

    validation = validate_batch(frame, batch_schema(settings, reference))
    if not validation.success:
        where = quarantine(path, validation, settings.path(d.quarantine_dir))
        create_markdown_artifact(
            f"## Batch `{path.name}` quarantined\n\n```\n{validation.summary()}\n```\n\nReport: `{where}`",
            key="quarantine",
            description=f"{path.name} failed validation",
        )
        raise BatchQuarantined(
            f"batch {path.name} failed validation and was moved to {where} with its report: {validation.summary()}",
            str(where),
        )
    batch_id = path.stem
    accept_batch(frame, batch_id, settings.path(d.accepted_dir))
    log.info(
        "Batch %s passed %d expectations on %d rows",
        batch_id,
        validation.n_expectations,
        validation.n_rows,
    )

    drift = None
    performance = None
    batches_since: int | None = None
    if champion is not None and reference is not None:
        html = settings.path(d.reports_dir) / f"{batch_id}-drift.html"
        html.parent.mkdir(parents=True, exist_ok=True)
        drift = measure_drift(
            reference,
            frame,
            numeric=d.numeric,
            categorical=d.categorical,
            share_threshold=settings.triggers.drift_share,
            method=settings.drift.method,
            threshold=settings.drift.threshold,
            per_column_method=settings.drift.per_column_method,
            max_rows=settings.drift.max_rows,
            seed=settings.project.seed,
            html_path=html,
        )
        log.info("Drift: %s", drift.summary())
        holdout_tag = champion.tags.get(f"{TAG}holdout_{settings.training.primary_metric}")
        perf_ref = float(holdout_tag) if holdout_tag else None
        performance = champion_performance(
            registry.load_model(champion.version), frame, settings, perf_ref
        )
        trained_on = champion.tags.get(f"{TAG}training_batches", "").split(",")
        names = [p.stem for p in accepted_batches(settings.path(d.accepted_dir))]
        if trained_on and trained_on[-1] in names:
            batches_since = len(names) - 1 - names.index(trained_on[-1])
        with registry.start_run(f"monitor-{batch_id}", tags={f"{TAG}kind": "monitor"}):
            registry.log_metrics({"drift_share": drift.drift_share, "rows": len(frame)})
            if performance is not None:
                registry.log_metrics({f"champion_{performance.metric}": performance.value})
            registry.log_dict(drift.to_dict(), "drift/drift.json")
            registry.log_file(html, "drift")

    decision = decide_retrain(
        policy=settings.triggers,
        has_champion=champion is not None,
        drift_share=drift.drift_share if drift else None,
        drifted_columns=drift.drifted_columns() if drift else (),
        performance=performance,
        requested=reason if reason in ("manual", "interval") else None,
        batches_since_retrain=batches_since,
    )
    log.info("Trigger: %s (%s)", decision.trigger, "; ".join(decision.reasons))
    create_table_artifact(
        [
            {"item": "batch", "value": batch_id},
            {"item": "rows", "value": validation.n_rows},
            {"item": "validation", "value": f"passed {validation.n_expectations} expectations"},
            {
                "item": "drift share",
                "value": "n/a" if drift is None else f"{drift.drift_share:.0%}",
            },
            {"item": "retrain", "value": f"{decision.retrain} ({decision.trigger})"},
            *[{"item": "reason", "value": r} for r in decision.reasons],
        ],
        key="monitor-decision",
        description=f"monitor of {batch_id}",
    )
    result: dict[str, Any] = {
        "batch": batch_id,
        "status": "accepted",
        "rows": validation.n_rows,
        "champion": champion.version if champion else None,
        "drift": drift.to_dict() if drift else None,
        "trigger": decision.to_dict(),
        "retrain": None,
    }
    if decision.retrain and retrain:
        result["retrain"] = retrain_flow(
            reason=decision.trigger, config=config, trigger_evidence=decision.to_dict()
        )
    return result
