"""When retraining stops paying off: the champion lineage's recovered level and its pace.

A model family that keeps being retrained on fresh data recovers, after each promotion, to
some level of the primary metric (the new champion's value on the holdout it was promoted
on). While retraining pays off that level holds and the retrains come at a steady pace; when
the family no longer fits the world, each retrain recovers less and the next trigger comes
sooner. :func:`lineage` reads the promotions out of the registry's history and the versions'
records; :func:`assess_lineage` is the pure decision (``triggers.effectiveness``), and
:func:`lineage_plot` draws the lineage for the monitor's MLflow run.

Both signs must hold over the last ``window`` promotions before the alarm is raised: the
newest recovered level is worse than the lineage's best by more than ``level_drop`` of that
best *and* the Theil-Sen slope of the levels points the wrong way (one bad promotion is not a
trend), and the newest interval between triggered retrains is at most ``interval_ratio`` of
the first one in the window. Scheduled (interval) and manual retrains do not count as
intervals: their pace is the user's, not the data's.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from challenger.config import EffectivenessConfig
from challenger.metrics import info
from challenger.store.record import VersionRecord

PROMOTING = ("promote", "forced", "online-promote")
"""History moves that start a new champion of the lineage (a rollback restores an old one)."""
TRIGGERED = ("performance", "concept", "data_change")
"""Retrains the data asked for; their pace is what shortens when retraining stops paying off."""
ALARM = "retraining is losing effectiveness: consider a new model"


@dataclass(frozen=True)
class Promotion:
    """One promotion of the lineage: the version, when, why it was trained, what it recovered."""

    version: int
    at: datetime
    trigger: str | None
    recovered: float | None


@dataclass(frozen=True)
class Effectiveness:
    """The verdict on a lineage, with the evidence behind it."""

    alarm: bool
    message: str
    metric: str
    levels: tuple[float, ...] = ()
    intervals_hours: tuple[float, ...] = ()
    level_slope: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``challenger status --json``)."""
        return {
            "alarm": self.alarm,
            "message": self.message,
            "metric": self.metric,
            "levels": list(self.levels),
            "intervals_hours": list(self.intervals_hours),
            "level_slope": self.level_slope,
        }


def lineage(
    history: Sequence[Mapping[str, Any]], tags: Mapping[int, Mapping[str, str]], metric: str
) -> list[Promotion]:
    """The promotions of the champion lineage, oldest first, from the registry's history.

    Args:
        history: The registry's history entries (``Registry.history()``), oldest first.
        tags: Version -> its registry tags (the version record).
        metric: The primary metric whose holdout value is the recovered level.
    """
    out = []
    for entry in history:
        if entry.get("kind") not in PROMOTING or entry.get("status") != "done":
            continue
        version = entry.get("to")
        if not isinstance(version, int) or version not in tags:
            continue
        record = VersionRecord.from_tags(tags[version])
        at = datetime.fromisoformat(str(entry["at"]))
        out.append(Promotion(version, at, record.trigger, record.holdout_value(metric)))
    return out


def retrain_times(
    tags: Mapping[int, Mapping[str, str]], created_ms: Mapping[int, int]
) -> list[datetime]:
    """When each retrain the data asked for happened (any outcome), oldest first.

    In the data's own time where there is a timestamp column (the newest row a version trained
    on: a replayed or simulated stream keeps its real pace), else when it was registered.
    """
    out = []
    for version, t in tags.items():
        record = VersionRecord.from_tags(t)
        if record.trigger not in TRIGGERED:
            continue
        at = _timestamp(record.train_max_ts)
        if at is None and version in created_ms:
            at = datetime.fromtimestamp(created_ms[version] / 1000, UTC)
        if at is not None:
            out.append(at)
    return sorted(out)


