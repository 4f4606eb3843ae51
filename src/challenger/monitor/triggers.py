"""The retraining trigger: a pure policy from what the monitor saw to a decision with reasons.

Five triggers start a retrain, all configured under ``triggers`` in ``challenger.yaml``:

* *interval*: the schedule itself (the ``retrain/on-schedule`` deployment runs with
  ``reason=interval``); the policy only records it.
* *manual*: a person pressed "Run" (``retrain/manual`` or ``challenger retrain``); always
  retrains.
* *data change*: the share of features whose drift *alarms* reached
  ``data_change.drift_share`` (alarms carry a stated error rate across columns, see
  ``challenger.monitor.drift.control``), the batch's schema changed
  (``data_change.schema_change``), or at least ``data_change.new_labelled_rows`` labelled
  rows arrived since the champion was trained.
* *performance*: the champion's primary metric on recent labelled windows of
  ``performance.window_rows`` rows fell below ``performance.floor`` or below its own
  holdout value by more than ``performance.margin`` in at least ``breaches`` (k) of the last
  ``windows`` (n) windows; or a metric watched besides it (``performance.also_watch``, by
  default the Brier score for classification) rose above its holdout value by more than its
  own margin in k of n windows. One noisy window does not retrain; a sustained drop does.
* *concept*: a sequential change detector on the champion's per-row errors
  (``concept``, river's ADWIN by default) saw the errors rise as labels arrived: the
  labelling rule moved although the inputs may not have.

A cooldown (``cooldown.batches`` accepted batches, ``cooldown.minutes`` minutes after the
newest version) ignores the data-change, performance and concept triggers, so a drifted
stream does not start a retrain storm; manual and interval retrains are never held back.
The decision carries every reason and its evidence: the monitor sends both with the retrain
request, and the retrain records them with the new version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from challenger.config import PerformanceTriggerConfig, TriggersConfig

if TYPE_CHECKING:
    from challenger.monitor.concept import ConceptResult

__all__ = [
    "FORCED",
    "PerformanceObservation",
    "TriggerDecision",
    "TriggerName",
    "decide_retrain",
    "window_breach",
]

TriggerName = Literal[
    "bootstrap", "manual", "interval", "data_change", "performance", "concept", "none"
]
FORCED = ("manual", "interval")
_SHOWN_COLUMNS = 6


@dataclass(frozen=True)
class PerformanceObservation:
    """The champion's metric on one window of labelled rows.

    Attributes:
        metric: Metric name, e.g. ``roc_auc``.
        value: The champion's metric on the window.
        reference: The champion's holdout value, when known.
        n_rows: Labelled rows in the window.
        higher_is_better: Whether larger values of the metric are better.
        window: A label for people, e.g. the batches or times the window spans.
        margin: For a metric watched besides the primary one: its own margin (and no
            floor). None for the primary metric (the policy's margin and floor apply).
    """

    metric: str
    value: float
    reference: float | None
    n_rows: int
    higher_is_better: bool = True
    window: str = ""
    margin: float | None = None


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


def window_breach(window: PerformanceObservation, policy: PerformanceTriggerConfig) -> str | None:
    """Why one window breaches the performance policy, or None if it does not.

    A window breaches when the champion's metric is worse than ``policy.floor`` or worse
    than its holdout value by more than ``policy.margin`` ("worse" respects the metric's
    direction: a higher log loss is worse). A watched metric uses its own margin and no
    floor.
    """
    sign = 1.0 if window.higher_is_better else -1.0
    margin = policy.margin if window.margin is None else window.margin
    if (
        window.margin is None
        and policy.floor is not None
        and sign * (window.value - policy.floor) < 0
    ):
        return f"{window.value:.4f} is below the floor {policy.floor:g}"
    if window.reference is not None and sign * (window.reference - window.value) > margin:
        worse = "below" if window.higher_is_better else "above"
        return (
            f"{window.value:.4f} is more than {margin:g} {worse} the holdout value "
            f"{window.reference:.4f}"
        )
    return None


def decide_retrain(
    *,
    policy: TriggersConfig,
    has_champion: bool,
    drift_share: float | None,
    drifted_columns: tuple[str, ...] = (),
    drift_control: Mapping[str, Any] | None = None,
    drift_notes: Sequence[str] = (),
    performance: PerformanceObservation | None = None,
    performance_windows: Sequence[PerformanceObservation] = (),
    schema_changes: Sequence[str] = (),
    new_labelled_rows: int | None = None,
    requested: str | None = None,
    batches_since_retrain: int | None = None,
    minutes_since_retrain: float | None = None,
    concept: ConceptResult | None = None,
) -> TriggerDecision:
    """Decide whether a monitored batch starts a retrain.

    Args:
        policy: The ``triggers`` section of the configuration.
        has_champion: False before the first model exists (then any valid batch trains one).
        drift_share: Share of feature columns whose drift alarms (None when drift was not
            measured).
        drifted_columns: Their names, for the record.
        drift_control: How the alarms were decided and the error rate they carry
            (``AlarmControl.to_dict()``), for the record.
        drift_notes: Columns compared after a change of value kind, one sentence each.
        performance: The champion on the batch's own labels: one window, used when
            ``performance_windows`` is empty.
        performance_windows: The champion on recent labelled windows, oldest first, per
            metric (the primary metric first, then the watched ones); the last
            ``policy.performance.windows`` of each metric count.
        schema_changes: How the batch's schema differs from the champion's training data,
            one sentence each.
        new_labelled_rows: Labelled rows that arrived since the champion's training window.
        requested: ``manual`` or ``interval`` when the run itself was started to retrain.
        batches_since_retrain: Accepted batches since the champion's training window
            (None: unknown, no batch cooldown).
        minutes_since_retrain: Minutes since the newest model version was registered
            (None: unknown, no time cooldown).
        concept: The change detector on the champion's errors, when labels arrived.

    Returns:
        The decision: the first trigger that fired, every reason and the evidence.
    """
    evidence: dict[str, Any] = {}
    if not has_champion:
        return TriggerDecision(
            True, "bootstrap", ("no champion exists yet: train the first model",), evidence
        )

    fired: list[tuple[TriggerName, str]] = []
    if requested in FORCED:
        fired.append((requested, f"{requested} retrain requested"))  # type: ignore[arg-type]

    watched: list[tuple[TriggerName, str]] = []
    quiet: list[str] = []
    data = policy.data_change
    if drift_share is not None:
        evidence["drift_share"] = round(drift_share, 4)
        evidence["drift_share_threshold"] = data.drift_share
        evidence["drifted_columns"] = list(drifted_columns)
        if drift_control is not None:
            evidence["drift_control"] = dict(drift_control)
        if drift_notes:
            evidence["drift_notes"] = list(drift_notes)
        if drift_share >= data.drift_share:
            shown = ", ".join(drifted_columns[:_SHOWN_COLUMNS])
            shown += " …" if len(drifted_columns) > _SHOWN_COLUMNS else ""
            watched.append(
                (
                    "data_change",
                    f"{drift_share:.0%} of features drifted "
                    f"(threshold {data.drift_share:.0%}): {shown}"
                    + (
                        f" ({drift_control['error']} {drift_control['rate']:.0%})"
                        if drift_control and drift_control.get("method") != "none"
                        else ""
                    ),
                )
            )
        else:
            quiet.append(f"drift share {drift_share:.0%} < {data.drift_share:.0%}")
    if schema_changes:
        evidence["schema_changes"] = list(schema_changes)
        if data.schema_change:
            watched.append(("data_change", "the schema changed: " + "; ".join(schema_changes)))
        else:
            quiet.append("schema changes ignored (data_change.schema_change is off)")
    if new_labelled_rows is not None:
        evidence["new_labelled_rows"] = new_labelled_rows
        limit = data.new_labelled_rows
        if limit is not None:
            evidence["new_labelled_rows_threshold"] = limit
            if new_labelled_rows >= limit:
                watched.append(
                    (
                        "data_change",
                        f"{new_labelled_rows} labelled rows arrived since the champion was "
                        f"trained (threshold {limit})",
                    )
                )
            else:
                quiet.append(f"{new_labelled_rows} new labelled rows < {limit}")

    windows = list(performance_windows) or ([performance] if performance is not None else [])
    by_metric: dict[str, list[PerformanceObservation]] = {}
    for w in windows:
        by_metric.setdefault(w.metric, []).append(w)
    for i, (metric, group) in enumerate(by_metric.items()):
        found: dict[str, Any] = {}
        fired_perf, note = _performance(group, policy.performance, found)
        if i == 0:
            evidence.update(found)
        else:
            evidence.setdefault("performance_watched", {})[metric] = found["performance"]
        if fired_perf is not None:
            watched.append(("performance", fired_perf))
        else:
            quiet.append(note)

    if concept is not None:
        evidence["concept"] = concept.to_dict()
        if concept.alarm:
            watched.append(("concept", concept.reason()))
        else:
            quiet.append(concept.reason())

    cooling = _cooldown(policy, batches_since_retrain, minutes_since_retrain)
    if watched and cooling:
        evidence["cooldown"] = cooling
        held = [(t, f"{r} — ignored during cooldown ({cooling})") for t, r in watched]
        reasons = tuple(r for _, r in fired + held)
        if not fired:
            return TriggerDecision(False, "none", reasons, evidence)
        return TriggerDecision(True, fired[0][0], reasons, evidence)

    fired.extend(watched)
    if not fired:
        reason = "no trigger fired: " + "; ".join(quiet) if quiet else "no trigger fired"
        return TriggerDecision(False, "none", (reason,), evidence)
    return TriggerDecision(True, fired[0][0], tuple(r for _, r in fired), evidence)


def _performance(
    windows: Sequence[PerformanceObservation],
    policy: PerformanceTriggerConfig,
    evidence: dict[str, Any],
) -> tuple[str | None, str]:
    """Apply k-of-n to the newest windows; returns (reason if fired, note if not)."""
    recent = list(windows)[-policy.windows :]
    breaches = [window_breach(w, policy) for w in recent]
    n_breached = sum(b is not None for b in breaches)
    first = recent[0]
    margin = policy.margin if first.margin is None else first.margin
    floor = policy.floor if first.margin is None else None
    evidence["performance"] = {
        "metric": first.metric,
        "reference": None if first.reference is None else round(first.reference, 4),
        "floor": floor,
        "margin": margin,
        "k": policy.breaches,
        "n": policy.windows,
        "breached": n_breached,
        "windows": [
            {
                "window": w.window,
                "rows": w.n_rows,
                "value": round(w.value, 4),
                "breach": b,
            }
            for w, b in zip(recent, breaches, strict=True)
        ],
    }
    # The latest value keeps the shape older tooling reads (metric, value, rows).
    evidence["performance"].update(value=round(recent[-1].value, 4), rows=recent[-1].n_rows)
    values = ", ".join(f"{w.value:.4f}" for w in recent)
    if n_breached >= policy.breaches:
        against = [] if first.reference is None else [f"holdout {first.reference:.4f}"]
        if floor is not None:
            against.append(f"floor {floor:g}")
        return (
            f"champion {first.metric} breached in {n_breached} of the last {len(recent)} "
            f"windows of labelled rows (k={policy.breaches} of n={policy.windows}): "
            f"{values} against {', '.join(against) or 'no reference'} "
            f"with margin {margin:g}",
            "",
        )
    unknown = (
        "; the champion has no holdout value to compare with"
        if first.reference is None and floor is None
        else ""
    )
    return None, (
        f"champion {first.metric} breached in {n_breached} of {len(recent)} window(s) "
        f"({values}); {policy.breaches} of {policy.windows} needed{unknown}"
    )


def _cooldown(
    policy: TriggersConfig, batches_since: int | None, minutes_since: float | None
) -> str | None:
    """Why data and performance triggers are held back now, or None."""
    cool = policy.cooldown
    parts = []
    if batches_since is not None and batches_since <= cool.batches:
        parts.append(
            f"{batches_since} batch(es) since the last retrain; cooldown is {cool.batches}"
        )
    if minutes_since is not None and cool.minutes > 0 and minutes_since < cool.minutes:
        parts.append(
            f"{minutes_since:.0f} minute(s) since the last retrain; cooldown is {cool.minutes:g}"
        )
    return "; ".join(parts) or None


EVENTS = {
    "data_change": "challenger.drift.detected",
    "performance": "challenger.performance.degraded",
    "concept": "challenger.performance.degraded",  # the champion's errors rose
}
"""The event each trigger emits for the ``retrain/on-trigger`` deployment (prefect.yaml)."""
REQUESTED_EVENT = "challenger.retrain.requested"
"""The event of every other trigger (manual, interval, first model)."""


@dataclass(frozen=True)
class RetrainEvent:
    """The event that asks the ``retrain/on-trigger`` deployment for a retrain."""

    event: str
    resource: dict[str, str]
    payload: dict[str, Any]


def retrain_event(
    decision: TriggerDecision, model: str, batches: Sequence[str], config: str | None
) -> RetrainEvent:
    """The event for a decision to retrain ``model``, with the trigger and its evidence."""
    return RetrainEvent(
        event=EVENTS.get(decision.trigger, REQUESTED_EVENT),
        resource={
            "prefect.resource.id": f"challenger.model.{model}",
            "prefect.resource.name": model,
        },
        payload={
            "trigger": decision.trigger,
            "evidence": decision.to_dict(),
            "batches": list(batches),
            "config": config,
        },
    )
