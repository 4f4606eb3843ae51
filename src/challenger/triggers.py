"""The retraining trigger: a pure policy from what the monitor saw to a decision with reasons.

Four triggers start a retrain: *interval* (a schedule), *manual* (a person pressed Run),
*data change* (drift share above a threshold) and *performance* (the champion's metric
on newly labelled rows fell below a floor or below its own holdout value by a margin).
A cooldown ignores data triggers for a few batches after a retrain, to stop a storm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from challenger.config import TriggersConfig

TriggerName = Literal["bootstrap", "manual", "interval", "data_change", "performance", "none"]
FORCED = ("manual", "interval")


@dataclass(frozen=True)
class PerformanceObservation:
    """The champion's primary metric on a labelled batch, beside its holdout value."""

    metric: str
    value: float
    reference: float | None
    n_rows: int
    higher_is_better: bool = True


@dataclass(frozen=True)
class TriggerDecision:
    """Whether to retrain, which trigger fired first, and every reason that applies."""

    retrain: bool
    trigger: TriggerName
    reasons: tuple[str, ...]
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (travels into the retrain run and the version's tags)."""
        return {
            "retrain": self.retrain,
            "trigger": self.trigger,
            "reasons": list(self.reasons),
            "evidence": self.evidence,
        }


def decide_retrain(
    *,
    policy: TriggersConfig,
    has_champion: bool,
    drift_share: float | None,
    drifted_columns: tuple[str, ...] = (),
    performance: PerformanceObservation | None = None,
    requested: str | None = None,
    batches_since_retrain: int | None = None,
) -> TriggerDecision:
    """Decide whether a monitored batch starts a retrain.

    Args:
        policy: The ``triggers`` section of the configuration.
        has_champion: False before the first model exists (then any valid batch trains one).
        drift_share: Share of drifted feature columns (None when drift was not measured).
        drifted_columns: Their names, for the record.
        performance: The champion on the batch's labels, when it has labels.
        requested: ``manual`` or ``interval`` when the run itself was started to retrain.
        batches_since_retrain: Accepted batches since the champion's training window
            (None: unknown, no cooldown).
    """
    evidence: dict[str, Any] = {}
    if not has_champion:
        return TriggerDecision(
            True, "bootstrap", ("no champion exists yet: train the first model",), evidence
        )

    fired: list[tuple[TriggerName, str]] = []
    if requested in FORCED:
        fired.append((requested, f"{requested} retrain requested"))  # type: ignore[arg-type]

    data_fired: list[tuple[TriggerName, str]] = []
    if drift_share is not None:
        evidence["drift_share"] = round(drift_share, 4)
        evidence["drifted_columns"] = list(drifted_columns)
        if drift_share >= policy.drift_share:
            shown = ", ".join(drifted_columns[:6]) + (" …" if len(drifted_columns) > 6 else "")
            data_fired.append(
                (
                    "data_change",
                    f"{drift_share:.0%} of features drifted (threshold {policy.drift_share:.0%}): {shown}",
                )
            )
    if performance is not None:
        perf = performance
        evidence["performance"] = {
            "metric": perf.metric,
            "value": round(perf.value, 4),
            "reference": None if perf.reference is None else round(perf.reference, 4),
            "rows": perf.n_rows,
        }
        sign = 1.0 if perf.higher_is_better else -1.0
        if (
            policy.performance_floor is not None
            and sign * (perf.value - policy.performance_floor) < 0
        ):
            data_fired.append(
                (
                    "performance",
                    f"champion {perf.metric} {perf.value:.4f} on {perf.n_rows} new labelled rows is below the floor {policy.performance_floor:g}",
                )
            )
        elif (
            perf.reference is not None
            and sign * (perf.reference - perf.value) > policy.performance_margin
        ):
            data_fired.append(
                (
                    "performance",
                    f"champion {perf.metric} fell from {perf.reference:.4f} (holdout) to {perf.value:.4f} on {perf.n_rows} new labelled rows, more than the margin {policy.performance_margin:g}",
                )
            )

    if (
        data_fired
        and batches_since_retrain is not None
        and batches_since_retrain <= policy.cooldown_batches
    ):
        evidence["cooldown"] = (
            f"{batches_since_retrain} batch(es) since the last retrain; cooldown is {policy.cooldown_batches}"
        )
        data_fired = [(t, f"{r} — ignored during cooldown") for t, r in data_fired]
        reasons = tuple(r for _, r in fired + data_fired)
        if not fired:
            return TriggerDecision(False, "none", reasons, evidence)
        return TriggerDecision(True, fired[0][0], reasons, evidence)

    fired.extend(data_fired)
    if not fired:
        parts = []
        if drift_share is not None:
            parts.append(f"drift share {drift_share:.0%} < {policy.drift_share:.0%}")
        if performance is not None:
            parts.append(f"champion {performance.metric} {performance.value:.4f} within margin")
        return TriggerDecision(
            False,
            "none",
            (("no trigger fired: " + "; ".join(parts)) if parts else "no trigger fired",),
            evidence,
        )
    return TriggerDecision(True, fired[0][0], tuple(r for _, r in fired), evidence)
