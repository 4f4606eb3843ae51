"""The typed record of a registered version, kept in its MLflow tags.

Every stage that writes what it knows about a version (the retrain at registration, the gate
after its decision, a forced promotion, a rollback, the online review) builds a
:class:`VersionRecord` with the fields it knows and writes ``record.to_tags()``; every stage
that reads (the monitor, the promote flow, the gate's operational indicators, ``challenger
status``) reads ``VersionRecord.from_tags(version.tags)``. Nobody else spells a tag name,
splits a comma-joined list or strips a prefix.

Tags are strings; :meth:`VersionRecord.to_tags` writes only the fields that are set, so a
partial record updates just those tags. Values are cut to MLflow's 5,000 characters.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

TAG = "challenger."
"""Prefix of every tag challenger writes (versions, runs and the registered model)."""

_TAG_LIMIT = 5000  # MLflow's limit on a tag value
_NOTE_LIMIT = 500  # a person's reason for an override or a rollback
_REASON_LIMIT = 4000
PENDING = "PENDING"
ABANDONED = "ABANDONED"

# Scalar fields written as challenger.<name>; the others are handled one by one below.
_TEXT = (
    "trigger",
    "data_fingerprint",
    "cv_strategy",
    "candidate",
    "estimator",
    "train_max_ts",
    "train_min_ts",
    "holdout_draw",
    "gate_decision",
    "gate_action",
    "gate_mode",
    "gate_stage",
    "compared_with",
    "gate_override",
    "rolled_back",
    "restored_by_rollback",
)
_INTS = (
    "train_rows",
    "holdout_rows",
    "train_fingerprint_rows",
    "holdout_excluded",
    "holdout_seen_challenger",
    "holdout_seen_champion",
)
_FLOATS = {
    "training_seconds": "{:.4f}",
    "peak_memory_mb": "{:.3f}",
    "model_size_mb": "{:.4f}",
}
_DELTA_BOUNDS = {"delta_lower": "lower", "delta_upper": "upper"}
_DELTA_VERDICT = "delta_verdict"
# Fields whose tag starts like a holdout metric's (challenger.holdout_<metric>) but are not one.
_NOT_HOLDOUT_METRICS = frozenset(n for n in (*_TEXT, *_INTS) if n.startswith("holdout_"))
_NOTES = frozenset({"gate_override", "rolled_back", "restored_by_rollback"})


def _cut(value: str, limit: int = _TAG_LIMIT) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        out = float(value)
    except ValueError:
        return None
    return out if math.isfinite(out) else None


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class Delta:
    """The gate's Δ of the primary metric: challenger − champion, in the metric's own units.

    For a score (ROC AUC) a positive Δ favours the challenger, for a loss (RMSE, log loss) a
    negative one does; ``verdict`` says which in words (``challenger better``, ``challenger
    worse``, ``no difference``). ``lower`` ≤ ``upper`` are the one-sided bounds of that
    difference.
    """

    metric: str
    value: float | None = None
    lower: float | None = None
    upper: float | None = None
    verdict: str | None = None


@dataclass(frozen=True)
class VersionRecord:
    """What challenger knows about a registered version.

    Attributes:
        trigger: Why the version was trained (manual, interval, data_change, ...).
        trigger_reasons: The trigger's reasons, one per line in the tag.
        trigger_evidence: The trigger's evidence as compact JSON.
        data_fingerprint: Content hash of the training window.
        cv_strategy: e.g. ``time_series(k=5)``.
        candidate: The winning candidate's name; ``estimator`` its import path.
        cv_scores: Metric -> ``"mean ± sd"`` of the winning candidate's CV.
        training_batches: The accepted batches the version was trained on, oldest first.
        train_rows, holdout_rows: Row counts of the training split and the holdout.
        train_max_ts: The newest training timestamp (the holdout must be at least as new).
        train_min_ts: The oldest training timestamp: with ``train_max_ts`` and
            ``training_batches``, the data window the version was trained on.
        train_fingerprint_rows: Distinct training rows whose fingerprints the version's run
            keeps (``reference/training_rows.npy``), to prove a holdout unseen.
        holdout_draw: How the holdout the gate judged on was drawn (newest rows, or random
            rows no compared model trained on).
        holdout_excluded: Rows left out of that holdout because a compared model trained on
            them (or they duplicate a training row).
        holdout_seen_challenger, holdout_seen_champion: Holdout rows the challenger / the
            champion had trained on, by fingerprint: the gate's hard check needs 0.
        training_seconds, peak_memory_mb, model_size_mb: Operational indicators.
        gate_decision: PENDING at registration, then PROMOTE / REJECT / INCONCLUSIVE
            (ABANDONED when the run died before deciding).
        gate_action, gate_reason, gate_mode, gate_stage: The decision's action, reason,
            mode and, for an online decision, ``online``.
        holdout: Metric -> this version's value on the holdout it was judged on.
        compared_with: ``v<N>`` of the champion it was judged against, or ``none``.
        delta: The primary metric's Δ and its bounds.
        gate_override: The reason a person gave for forcing a promotion.
        rolled_back: Why this version was rolled back (as champion).
        restored_by_rollback: Why this version became champion again by a rollback.
        online: The online review's tags without their ``online_`` prefix
            (strategy, action, outcome, reason, run_id, checked_at, stage).
    """

    trigger: str | None = None
    trigger_reasons: tuple[str, ...] = ()
    trigger_evidence: str | None = None
    data_fingerprint: str | None = None
    cv_strategy: str | None = None
    candidate: str | None = None
    estimator: str | None = None
    cv_scores: Mapping[str, str] = field(default_factory=dict)
    training_batches: tuple[str, ...] = ()
    train_rows: int | None = None
    holdout_rows: int | None = None
    train_max_ts: str | None = None
    train_min_ts: str | None = None
    train_fingerprint_rows: int | None = None
    holdout_draw: str | None = None
    holdout_excluded: int | None = None
    holdout_seen_challenger: int | None = None
    holdout_seen_champion: int | None = None
    training_seconds: float | None = None
    peak_memory_mb: float | None = None
    model_size_mb: float | None = None
    gate_decision: str | None = None
    gate_action: str | None = None
    gate_reason: str | None = None
    gate_mode: str | None = None
    gate_stage: str | None = None
    holdout: Mapping[str, float] = field(default_factory=dict)
    compared_with: str | None = None
    delta: Delta | None = None
    gate_override: str | None = None
    rolled_back: str | None = None
    restored_by_rollback: str | None = None
    online: Mapping[str, str] = field(default_factory=dict)

    def to_tags(self) -> dict[str, str]:
        """The tags of every field that is set (and only those)."""
        tags: dict[str, str] = {}
        for name in _TEXT:
            value = getattr(self, name)
            if value is not None:
                limit = _NOTE_LIMIT if name in _NOTES else _TAG_LIMIT
                tags[f"{TAG}{name}"] = _cut(str(value), limit)
        for name in _INTS:
            value = getattr(self, name)
            if value is not None:
                tags[f"{TAG}{name}"] = str(value)
        for name, fmt in _FLOATS.items():
            value = getattr(self, name)
            if value is not None:
                tags[f"{TAG}{name}"] = fmt.format(value)
        if self.trigger_reasons:
            tags[f"{TAG}trigger_reasons"] = _cut("\n".join(self.trigger_reasons))
        if self.trigger_evidence:
            tags[f"{TAG}trigger_evidence"] = _cut(self.trigger_evidence)
        if self.training_batches:
            tags[f"{TAG}training_batches"] = ",".join(self.training_batches)
        if self.gate_reason is not None:
            tags[f"{TAG}gate_reason"] = self.gate_reason[:_REASON_LIMIT]
        for metric, score in self.cv_scores.items():
            tags[f"{TAG}cv_{metric}"] = score
        for metric, value in self.holdout.items():
            tags[f"{TAG}holdout_{metric}"] = f"{value:.6f}"
        if self.delta is not None:
            if self.delta.value is not None:
                tags[f"{TAG}delta_{self.delta.metric}"] = f"{self.delta.value:+.6f}"
            for tag, attr in _DELTA_BOUNDS.items():
                bound = getattr(self.delta, attr)
                if bound is not None:
                    tags[f"{TAG}{tag}"] = f"{bound:+.6f}"
            if self.delta.verdict is not None:
                tags[f"{TAG}{_DELTA_VERDICT}"] = self.delta.verdict
        for key, value in self.online.items():
            tags[f"{TAG}online_{key}"] = value[:_REASON_LIMIT] if key == "reason" else value
        return tags

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> VersionRecord:
        """Read a record back from a version's tags (unknown tags are ignored)."""
        ours = {k[len(TAG) :]: v for k, v in tags.items() if k.startswith(TAG)}
        values: dict[str, Any] = {name: ours.get(name) for name in _TEXT}
        values |= {name: _int(ours.get(name)) for name in _INTS}
        values |= {name: _float(ours.get(name)) for name in _FLOATS}
        values["gate_reason"] = ours.get("gate_reason")
        values["trigger_reasons"] = tuple(
            line for line in ours.get("trigger_reasons", "").splitlines() if line
        )
        values["trigger_evidence"] = ours.get("trigger_evidence")
        values["training_batches"] = tuple(
            b for b in ours.get("training_batches", "").split(",") if b
        )
        values["cv_scores"] = {
            k[3:]: v for k, v in ours.items() if k.startswith("cv_") and k != "cv_strategy"
        }
        holdout: dict[str, float] = {}
        for k, v in ours.items():
            if k.startswith("holdout_") and k not in _NOT_HOLDOUT_METRICS:
                parsed = _float(v)
                if parsed is not None:
                    holdout[k[len("holdout_") :]] = parsed
        values["holdout"] = holdout
        values["online"] = {
            k[len("online_") :]: v for k, v in ours.items() if k.startswith("online_")
        }
        metric = next(
            (
                k[len("delta_") :]
                for k in ours
                if k.startswith("delta_") and k not in _DELTA_BOUNDS and k != _DELTA_VERDICT
            ),
            None,
        )
        lower, upper = _float(ours.get("delta_lower")), _float(ours.get("delta_upper"))
        if metric is not None or lower is not None or upper is not None:
            values["delta"] = Delta(
                metric or "",
                _float(ours.get(f"delta_{metric}")) if metric else None,
                lower,
                upper,
                ours.get(_DELTA_VERDICT),
            )
        return cls(**values)

    def with_trigger(self, decision: Mapping[str, Any] | None) -> VersionRecord:
        """This record with a trigger decision's reasons and evidence (``TriggerDecision.to_dict``)."""
        if not decision:
            return self
        return replace(
            self,
            trigger_reasons=tuple(str(r) for r in decision.get("reasons", ())),
            trigger_evidence=json.dumps(decision.get("evidence", {}), sort_keys=True, default=str)
            or None,
        )

    def holdout_value(self, metric: str) -> float | None:
        """This version's holdout value of ``metric``, if the gate recorded one."""
        return self.holdout.get(metric)
