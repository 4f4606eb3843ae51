"""Human control: promote a named version through the gate (or force it), or roll back.

Orchestration only: the judgement, the move of ``champion`` and the record are the same
library calls the retrain flow makes (``challenger.gate``).
"""

from __future__ import annotations

import numpy as np
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from challenger.config import load_config
from challenger.gate.judge import JudgeSettings, Provenance, holdout_newer_check
from challenger.gate.manual import Request
from challenger.gate.promotion import promote_if_better, rollback
from challenger.gate.publish import publish
from challenger.ops.service import mlflow_ui_base
from challenger.results import PromotionResult, RollbackResult
from challenger.store.record import TAG, VersionRecord
from challenger.store.registry import VersionInfo
from challenger.train.window import holdout_of
from flows.common import (
    claim_flow_run,
    freeze_heap,
    gate_artifacts,
    judge_task,
    promotion_lock,
    repair_at_start,
    stores,
)


@flow(name="promote", log_prints=False)
def promote_flow(
    version: int,
    force: bool = False,
    reason: str | None = None,
    data: str | None = None,
    config: str | None = None,
) -> PromotionResult:
    """Judge a registered version against the champion on the newest holdout; promote if it passes.

    Args:
        version: The registered version to promote.
        force: Promote even if the gate refuses (an override, recorded with ``reason``).
        reason: Why a person asks for this; required with ``force``.
        data: Judge on the newest rows of this file instead of the newest accepted batches.
        config: Path to challenger.yaml.
    """
    freeze_heap()
    log = get_run_logger()
    settings = load_config(config)
    asked = Request(settings.project.model_name, version, force, reason)
    registry, tracking = stores(settings)
    repaired = repair_at_start(settings, registry, tracking)
    if repaired:
        log.warning("Repaired what an interrupted run left: %s", "; ".join(repaired))
    target, champion = asked.versions(registry)

    def training_rows(v: VersionInfo) -> np.ndarray | None:
        return tracking.load_training_rows(v.run_id)

    seen = {v.version: training_rows(v) for v in (target, champion) if v is not None}
    holdout, batches, draw = holdout_of(settings, data, seen)
    checks = (holdout_newer_check(target.record.train_max_ts, holdout, settings.data.timestamp),)
    with tracking.start_run(f"promote-v{version}", tags={f"{TAG}trigger": asked.trigger}) as run_id:
        registry.mark_challenger(version)
        verdict, promoted_from = promote_if_better(
            JudgeSettings.from_settings(settings), registry, promotion_lock(settings),
            registry.version(version), champion, holdout, checks, run_id,
            Provenance(draw, training_rows), force_reason=asked.force_reason, judge_with=judge_task,
        )  # fmt: skip
        result = asked.result(run_id, verdict, promoted_from, batches)
        if force:
            registry.update_record(version, VersionRecord(gate_override=reason or ""))
        as_json = result.to_dict()
        text = publish(
            asked.model_name, settings.gate, registry, tracking, version, verdict,
            asked.card(target, verdict), as_json, ui_base=mlflow_ui_base(settings),
        )  # fmt: skip
    gate_artifacts(asked.model_name, version, as_json, text)
    decision = verdict.decision
    log.info(
        "Promotion of v%d: %s → %s. %s",
        version, decision.outcome.value, decision.action, decision.reason,
    )  # fmt: skip
    return result


@flow(name="rollback", log_prints=False)
def rollback_flow(
    to: int | None = None, reason: str = "manual rollback", config: str | None = None
) -> RollbackResult:
    """Move ``champion`` back to ``previous-champion`` (or to ``to``), mirror stages, record why."""
    freeze_heap()
    log = get_run_logger()
    settings = load_config(config)
    name = settings.project.model_name
    registry, tracking = stores(settings)
    claim_flow_run()
    with tracking.start_run("rollback", tags={f"{TAG}kind": "rollback"}) as run_id:
        was, now = rollback(registry, promotion_lock(settings), to, reason, run_id=run_id)
        result = RollbackResult(name, was, now, reason, run_id, tuple(registry.history()))
        tracking.log_dict(result.to_dict(), "rollback.json")
    create_markdown_artifact(
        f"## Rollback of {name}\n\nchampion v{was} → **v{now}**\n\nWhy: {reason}",
        key="rollback",
        description=f"v{was} -> v{now}",
    )
    log.info("Rolled back %s: champion v%d → v%d (%s)", name, was, now, reason)
    return result
