"""Human control: promote a named version through the gate (or force it), or roll back.

Thin orchestration only: the gate, the registry writes and the record are shared with the
retrain flow (``flows.judge``).
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from challenger.config import load_config
from challenger.errors import ChallengerError
from challenger.gate import report as reports
from challenger.store.registry import TAG, Registry
from challenger.store.tracking import Tracking
from challenger.train.window import labelled_rows, time_split
from flows.judge import holdout_newer_check, judge_and_act, load_window, record


@flow(name="promote", log_prints=False)
def promote_flow(
    version: int,
    force: bool = False,
    reason: str | None = None,
    data: str | None = None,
    config: str | None = None,
) -> dict[str, Any]:
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
    d = settings.data
    registry = Registry.from_settings(settings)
    tracking = Tracking.from_settings(settings)
    registry.reconcile_stages()
    try:
        target = registry.version(version)
    except Exception as exc:
        raise ChallengerError(
            f"model {settings.project.model_name!r} has no version {version}"
        ) from exc
    champion = registry.champion()
    if champion is not None and champion.version == version:
        raise ChallengerError(
            f"v{version} is already the champion of {settings.project.model_name!r}"
        )
    frame, batches = load_window(settings, data)
    frame = labelled_rows(frame, d.target)
    _, holdout = time_split(
        frame, settings.training.holdout_fraction, d.timestamp, settings.project.seed
    )
    base_checks = (
        holdout_newer_check(target.tags.get(f"{TAG}train_max_ts"), holdout, d.timestamp),
    )
    trigger = "manual_promotion" + (" (forced)" if force else "")
    with tracking.start_run(f"promote-v{version}", tags={f"{TAG}trigger": trigger}) as run_id:
        registry.mark_challenger(version)
        verdict, promoted_from = judge_and_act(
            settings,
            registry,
            registry.version(version),
            champion,
            holdout,
            base_checks,
            run_id,
            force_reason=reason if force else None,
        )
        decision = verdict.decision
        card = reports.model_card(
            model_name=settings.project.model_name,
            version=version,
            cv=None,
            all_cv=(),
            trigger=trigger,
            trigger_reasons=[reason] if reason else [],
            evidence=verdict.evidence,
            decision=decision,
            fingerprint=target.tags.get(f"{TAG}data_fingerprint", "unknown"),
            n_train=0,
        )
        if target.description:
            card += "\n\n---\n**Earlier record of this version:**\n\n" + target.description[:1500]
        champion_before = verdict.champion.version if verdict.champion else None
        result: dict[str, Any] = {
            "model_name": settings.project.model_name,
            "trigger": trigger,
            "run_id": run_id,
            "holdout_batches": batches,
            "challenger_version": version,
            "champion_before": champion_before,
            "champion_after": version if decision.promotes else champion_before,
            "promoted": decision.promotes,
            "forced": force,
            "previous_champion": promoted_from,
            "decision": decision.to_dict(),
            "evidence": verdict.evidence.to_dict(),
        }
        if force:
            registry.tag_version(version, {f"{TAG}gate_override": (reason or "")[:500]})
        record(settings, registry, tracking, registry.version(version), verdict, card, result)
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
) -> dict[str, Any]:
    """Move ``champion`` back to ``previous-champion`` (or to ``to``), mirror stages, record why."""
    log = get_run_logger()
    settings = load_config(config)
    registry = Registry.from_settings(settings)
    tracking = Tracking.from_settings(settings)
    with tracking.start_run("rollback", tags={f"{TAG}kind": "rollback"}) as run_id:
        was, now = registry.rollback(to, reason, run_id=run_id)
        registry.tag_version(now, {f"{TAG}restored_by_rollback": reason[:500]})
        registry.tag_version(was, {f"{TAG}rolled_back": reason[:500]})
        result = {
            "model_name": settings.project.model_name,
            "from": was,
            "to": now,
            "reason": reason,
            "run_id": run_id,
            "history": registry.history(),
        }
        tracking.log_dict(result, "rollback.json")
    create_markdown_artifact(
        f"## Rollback of {settings.project.model_name}\n\nchampion v{was} → **v{now}**\n\nWhy: {reason}",
        key="rollback",
        description=f"v{was} -> v{now}",
    )
    log.info(
        "Rolled back %s: champion v%d → v%d (%s)", settings.project.model_name, was, now, reason
    )
    return result
