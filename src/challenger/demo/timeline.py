"""The demo timeline: a simulated production stream driven through the real flows.

Each period writes one day's batch where a real pipeline would drop it and runs the
``monitor`` flow on it (which starts ``retrain`` when a trigger fires); the last period
also presses "Run" on a manual retrain with a cheaper candidate, which the gate refuses.
The flows are passed in (the command line gives ``flows.monitor.monitor_flow`` and
``flows.retrain.retrain_flow``): the library does not import Prefect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from challenger.config import Settings
from challenger.demo.simulator import CorruptionKind, Period, corrupt, simulate_batch
from challenger.errors import BatchQuarantined
from challenger.results import MonitorResult, RetrainResult
from challenger.store.batches import write_table


@dataclass(frozen=True)
class Step:
    """One period of the demo."""

    day: int
    story: str
    period: Period = field(default_factory=Period)
    corruption: CorruptionKind | None = None
    manual_candidates: tuple[str, ...] = ()


TIMELINE = (
    Step(0, "first batch: no champion yet, so the first model is trained"),
    Step(1, "quiet day: same population, same risk"),
    Step(2, "quiet day: same population, same risk"),
    Step(3, "a partner channel floods in and the risk model changes", Period(1.0, 1.0)),
    Step(
        4,
        "an upstream bug writes -999 into credit_score",
        Period(1.0, 1.0),
        corruption="out_of_range",
    ),
    Step(
        5,
        "quiet day in the new regime; then an engineer tries a cheaper model",
        Period(1.0, 1.0),
        manual_candidates=("shallow_tree",),
    ),
)


def _row(step: Step, event: str, result: RetrainResult | None, note: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "day": step.day,
        "story": step.story,
        "event": event,
        "note": note,
        "decision": None,
        "challenger": None,
        "champion": None,
    }
    if result is not None:
        row.update(
            decision=result.decision.outcome.value,
            challenger=result.challenger_version,
            champion=result.champion_after,
            reason=result.decision.reason,
        )
    return row


def run_demo(
    settings: Settings,
    config: str | None,
    monitor: Callable[..., Any],
    retrain: Callable[..., RetrainResult],
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run the timeline; returns one summary row per event (and calls ``on_step`` with each).

    Args:
        settings: The loaded configuration.
        config: The path it was loaded from (passed on to the flows).
        monitor: The monitor flow (``monitor_flow(batch=..., config=...)``).
        retrain: The retrain flow.
        on_step: Called with each summary row as it happens.
    """
    incoming = settings.path(settings.data.incoming_dir)
    rows: list[dict[str, Any]] = []

    def emit(row: dict[str, Any]) -> None:
        rows.append(row)
        if on_step is not None:
            on_step(row)

    for step in TIMELINE:
        frame = simulate_batch(
            step.day,
            settings.simulator.rows_per_batch,
            settings.project.seed,
            step.period,
            target=settings.data.target,
            timestamp=settings.data.timestamp or "ts",
            id_column=settings.data.id_column or "application_id",
            label_noise=settings.simulator.label_noise,
        )
        if step.corruption is not None:
            frame = corrupt(frame, step.corruption, seed=settings.project.seed + step.day)
        path = write_table(frame, incoming / f"day-{step.day:03d}.parquet")
        try:
            out: MonitorResult = monitor(batch=str(path), config=config)
        except BatchQuarantined as exc:
            emit(_row(step, "quarantined", None, str(exc)))
            continue
        trig, drift = out.file.decision, out.file.drift
        note = "; ".join(trig.reasons)
        if drift is not None:
            note = f"drift share {drift.drift_share:.0%}. " + note
        emit(
            _row(
                step,
                f"monitor → {trig.trigger}" if trig.retrain else "monitor → no retrain",
                out.retrain,
                note,
            )
        )
        if step.manual_candidates:
            result = retrain(
                reason="manual",
                candidates=list(step.manual_candidates),
                config=config,
                trigger_evidence={
                    "reasons": [f"manual retrain of {', '.join(step.manual_candidates)}"]
                },
            )
            emit(
                _row(
                    step,
                    "manual retrain",
                    result,
                    f"candidates: {', '.join(step.manual_candidates)}",
                )
            )
    shadow = batch_shadow_day(settings, len(TIMELINE))
    if shadow is not None:
        emit(shadow)
    return rows


def batch_shadow_day(settings: Settings, day: int) -> dict[str, Any] | None:
    """The demo's batch shadow: the newest version that is not the champion scores one more
    day's batch beside the champion (``rollout.shadow.batch``), the day's labels arrive, and
    the online review judges it on those rows with the gate's statistics.

    Returns the summary row, or None when there is no version to shadow.
    """
    from challenger.demo.reset import DEMO_BATCH
    from challenger.online.batch_shadow import shadow_accepted
    from challenger.online.review import review, store_for, with_overrides
    from challenger.store.registry import Registry

    registry = Registry.from_settings(settings)
    champion = registry.champion()
    others = [v.version for v in registry.versions() if champion and v.version != champion.version]
    if champion is None or not others:
        return None
    shadow = max(others)
    settings = with_overrides(
        settings,
        {"rollout": {"strategy": "champion", "shadow": {"batch": True, "models": [str(shadow)]}}},
    )
    frame = simulate_batch(
        day,
        settings.simulator.rows_per_batch,
        settings.project.seed,
        Period(1.0, 1.0),
        target=settings.data.target,
        timestamp=settings.data.timestamp or "ts",
        id_column=settings.data.id_column or "application_id",
        label_noise=settings.simulator.label_noise,
    )
    model = registry.load_model(champion.version)
    out = shadow_accepted(
        settings, registry, f"{DEMO_BATCH}day-{day:03d}", frame, (champion.version, model)
    )
    judged = review(settings, registry, store_for(settings))
    verdict = next((r for r in judged.shadows if r["version"] == shadow), None)
    step = Step(
        day, f"batch shadow: v{shadow} scores the day's batch beside champion v{champion.version}"
    )
    row = _row(step, "batch shadow", None, f"{len(frame)} rows, labels arrived with the batch")
    if verdict is None or "action" not in verdict:
        return {**row, "note": f"{row['note']}; nothing to judge yet"}
    errors = f"; shadow errors: {out.shadow_errors}" if out.shadow_errors else ""
    return {
        **row,
        "decision": verdict["action"],
        "challenger": shadow,
        "champion": champion.version,
        "reason": verdict["reason"],
        "note": row["note"] + errors,
    }
