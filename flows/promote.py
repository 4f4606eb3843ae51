"""Human control: promote a named version through the gate (or force it), or roll back.

Orchestration only: the judgement, the move of ``champion`` and the record are the same
library calls the retrain flow makes (``challenger.gate``).
"""

from __future__ import annotations

import numpy as np
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from challenger.config import load_config
from challenger.errors import ChallengerError
from challenger.gate import report
from challenger.gate.judge import JudgeSettings, Provenance, holdout_newer_check
from challenger.gate.promotion import promote_if_better, rollback
from challenger.gate.publish import publish
from challenger.ops.service import mlflow_ui_base
from challenger.results import PromotionResult, RollbackResult
from challenger.store.record import TAG, VersionRecord
from challenger.store.registry import VersionInfo
from challenger.train.window import holdout_of
from flows.common import (
    claim_flow_run,
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
    log = get_run_logger()
    if force and not (reason and reason.strip()):
        raise ChallengerError(
            "--force needs --reason: an override is recorded with the reason a person gave"
        )
    settings = load_config(config)
    name = settings.project.model_name
    registry, tracking = stores(settings)
    repaired = repair_at_start(settings, registry, tracking)
    if repaired:
        log.warning("Repaired what an interrupted run left: %s", "; ".join(repaired))
    try:
        target = registry.version(version)
    except Exception as exc:
        raise ChallengerError(f"model {name!r} has no version {version}") from exc
    champion = registry.champion()
    if champion is not None and champion.version == version:
        raise ChallengerError(f"v{version} is already the champion of {name!r}")

    def training_rows(v: VersionInfo) -> np.ndarray | None:
        return tracking.load_training_rows(v.run_id)

    seen = {v.version: training_rows(v) for v in (target, champion) if v is not None}
    holdout, batches, draw = holdout_of(settings, data, seen)
    earlier = target.record
    checks = (holdout_newer_check(earlier.train_max_ts, holdout, settings.data.timestamp),)
    trigger = "manual_promotion" + (" (forced)" if force else "")
    with tracking.start_run(f"promote-v{version}", tags={f"{TAG}trigger": trigger}) as run_id:
        registry.mark_challenger(version)
        verdict, promoted_from = promote_if_better(
            JudgeSettings.from_settings(settings), registry, promotion_lock(settings),
            registry.version(version), champion, holdout, checks, run_id,
            Provenance(draw, training_rows),
            force_reason=reason if force else None, judge_with=judge_task,
        )  # fmt: skip
        decision = verdict.decision
        card = report.promotion_card(
            model_name=name,
            version=version,
            trigger=trigger,
            reason=reason,
            evidence=verdict.evidence,
            decision=decision,
            fingerprint=earlier.data_fingerprint or "unknown",
            earlier=target.description,
        )
        result = PromotionResult(
            model_name=name, trigger=trigger, run_id=run_id, challenger_version=version,
            champion_before=verdict.champion.version if verdict.champion else None,
            decision=decision, evidence=verdict.evidence, previous_champion=promoted_from,
            holdout_batches=tuple(batches), forced=force,
        )  # fmt: skip
        if force:
            registry.tag_version(version, VersionRecord(gate_override=reason or "").to_tags())
        as_json = result.to_dict()
        text = publish(
            name, settings.gate, registry, tracking, version, verdict, card, as_json,
            ui_base=mlflow_ui_base(settings),
        )  # fmt: skip
    gate_artifacts(name, version, as_json, decision.outcome.value, text)
    log.info(
        "Promotion of v%d: %s → %s. %s",
        version,
        decision.outcome.value,
        decision.action,
        decision.reason,
    )
    return result


@flow(name="rollback", log_prints=False)
def rollback_flow(
    to: int | None = None, reason: str = "manual rollback", config: str | None = None
) -> RollbackResult:
    """Move ``champion`` back to ``previous-champion`` (or to ``to``), mirror stages, record why."""
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
