"""The typed record of a registered version: a handful of tags to scan, the rest in one artifact.

Every stage that writes what it knows about a version (the retrain at registration, the gate
after its decision, a forced promotion, a rollback, the online review) builds a
:class:`VersionRecord` with the fields it knows and hands it to
:meth:`challenger.store.registry.Registry.update_record`, which merges it into the version's
record; every stage that reads takes ``VersionInfo.record`` (the complete record) or, from a
registry snapshot, ``VersionRecord.from_tags(tags)`` (the fields the tags carry). Nobody else
spells a tag name, splits a list or strips a prefix.

Where it is kept:

* **the complete record** is one JSON artifact of the version's MLflow run,
  ``record/v<N>.json`` (:data:`RECORD_ARTIFACT`, :meth:`VersionRecord.to_dict`);
* **the version's tags** are the few a person scans in the MLflow registry list
  (:meth:`VersionRecord.summary_tags`), each short, and each a field that a reader of a
  snapshot needs without downloading an artifact:

  ``challenger.gate_decision``  PROMOTE / REJECT / INCONCLUSIVE / PENDING / ABANDONED: the
      first thing a reviewer looks for, and what ``challenger status`` and the repair read.
  ``challenger.trigger``        why the version exists (manual, data_change, ...); the
      lineage's pace counts triggered retrains by it.
  ``challenger.vs_champion``    ``roc_auc 0.8612, +0.0211 vs v2 (challenger better)``: the
      holdout value and the gate's Δ against the champion it was judged against, the one
      number that says why it was (not) promoted; the lineage reads the recovered level.
  ``challenger.data_fingerprint``  the 16-hex content hash of the training window: two
      versions with the same one trained on the same data.
  ``challenger.cv_strategy``    ``time_series(k=5): roc_auc 0.8512 ± 0.0040``: how the
      candidates were compared, and the winner's cross-validated score.
  ``challenger.candidate``      the winning candidate's name (``challenger status``).
  ``challenger.trained_on``     ``2026-01-01T00:00:00 → 2026-01-02T23:59:00 · 700 rows · 2
      batches (day-001 … day-002)``: the data window; the lineage reads its newest timestamp.
  ``challenger.note``           the latest thing a person did to the version: forced
      promotion, rollback, restored by a rollback, the online review's action.

  The trigger's reasons and evidence, the gate's full reason, the holdout's provenance, the
  operational indicators, the secondary metrics and the online review's fields are only in
  the artifact: long or many, they drowned the registry list (22 tags a version before).

Versions registered before the artifact existed carry every field as its own
``challenger.<field>`` tag (:meth:`VersionRecord.to_tags`); :meth:`VersionRecord.from_tags`
reads both forms, and the first update of such a version moves it to the artifact. A version
without a run (nothing to attach an artifact to) keeps that field-per-tag form.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

TAG = "challenger."
"""Prefix of every tag challenger writes (versions, runs and the registered model)."""

_TAG_LIMIT = 5000  # MLflow's limit on a tag value
_NOTE_LIMIT = 500  # a person's reason for an override or a rollback
_REASON_LIMIT = 4000
PENDING = "PENDING"
ABANDONED = "ABANDONED"
RECORD_SCHEMA = 1
"""Version of :meth:`VersionRecord.to_dict`'s layout (``schema`` in the artifact)."""

# The summary tags (see the module docstring); gate_decision, trigger, data_fingerprint and
# candidate keep their field's name and exact value, so searches written for them still work.
GATE_DECISION = f"{TAG}gate_decision"
TRIGGER = f"{TAG}trigger"
VS_CHAMPION = f"{TAG}vs_champion"
DATA_FINGERPRINT = f"{TAG}data_fingerprint"
CV_STRATEGY = f"{TAG}cv_strategy"
CANDIDATE = f"{TAG}candidate"
TRAINED_ON = f"{TAG}trained_on"
NOTE = f"{TAG}note"
SUMMARY_TAGS = (
    GATE_DECISION, TRIGGER, VS_CHAMPION, DATA_FINGERPRINT, CV_STRATEGY, CANDIDATE, TRAINED_ON, NOTE,
)  # fmt: skip
_SEP = " · "  # between the parts of a summary tag


def record_artifact(version: int) -> str:
    """The artifact path, on the version's run, of its complete record.

    Named by version: a run may register its model more than once.
    """
    return f"record/v{version}.json"


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


_FIELD_TAGS = frozenset(
    (*_TEXT, *_INTS, *_FLOATS, "gate_reason", "trigger_reasons", "trigger_evidence",
     "training_batches", *_DELTA_BOUNDS, _DELTA_VERDICT)
)  # fmt: skip
_FIELD_PREFIXES = ("cv_", "holdout_", "delta_", "online_")


