"""The concept trigger: a sequential change detector on the champion's per-row errors.

When the labelling rule moves and the inputs do not (a stricter default definition, a new
fraud pattern in an old population), input drift sees nothing and a ranking metric may not
move either: the champion still ranks rows well, but its decisions are wrong. The errors it
makes on newly labelled rows do rise, so a detector made for streams watches them as the
labels arrive — river's ADWIN by default (``triggers.concept``):

* ``adwin`` and ``page_hinkley`` read the per-row Brier score (binary: ``(y - p)²``;
  multiclass: half the summed squared error over classes, so it lies in [0, 1]);
  ``ddm`` reads per-row mistakes at the operating threshold (0.5, or the argmax);
* a regression's rows count as errors when their absolute error exceeds the 90th
  percentile of the champion's absolute errors on its own training data.

Only rises alarm (ADWIN also notices errors falling; that is no reason to retrain). Rows of
the champion's own training batches are never fed, and a batch file is fed once however
often it is monitored; label files feed the rows they label for the first time.

The detector's state lives beside the accepted batches, one JSON file per champion version
(``<accepted_dir>/concept/v<N>.json``): the river detector (pickled, base64), how many rows
it saw from which file, and its alarms. A new champion starts a new file, i.e. a fresh
detector; a changed detector configuration or a state river cannot read back starts afresh
too, and the result says so.
"""

from __future__ import annotations

import base64
import json
import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from challenger.config import ConceptTriggerConfig, Settings
from challenger.problem import model_scores, predicted_labels, truth_and_scores
from challenger.store.registry import VersionInfo
from challenger.train.window import labelled_rows

STATE_DIR = "concept"
DDM_WARM_START = 500
_LARGE_ERROR_QUANTILE = 0.9
_INT_PARAMS = frozenset(
    {"clock", "max_buckets", "min_window_length", "grace_period", "min_instances", "warm_start"}
)
_ERRORS = {
    "brier": "per-row Brier score",
    "mistake": "per-row mistakes at the operating threshold",
    "large_error": "rows with an absolute error above the champion's 90th percentile",
}


@dataclass(frozen=True)
class ConceptAlarm:
    """One rise of the champion's errors the detector saw.

    Attributes:
        row: Rows the detector had seen for this champion when it fired.
        source: The file whose rows it was reading.
        before: The mean error of the rows since the previous alarm (or the start).
        recent: The detector's estimate of the error right after the change (ADWIN: the
            mean of the window it kept, which may still hold some older rows).
    """

    row: int
    source: str
    before: float
    recent: float

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "row": self.row,
            "source": self.source,
            "before": round(self.before, 4),
            "recent": round(self.recent, 4),
        }