def _timestamp(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def assess_lineage(
    promotions: Sequence[Promotion],
    retrains: Sequence[datetime],
    metric: str,
    policy: EffectivenessConfig,
) -> Effectiveness:
    """Whether retraining has stopped paying off for this lineage (pure).

    Args:
        promotions: The lineage's promotions, oldest first (:func:`lineage`).
        retrains: When each triggered retrain ran, promoted or not (:func:`retrain_times`).
        metric: The primary metric (its direction decides what "worse" is).
        policy: ``triggers.effectiveness``.
    """
    recent = list(promotions)[-policy.window :]
    levels = tuple(p.recovered for p in recent if p.recovered is not None)
    triggered = sorted(retrains)[-(policy.window + 1) :]
    hours = tuple(
        (later - earlier).total_seconds() / 3600 for earlier, later in itertools.pairwise(triggered)
    )

    def verdict(alarm: bool, message: str, slope: float | None = None) -> Effectiveness:
        return Effectiveness(alarm, message, metric, levels, hours, slope)

    if not policy.enabled:
        return verdict(False, "the effectiveness check is off")
    if len(levels) < 3 or len(hours) < 2:
        return verdict(
            False,
            f"too little history to judge: {len(levels)} promotion(s) with a holdout "
            f"{metric} and {len(hours)} interval(s) between triggered retrains "
            "(at least 3 and 2 needed)",
        )
    from scipy.stats import theilslopes  # here: `challenger status` stays light without history

    sign = 1.0 if info(metric).higher_is_better else -1.0  # oriented: higher is better
    oriented = [sign * v for v in levels]
    slope = float(theilslopes(oriented).slope)
    best = max(oriented)
    lost = (best - oriented[-1]) / abs(best) if best else 0.0
    faster = hours[-1] <= policy.interval_ratio * hours[0]
    falling = lost > policy.level_drop and slope < 0
    said = (
        f"recovered {metric} {_series(levels)} over the last {len(levels)} promotions "
        f"(the newest {lost:.1%} below the best, Theil-Sen slope {sign * slope:+.4f} per "
        f"promotion); hours between triggered retrains {_series(hours, 1)}"
    )
    if falling and faster:
        return verdict(True, f"{ALARM}: {said}", sign * slope)
    why = "the level holds" if not falling else "retrains do not come faster"
    return verdict(False, f"retraining still pays off ({why}): {said}", sign * slope)


def from_versions(
    versions: Sequence[Any], history: Sequence[Mapping[str, Any]], metric: str
) -> tuple[list[Promotion], list[datetime]]:
    """The promotions and triggered retrain times, from ``Registry.versions()`` and ``history()``."""
    tags = {v.version: v.tags for v in versions}
    retrains = retrain_times(tags, {v.version: v.created_ms for v in versions})
    return lineage(history, tags, metric), retrains


def assess_snapshot(
    snapshot: Mapping[str, Any], metric: str, policy: EffectivenessConfig
) -> Effectiveness:
    """:func:`assess_lineage` on ``Registry.snapshot()`` (what ``challenger status`` reads)."""
    versions = snapshot["versions"]
    tags = {int(v["version"]): v["tags"] for v in versions}
    retrains = retrain_times(tags, {int(v["version"]): int(v["created_ms"]) for v in versions})
    promotions = lineage(snapshot["history"], tags, metric)
    return assess_lineage(promotions, retrains, metric, policy)


def lineage_plot(
    promotions: Sequence[Promotion], retrains: Sequence[datetime], metric: str, path: Path
) -> Path:
    """The recovered level per promotion and the hours between triggered retrains, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 5.5))
    shown = [p for p in promotions if p.recovered is not None]
    top.plot(range(len(shown)), [p.recovered for p in shown], marker="o")
    top.set_xticks(range(len(shown)), [f"v{p.version}" for p in shown])
    top.set_ylabel(f"holdout {metric}")
    top.set_title("champion lineage: the level each promotion recovered")
    times = sorted(retrains)
    gaps = [(b - a).total_seconds() / 3600 for a, b in itertools.pairwise(times)]
    bottom.plot(range(1, len(gaps) + 1), gaps, marker="s", color="tab:orange")
    bottom.set_xlabel("triggered retrain (oldest first)")
    bottom.set_ylabel("hours since the previous one")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _series(values: Sequence[float], digits: int = 4) -> str:
    return " → ".join(f"{v:.{digits}f}" for v in values)