def is_record_tag(key: str) -> bool:
    """Whether a tag holds a record field: a summary tag or an older version's field tag.

    Other ``challenger.*`` tags (a demo's marker, say) are not the record's and are left alone.
    """
    if key in SUMMARY_TAGS:
        return True
    if not key.startswith(TAG):
        return False
    name = key[len(TAG) :]
    return name in _FIELD_TAGS or name.startswith(_FIELD_PREFIXES)


def _is_set(value: Any) -> bool:
    return value is not None and value != () and value != {}


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

    # ---- the complete record (the artifact) ---------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The fields that are set, JSON-ready: the version's record artifact.

        Values are kept whole (no tag limit applies to an artifact).
        """
        out: dict[str, Any] = {"schema": RECORD_SCHEMA}
        for f in fields(self):
            value = getattr(self, f.name)
            if not _is_set(value):
                continue
            if isinstance(value, Delta):
                value = {k: v for k, v in vars(value).items() if v is not None}
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VersionRecord:
        """Read :meth:`to_dict` back (unknown keys, from a newer layout, are ignored)."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: v for k, v in data.items() if k in known}
        for name in ("trigger_reasons", "training_batches"):
            if name in values:
                values[name] = tuple(str(x) for x in values[name])
        if "holdout" in values:
            values["holdout"] = {
                str(k): float(v) for k, v in dict(values["holdout"]).items() if v is not None
            }
        for name in ("cv_scores", "online"):
            if name in values:
                values[name] = {str(k): str(v) for k, v in dict(values[name]).items()}
        if isinstance(values.get("delta"), Mapping):
            values["delta"] = Delta(**dict(values["delta"]))
        return cls(**values)

    def updated(self, change: VersionRecord) -> VersionRecord:
        """This record with every field that ``change`` sets replaced (the others kept)."""
        return replace(
            self,
            **{f.name: v for f in fields(change) if _is_set(v := getattr(change, f.name))},
        )

    # ---- the summary tags ---------------------------------------------------------------
    def summary_tags(self) -> dict[str, str]:
        """The handful of tags a person scans in the registry list, for the fields that are set.

        ``challenger.note`` is not among them: it says what was done last, which only the
        change being written knows (:meth:`note`).
        """
        tags: dict[str, str] = {}
        if self.gate_decision is not None:
            tags[GATE_DECISION] = self.gate_decision
        if self.trigger is not None:
            tags[TRIGGER] = _cut(self.trigger, _NOTE_LIMIT)
        vs = self._vs_champion()
        if vs:
            tags[VS_CHAMPION] = vs
        if self.data_fingerprint is not None:
            tags[DATA_FINGERPRINT] = self.data_fingerprint
        if self.cv_strategy is not None:
            cv = self.cv_strategy
            if self.cv_scores:
                metric, score = next(iter(self.cv_scores.items()))
                cv = f"{cv}: {metric} {score}"
            tags[CV_STRATEGY] = _cut(cv, _NOTE_LIMIT)
        if self.candidate is not None:
            tags[CANDIDATE] = _cut(self.candidate, _NOTE_LIMIT)
        trained = self._trained_on()
        if trained:
            tags[TRAINED_ON] = _cut(trained, _NOTE_LIMIT)
        return tags

    def note(self, *, online: bool = True) -> str | None:
        """The action on the version this record states, in a few words (``challenger.note``).

        When several are set (a version's whole record), the one that matters most now: a
        rollback of it, its restoration by one, a forced promotion, then the online review's
        action (left out with ``online=False``: the review's verdict, unlike a person's act,
        does not replace a note already shown).
        """
        if self.rolled_back is not None:
            text = f"rolled back: {self.rolled_back}"
        elif self.restored_by_rollback is not None:
            text = f"champion again by a rollback: {self.restored_by_rollback}"
        elif self.gate_override is not None:
            text = f"promoted by force: {self.gate_override}"
        elif online and self.online.get("action"):
            o = self.online
            text = f"online {o.get('strategy', 'review')}: {o['action']}"
            if o.get("outcome"):
                text += f" ({o['outcome']})"
            if o.get("checked_at"):
                text += f" at {o['checked_at']}"
        else:
            return None
        return _cut(text, _NOTE_LIMIT)

    def _primary(self) -> tuple[str, float] | None:
        if self.delta is not None and self.delta.metric in self.holdout:
            return self.delta.metric, self.holdout[self.delta.metric]
        return next(iter(self.holdout.items()), None)

    def _vs_champion(self) -> str | None:
        primary = self._primary()
        if primary is None:
            return None
        metric, value = primary
        text = f"{metric} {value:.4f}"
        d = self.delta if self.delta is not None and self.delta.metric == metric else None
        if self.compared_with == "none":
            return f"{text}, no champion to compare with"
        if d is not None and d.value is not None and self.compared_with:
            text += f", {d.value:+.4f} vs {self.compared_with}"
        elif self.compared_with:
            text += f" vs {self.compared_with}"
        if d is not None and d.verdict:
            text += f" ({d.verdict})"
        return text

    def _trained_on(self) -> str | None:
        parts = []
        if self.train_min_ts and self.train_max_ts:
            parts.append(f"{self.train_min_ts} → {self.train_max_ts}")
        elif self.train_max_ts:
            parts.append(f"up to {self.train_max_ts}")
        if self.train_rows is not None:
            parts.append(f"{self.train_rows} rows")
        b = self.training_batches
        if len(b) == 1:
            parts.append(f"1 batch ({b[0]})")
        elif b:
            parts.append(f"{len(b)} batches ({b[0]} … {b[-1]})")
        return _SEP.join(parts) or None

    # ---- every field as its own tag (versions recorded before the artifact) -------------
    def to_tags(self) -> dict[str, str]:
        """Every field that is set as its own ``challenger.<field>`` tag (and only those).

        How versions were recorded before the artifact, and still the form for a version
        without a run; :meth:`Registry.tag_version <challenger.store.registry.Registry.tag_version>`
        takes these tags as a change of the record. Values are cut to MLflow's limits.
        """
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
        """Read a record from a version's tags: both the summary and the field-per-tag form.

        From the summary tags, the fields they carry (the gate decision, trigger, primary
        holdout value and Δ against the champion, fingerprint, CV strategy and score,
        candidate, training window); from an older version's field tags, every field. Where
        both say something, the field tag's exact value wins. Unknown tags are ignored.
        """
        ours = {k[len(TAG) :]: v for k, v in tags.items() if k.startswith(TAG)}
        summary = {
            k: ours.pop(k[len(TAG) :])
            for k in (VS_CHAMPION, TRAINED_ON, NOTE)
            if k[len(TAG) :] in ours
        }
        cv = ours.get("cv_strategy")
        cv_score: dict[str, str] = {}
        if cv is not None and ": " in cv:
            ours["cv_strategy"], scored = cv.split(": ", 1)
            cv_metric, _, score = scored.partition(" ")
            if cv_metric and score:
                cv_score[cv_metric] = score
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
        } or cv_score
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
        if VS_CHAMPION in summary:
            _read_vs_champion(summary[VS_CHAMPION], values)
        if TRAINED_ON in summary:
            _read_trained_on(summary[TRAINED_ON], values)
        return cls(**values)

    def with_trigger(self, decision: Mapping[str, Any] | None) -> VersionRecord:
        """This record with a trigger decision's reasons and evidence (``TriggerDecision.to_dict``)."""
        if not decision:
            return self
        evidence = decision.get("evidence")
        return replace(
            self,
            trigger_reasons=tuple(str(r) for r in decision.get("reasons", ())),
            trigger_evidence=json.dumps(evidence, sort_keys=True, default=str)
            if evidence
            else None,
        )

    def holdout_value(self, metric: str) -> float | None:
        """This version's holdout value of ``metric``, if the gate recorded one."""
        return self.holdout.get(metric)