@dataclass(frozen=True)
class ConceptResult:
    """What the detector saw in one monitored file.

    Attributes:
        detector: ``adwin``, ``page_hinkley`` or ``ddm``.
        error: What it reads, in words.
        champion_version: The champion whose errors these are.
        rows_fed: Rows fed from this file.
        rows_seen: Rows fed since the champion's detector started.
        mean_error: Mean error of the rows fed from this file (None when none were).
        alarms: Rises of the error seen while reading this file.
        notes: What was skipped or reset, one sentence each.
        state_file: Where the detector's state is kept.
    """

    detector: str
    error: str
    champion_version: int
    rows_fed: int
    rows_seen: int
    mean_error: float | None
    alarms: tuple[ConceptAlarm, ...] = ()
    notes: tuple[str, ...] = ()
    state_file: str = ""

    @property
    def alarm(self) -> bool:
        """Whether the errors rose while reading this file."""
        return bool(self.alarms)

    def reason(self) -> str:
        """One sentence for the trigger's reasons."""
        if self.alarm:
            last = self.alarms[-1]
            return (
                f"the champion's errors rose ({self.detector} on the {self.error}): mean "
                f"{last.before:.4f} before row {last.row} of the {self.rows_seen} labelled rows "
                f"v{self.champion_version} has seen, {self.mean_error:.4f} in this file's "
                f"{self.rows_fed} rows"
            )
        if self.rows_fed == 0:
            return "no new labelled rows for the change detector"
        return (
            f"{self.detector} saw no rise in the champion's errors ({self.rows_fed} new "
            f"labelled rows, mean {self.mean_error:.4f}; {self.rows_seen} since v"
            f"{self.champion_version})"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the trigger's evidence)."""
        return {
            "detector": self.detector,
            "error": self.error,
            "champion_version": self.champion_version,
            "rows_fed": self.rows_fed,
            "rows_seen": self.rows_seen,
            "mean_error": None if self.mean_error is None else round(self.mean_error, 4),
            "alarm": self.alarm,
            "alarms": [a.to_dict() for a in self.alarms],
            "notes": list(self.notes),
            "state_file": self.state_file,
        }


@dataclass
class _State:
    """What is kept between monitor runs for one champion version."""

    champion_version: int
    detector: str
    params: dict[str, float]
    error: str
    rows: int = 0
    segment_rows: int = 0
    segment_sum: float = 0.0
    large_error_cut: float | None = None
    fed: dict[str, int] = field(default_factory=dict)
    alarms: list[dict[str, Any]] = field(default_factory=list)
    model: Any = None  # the river detector

    def to_json(self) -> dict[str, Any]:
        from importlib.metadata import version

        return {
            "champion_version": self.champion_version,
            "detector": self.detector,
            "params": self.params,
            "error": self.error,
            "river": version("river"),
            "rows": self.rows,
            "segment_rows": self.segment_rows,
            "segment_sum": self.segment_sum,
            "large_error_cut": self.large_error_cut,
            "fed": self.fed,
            "alarms": self.alarms,
            "updated": datetime.now(UTC).isoformat(timespec="seconds"),
            "detector_state": base64.b64encode(pickle.dumps(self.model)).decode("ascii"),
        }


def state_path(accepted_dir: Path, version: int) -> Path:
    """The state file of champion ``version``'s detector."""
    return accepted_dir / STATE_DIR / f"v{version}.json"


def error_kind(task: str, detector: str) -> str:
    """What the detector reads: ``brier``, ``mistake`` or ``large_error``."""
    if task == "regression":
        return "large_error"
    return "mistake" if detector == "ddm" else "brier"


def new_detector(policy: ConceptTriggerConfig) -> Any:
    """A fresh river detector as configured (only rises matter: Page-Hinkley watches up).

    DDM starts judging after ``warm_start`` rows; river's 30 leave a good champion's rare
    mistakes at a minimum error rate of 0, from which any mistake alarms, so it starts
    after :data:`DDM_WARM_START` rows here unless ``params.warm_start`` says otherwise.
    """
    from river import drift

    params: dict[str, Any] = {
        k: int(v) if k in _INT_PARAMS else float(v) for k, v in policy.params.items()
    }
    if policy.detector == "adwin":
        return drift.ADWIN(**params)
    if policy.detector == "page_hinkley":
        return drift.PageHinkley(mode="up", **params)
    return drift.binary.DDM(**({"warm_start": DDM_WARM_START} | params))


def row_errors(
    model: Any, rows: pd.DataFrame, settings: Settings, kind: str, cut: float | None
) -> np.ndarray:
    """The champion's error on each labelled row, as the detector reads it (see the module)."""
    d = settings.data
    y, scores = truth_and_scores(model, rows[list(d.features)], rows[d.target], d.task, d.target)
    if kind == "large_error":
        return np.asarray(np.abs(y - scores) > (cut if cut is not None else np.inf), dtype=float)
    if kind == "mistake":
        return np.asarray(predicted_labels(scores, d.task) != y, dtype=float)
    if d.task == "binary":
        return np.asarray((y - scores) ** 2, dtype=float)
    onehot = np.zeros_like(scores)
    onehot[np.arange(len(y)), y] = 1.0
    return np.asarray(0.5 * ((onehot - scores) ** 2).sum(axis=1), dtype=float)


def _large_error_cut(
    model: Any, reference: pd.DataFrame | None, settings: Settings
) -> float | None:
    """The 90th percentile of the champion's absolute errors on its training data."""
    d = settings.data
    if reference is None or d.target not in reference.columns:
        return None
    rows = labelled_rows(reference, d.target)
    if rows.empty:
        return None
    predicted = model_scores(model, rows[list(d.features)], d.task)
    errors = np.abs(rows[d.target].to_numpy(dtype=float) - predicted)
    return float(np.quantile(errors, _LARGE_ERROR_QUANTILE))


def _load(
    path: Path, champion: int, policy: ConceptTriggerConfig, kind: str
) -> tuple[_State, str | None]:
    """The saved state, or a fresh one and why it is fresh (None for a first start)."""
    fresh = _State(champion, policy.detector, dict(policy.params), kind, model=new_detector(policy))
    if not path.is_file():
        return fresh, None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return fresh, f"the saved state {path} could not be read ({exc}); started afresh"
    if (saved.get("detector"), saved.get("params"), saved.get("error")) != (
        policy.detector,
        dict(policy.params),
        kind,
    ):
        return fresh, (
            f"triggers.concept changed since {path} was written "
            f"({saved.get('detector')} {saved.get('params')}); started afresh"
        )
    try:
        detector = pickle.loads(base64.b64decode(saved["detector_state"]))
    except Exception as exc:  # a river upgrade can change what a pickle holds
        return fresh, (
            f"river {saved.get('river')} state in {path} could not be read back "
            f"({type(exc).__name__}); started afresh"
        )
    state = _State(
        champion,
        policy.detector,
        dict(policy.params),
        kind,
        rows=int(saved.get("rows", 0)),
        segment_rows=int(saved.get("segment_rows", 0)),
        segment_sum=float(saved.get("segment_sum", 0.0)),
        large_error_cut=saved.get("large_error_cut"),
        fed={str(k): int(v) for k, v in (saved.get("fed") or {}).items()},
        alarms=list(saved.get("alarms") or []),
        model=detector,
    )
    return state, None


def _save(state: _State, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(state.to_json(), indent=1), encoding="utf-8")
    tmp.replace(path)


def _feed(state: _State, errors: np.ndarray, source: str) -> list[ConceptAlarm]:
    """Feed the errors in order; the rises of the error the detector reports."""
    detector = state.model
    adaptive = hasattr(detector, "estimation")
    alarms: list[ConceptAlarm] = []
    start = 0  # first row of this file since the last alarm
    for i, x in enumerate(errors):
        before = float(detector.estimation) if adaptive else None
        detector.update(float(x))
        state.rows += 1
        state.segment_rows += 1
        state.segment_sum += float(x)
        if not detector.drift_detected:
            continue
        recent = float(detector.estimation) if adaptive else float(np.mean(errors[start : i + 1]))
        if adaptive and before is not None and recent <= before:
            continue  # the errors fell: no reason to retrain
        segment_mean = state.segment_sum / state.segment_rows
        alarms.append(ConceptAlarm(state.rows, source, segment_mean, recent))
        state.segment_rows, state.segment_sum, start = 0, 0.0, i + 1
    return alarms


def watch_concept(
    settings: Settings,
    champion: VersionInfo,
    model: Any,
    labelled: Sequence[tuple[str, pd.DataFrame]],
    reference: pd.DataFrame | None,
    *,
    source: str,
    once: bool = False,
) -> ConceptResult | None:
    """Feed newly labelled rows to the champion's change detector and keep its state.

    Args:
        settings: The configuration (``triggers.concept``, the data's columns).
        champion: The champion (its version names the state; its training batches are
            never fed).
        model: The champion's model.
        labelled: ``(batch, rows)`` pairs of labelled rows with their features, the rows of
            each in time order.
        reference: The champion's training data (a regression's error cut).
        source: The monitored file, for the record.
        once: A batch file: feed it only if the detector has not seen ``source`` before.

    Returns:
        What the detector saw, or None when the concept trigger is off.
    """
    policy = settings.triggers.concept
    if not policy.enabled:
        return None
    d = settings.data
    kind = error_kind(d.task, policy.detector)
    path = state_path(settings.path(d.accepted_dir), champion.version)
    state, reset = _load(path, champion.version, policy, kind)
    notes = [reset] if reset else []
    trained_on = set(champion.record.training_batches)
    parts: list[tuple[str, pd.DataFrame]] = []
    if once and source in state.fed:
        notes.append(f"{source} was fed to the detector before; not counted twice")
    else:
        for batch, rows in labelled:
            if batch in trained_on:
                notes.append(f"{batch} is in v{champion.version}'s training window; not fed")
            elif not rows.empty:
                parts.append((batch, rows))
    if kind == "large_error" and state.large_error_cut is None:
        state.large_error_cut = _large_error_cut(model, reference, settings)
        if state.large_error_cut is None and parts:
            first = parts[0][1]
            predicted = model_scores(model, first[list(d.features)], d.task)
            truth = first[d.target].to_numpy(dtype=float)
            state.large_error_cut = float(
                np.quantile(np.abs(truth - predicted), _LARGE_ERROR_QUANTILE)
            )
            notes.append("no labelled training rows: the error cut comes from the first rows fed")
    alarms: list[ConceptAlarm] = []
    fed, total = 0, 0.0
    for batch, rows in parts:
        ordered = rows.sort_values(d.timestamp, kind="stable") if d.timestamp in rows else rows
        errors = row_errors(model, ordered, settings, kind, state.large_error_cut)
        alarms += _feed(state, errors, batch)
        fed += len(errors)
        total += float(errors.sum())
    if parts:
        state.fed[source] = state.fed.get(source, 0) + fed
        state.alarms += [a.to_dict() for a in alarms]
        _save(state, path)
    return ConceptResult(
        detector=policy.detector,
        error=_ERRORS[kind],
        champion_version=champion.version,
        rows_fed=fed,
        rows_seen=state.rows,
        mean_error=total / fed if fed else None,
        alarms=tuple(alarms),
        notes=tuple(notes),
        state_file=str(path),
    )