_VS = re.compile(r"^(?P<metric>\S+) (?P<value>\S+?)(?P<rest>(?:,| vs| \().*)?$", re.DOTALL)
_DELTA_VS = re.compile(r", (?P<delta>[+-]\S+) vs (?P<cw>v\d+)")
_VERDICT = re.compile(r" \((?P<verdict>[^()]*)\)$")


def _read_vs_champion(text: str, values: dict[str, Any]) -> None:
    """Fill what ``challenger.vs_champion`` says into fields the field tags left unset."""
    m = _VS.match(text)
    if m is None:
        return
    metric, value, rest = m["metric"], _float(m["value"]), m["rest"] or ""
    if value is not None and not values["holdout"]:
        values["holdout"] = {metric: value}
    if values.get("compared_with") is None:
        if rest.startswith(", no champion"):
            values["compared_with"] = "none"
        elif (cw := re.search(r" vs (v\d+)", rest)) is not None:
            values["compared_with"] = cw[1]
    if values.get("delta") is None and not rest.startswith(", no champion"):
        dv = _DELTA_VS.search(rest)
        verdict = _VERDICT.search(rest)
        if dv is not None or verdict is not None:
            values["delta"] = Delta(
                metric,
                _float(dv["delta"]) if dv is not None else None,
                verdict=verdict["verdict"] if verdict is not None else None,
            )


def _read_trained_on(text: str, values: dict[str, Any]) -> None:
    """Fill what ``challenger.trained_on`` says into fields the field tags left unset."""
    for part in text.split(_SEP):
        if " → " in part and values.get("train_max_ts") is None:
            values["train_min_ts"], values["train_max_ts"] = part.split(" → ", 1)
        elif part.startswith("up to ") and values.get("train_max_ts") is None:
            values["train_max_ts"] = part[len("up to ") :]
        elif (rows := re.fullmatch(r"(\d+) rows", part)) and values.get("train_rows") is None:
            values["train_rows"] = int(rows[1])
