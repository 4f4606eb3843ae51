"""The models the app serves, loaded from the registry by alias, and the input schema.

Requests never name a model: the app loads ``champion`` and, when the strategy needs it,
``challenger`` from the configured registered model. ``ModelHub.refresh`` re-reads the
aliases and loads any version that changed *before* the swap; the swap is one reference
assignment, so a request in flight finishes on the models it started with and none is
dropped. Scores are what ``challenger.problem.model_scores`` says for ``data.task``: the
probability of class 1 (binary), the class probabilities (multiclass) or the predicted value
(regression). Every served model must make the predictions of ``data.task`` and, for a
multiclass task, know the champion's classes: otherwise the two cannot be compared, and the
app refuses to start (or, at a later swap, keeps the model out and says so in /health).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from challenger.errors import ChallengerError, InputError
from challenger.problem import model_classes, model_scores, valid_scores
from challenger.store.registry import CHALLENGER, CHAMPION, Registry
from challenger.train.rows import compile_rows

if TYPE_CHECKING:
    from challenger.online.serve.profile import InputProfile

log = logging.getLogger(__name__)

_NUMBER_TYPES = {"double", "float"}
_INTEGER_TYPES = {"long", "integer"}
MAX_STRING_LENGTH = 1000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

#: Validated request values, column by column (what ``InputSchema.validate`` returns).
Columns = dict[str, list[Any]]


@dataclass(frozen=True)
class ColumnSpec:
    """One input column of a model's signature."""

    name: str
    kind: str  # MLflow type name: double, float, long, integer, string, boolean
    required: bool = True


@dataclass(frozen=True)
class InputSchema:
    """The columns a model takes; prepares request records into the frame it predicts on."""

    columns: tuple[ColumnSpec, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """Column names, in signature order."""
        return tuple(c.name for c in self.columns)

    def describe(self) -> dict[str, str]:
        """Column → type, for error messages and /health."""
        return {c.name: c.kind for c in self.columns}

    @property
    def numeric(self) -> tuple[str, ...]:
        """The columns the model takes as numbers."""
        return tuple(c.name for c in self.columns if c.kind in _NUMBER_TYPES | _INTEGER_TYPES)

    def prepare(self, records: Sequence[Mapping[str, Any]], loc: str = "records") -> pd.DataFrame:
        """Validate records against the schema and build the model's input frame.

        Raises:
            InputError: Any record has a missing, unknown or mistyped field (all are listed,
                up to 20).
        """
        return self.build(self.validate(records, loc))

    def validate(self, records: Sequence[Mapping[str, Any]], loc: str = "records") -> Columns:
        """Validate records against the schema; the coerced values, column by column.

        The columns are cheap to hand to another process (plain lists pickle in
        microseconds, a DataFrame in a hundred); ``build`` turns them into the frame.

        Raises:
            InputError: Any record has a missing, unknown or mistyped field (all are listed,
                up to 20).
        """
        errors: list[dict[str, Any]] = []
        single = loc == "record"

        def where(i: int, key: str) -> list[Any]:
            return [loc, key] if single else [loc, i, key]

        known = {c.name for c in self.columns}
        data: dict[str, list[Any]] = {c.name: [] for c in self.columns}
        for i, record in enumerate(records):
            for key in record:
                if key not in known:
                    errors.append(
                        {
                            "loc": where(i, key),
                            "msg": f"unknown field; the model takes {sorted(known)}",
                            "type": "extra_forbidden",
                        }
                    )
            for col in self.columns:
                value = record.get(col.name)
                if value is None:
                    if col.required:
                        errors.append(
                            {
                                "loc": where(i, col.name),
                                "msg": f"field required ({col.kind})",
                                "type": "missing",
                            }
                        )
                    data[col.name].append(None)
                    continue
                ok, coerced = _coerce(value, col.kind)
                if not ok:
                    errors.append(
                        {
                            "loc": where(i, col.name),
                            "msg": f"expected {_expected(col.kind)}, got {_shown(value)}",
                            "type": "type_error",
                        }
                    )
                data[col.name].append(coerced)
            if len(errors) >= 20:
                break
        if errors:
            raise InputError(errors[:20])
        return data

    def build(self, data: Columns) -> pd.DataFrame:
        """The model's input frame from validated columns (``validate``), in signature order."""
        arrays: dict[str, np.ndarray] = {}
        for col in self.columns:
            values = data[col.name]
            if col.kind in _NUMBER_TYPES or (col.kind in _INTEGER_TYPES and not col.required):
                arrays[col.name] = np.array(
                    [np.nan if v is None else v for v in values], dtype=np.float64
                )
            elif col.kind in _INTEGER_TYPES:
                arrays[col.name] = np.array(values, dtype=np.int64)
            else:
                arrays[col.name] = np.array(values, dtype=object)
        # One block per dtype, built from ready arrays: far cheaper than casting columns.
        return pd.DataFrame(arrays, columns=list(self.names), copy=False)


def _expected(kind: str) -> str:
    if kind in _NUMBER_TYPES:
        return "a finite number"
    if kind in _INTEGER_TYPES:
        return "an integer within 64 bits"
    if kind == "boolean":
        return "true or false"
    return f"a string of at most {MAX_STRING_LENGTH} characters of valid Unicode"


def _shown(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and not _fits_int64(value):
        return "an integer beyond 64 bits"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _fits_int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX


def _coerce(value: Any, kind: str) -> tuple[bool, Any]:
    """Whether ``value`` fits a column of ``kind``, and the value to predict on.

    Numbers must be finite and integers within 64 bits, whatever the column's type: the log
    and the shadow worker carry every value, and SQLite and orjson take nothing wider.
    """
    if kind in _NUMBER_TYPES:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False, None
        if isinstance(value, int):
            return _fits_int64(value), float(value) if _fits_int64(value) else None
        return math.isfinite(value), value
    if kind in _INTEGER_TYPES:
        if isinstance(value, bool):
            return False, None
        if isinstance(value, int):
            return _fits_int64(value), value
        if isinstance(value, float) and value.is_integer() and _fits_int64(int(value)):
            return True, int(value)
        return False, None
    if kind == "boolean":
        return isinstance(value, bool), value
    if kind == "string":
        return isinstance(value, str) and len(value) <= MAX_STRING_LENGTH and _unicode(value), value
    return True, value


def _unicode(text: str) -> bool:
    """No unpaired surrogate: the text can be written as UTF-8 (to the log, to JSON)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def schema_from_registry(registry: Registry, version: int) -> InputSchema:
    """The input schema of a registered version.

    Raises:
        ChallengerError: The version was logged without a column signature.
    """
    cols = registry.input_schema(version)
    if not cols:
        raise ChallengerError(
            f"{registry.model_name} v{version} has no column signature to validate requests "
            "against; log it with an input example (challenger retrain does)"
        )
    return InputSchema(tuple(ColumnSpec(n, k, r) for n, k, r in cols))


def task_problem(model: Any, task: str) -> str | None:
    """Why a model cannot be served for ``data.task`` (None: it can).

    A binary task needs a classifier with ``predict_proba`` and two classes, a multiclass
    task a classifier with ``predict_proba`` and its ``classes_``, a regression a model with
    ``predict`` and no ``predict_proba``: its answers, its log rows and the judges read what
    ``challenger.problem.model_scores`` gives for the task.
    """
    if not hasattr(model, "predict"):
        return "not a predictor (it has no predict)"
    proba = hasattr(model, "predict_proba")
    if task == "regression":
        return "a classifier (it has predict_proba), not a regressor" if proba else None
    if not proba:
        return "a regressor (it has no predict_proba), not a classifier"
    classes = getattr(model, "classes_", None)
    if task == "binary" and classes is not None and len(classes) != 2:
        return f"a classifier with {len(classes)} classes ({_shown(list(classes))})"
    if task == "multiclass" and classes is None:
        return "a classifier without classes_ (is it fitted?)"
    return None


def classes_of(model: Any, task: str) -> tuple[Any, ...] | None:
    """A multiclass model's classes in code order (None for the other tasks)."""
    return model_classes(model) if task == "multiclass" else None


def comparison_problem(
    champion: tuple[Any, ...] | None, other: tuple[Any, ...] | None
) -> str | None:
    """Why a model's predictions cannot be compared with the champion's (None: they can).

    Multiclass models are compared class by class (agreement, log loss, the codes the log
    and the labels use): both must know the same classes.
    """
    if champion == other:
        return None
    return (
        f"a classifier of the classes {_shown(list(other or ()))}, the champion's are "
        f"{_shown(list(champion or ()))}"
    )


def require_task(model: Any, task: str, what: str) -> None:
    """Refuse a model that does not fit ``data.task`` (see ``task_problem``).

    Raises:
        ChallengerError: ``model`` does not make the task's predictions (a classifier in a
            regression project, a regressor or a multiclass classifier in a binary one).
    """
    problem = task_problem(model, task)
    if problem is not None:
        raise ChallengerError(_refusal(what, problem, task))


def _refusal(what: str, problem: str, task: str) -> str:
    return (
        f"{what} is {problem}, but data.task is {task!r}: its predictions cannot be compared "
        f"with the champion's; serve a {task} model, or set data.task to the task it was "
        "trained for"
    )


def _class_refusal(what: str, clash: str) -> str:
    return (
        f"{what} is {clash}: their predictions cannot be compared class by class; serve "
        "models trained on the same classes"
    )


def served_scores(model: Any, frame: pd.DataFrame, task: str = "binary") -> np.ndarray:
    """The model's scores through the one scoring path (``challenger.problem.model_scores``):
    P(class 1) per row for a binary task, the predicted value for a regression, the (n, k)
    class probabilities of a multiclass model (columns in its sorted classes' order).

    Only for models of the task (``require_task`` checks them when they are loaded); what
    the model returned is checked to be one finite value (a probability) per row.

    Raises:
        ValueError: The model returned something other than one value per row.
    """
    scores = model_scores(model, frame, task)
    problem = valid_scores(scores, len(frame), task)
    if problem is not None:
        raise ValueError(f"model returned unusable scores for {len(frame)} rows: {problem}")
    return scores


@dataclass(frozen=True)
class LoadedModel:
    """A registered version loaded for serving, with the profile of its training data."""

    role: str
    version: int
    model: Any
    schema: InputSchema
    loaded_at: float
    profile: InputProfile | None = None
    classes: tuple[Any, ...] | None = None  # multiclass: its classes in code order


@dataclass(frozen=True)
class ModelSet:
    """The models in service at one moment; replaced as a whole on a swap."""

    champion: LoadedModel
    challenger: LoadedModel | None = None
    challenger_note: str = ""
    shadows: Mapping[str, int] = field(default_factory=dict)

    @property
    def schema(self) -> InputSchema:
        """Requests are validated against the champion's schema."""
        return self.champion.schema

    @property
    def profile(self) -> InputProfile | None:
        """... and against the champion's training profile."""
        return self.champion.profile

    @property
    def challenger_version(self) -> int | None:
        """The version of the served challenger, None when none is served."""
        return self.challenger.version if self.challenger else None


def resolve(registry: Registry, ref: str, aliases: Mapping[str, int] | None = None) -> int | None:
    """A configured model reference (alias or version number) → version, or None.

    ``aliases`` (``Registry.aliases()``, read once by the caller) answers an alias without
    another registry read.
    """
    if ref.isdigit():
        try:
            return registry.version(int(ref)).version
        except Exception:
            return None
    if aliases is not None:
        return aliases.get(ref)
    info = registry.alias(ref)
    return None if info is None else info.version


class ModelHub:
    """Loads and swaps the served models.

    Args:
        registry: The registry connection.
        need_challenger: Whether the strategy serves the challenger (A/B, canary).
        shadow_refs: Aliases or versions of the shadow models (resolved, not loaded here).
        profiler: Computes a loaded version's training profile (once per load).
        task: ``data.task``: every served model must make its predictions.
    """

    def __init__(
        self,
        registry: Registry,
        *,
        need_challenger: bool,
        shadow_refs: Sequence[str] = (),
        profiler: Callable[[int, InputSchema], InputProfile] | None = None,
        task: str = "binary",
    ) -> None:
        self.registry = registry
        self.task = task
        self.need_challenger = need_challenger
        self.shadow_refs = tuple(shadow_refs)
        self.profiler = profiler
        self._lock = threading.Lock()
        self.swaps = 0
        self.last_error: str | None = None
        self._checked: dict[int, tuple[str | None, tuple[Any, ...] | None]] = {}
        self.current = self._build(None)

    def _load(self, role: str, version: int) -> LoadedModel:
        model = self.registry.load_model(version)
        require_task(model, self.task, f"{self.registry.model_name} v{version} ({role})")
        schema = schema_from_registry(self.registry, version)
        profile = None if self.profiler is None else self.profiler(version, schema)
        classes = classes_of(model, self.task)
        # A request's few rows skip scikit-learn's per-call preprocessing cost (rows.py).
        served = compile_rows(model)
        return LoadedModel(role, version, served, schema, time.time(), profile, classes)

    def _build(self, old: ModelSet | None) -> ModelSet:
        # One registry read names every alias's version; only a moved one loads anything.
        aliases = self.registry.aliases()
        champion = aliases.get(CHAMPION)
        if champion is None:
            if old is not None:
                raise ChallengerError("the champion alias was removed; keeping the served models")
            raise ChallengerError(
                f"registered model {self.registry.model_name!r} in {self.registry.tracking_uri} "
                "has no champion; run `challenger demo` or `challenger retrain` first"
            )
        if old is not None and old.champion.version == champion:
            champ = replace(old.champion, role=CHAMPION)
        else:
            champ = self._load(CHAMPION, champion)
        challenger: LoadedModel | None = None
        note = ""
        if self.need_challenger:
            wanted = aliases.get(CHALLENGER)
            if wanted is None:
                note = "no challenger alias"
            elif wanted == champ.version:
                note = "challenger is the champion"
            elif (
                old is not None
                and old.challenger
                and old.challenger.version == wanted
                and old.challenger.classes == champ.classes  # the champion may have moved
            ):
                challenger = old.challenger
            else:
                candidate = self._load(CHALLENGER, wanted)
                clash = comparison_problem(champ.classes, candidate.classes)
                if clash is not None:
                    what = f"{self.registry.model_name} v{wanted} (challenger)"
                    if old is None:  # at startup: refuse clearly instead of comparing nonsense
                        raise ChallengerError(_class_refusal(what, clash))
                    note = f"{what} is {clash}: it is not served"
                elif candidate.schema.describe() != champ.schema.describe():
                    note = (
                        f"challenger v{wanted}'s input schema differs from champion "
                        f"v{champ.version}'s; it is not served"
                    )
                else:
                    challenger = candidate
        shadows: dict[str, int] = {}
        for ref in self.shadow_refs:
            version = resolve(self.registry, ref, aliases)
            if version is None or version == champ.version:
                continue
            problem = self._shadow_problem(version, champ.classes)
            if problem is None:
                shadows[ref] = version
                continue
            what = f"shadow {ref!r} ({self.registry.model_name} v{version})"
            if old is None:  # at startup: refuse clearly instead of comparing nonsense
                by_class = self._checked[version][0] is None
                raise ChallengerError(
                    _class_refusal(what, problem)
                    if by_class
                    else _refusal(what, problem, self.task)
                )
            log.error("%s is %s; it is not shadowed (data.task %s)", what, problem, self.task)
            note = f"{note}; " if note else ""
            note += f"{what} is {problem}: not shadowed (data.task {self.task})"
        return ModelSet(champ, challenger, note, shadows)

    def _shadow_problem(self, version: int, classes: tuple[Any, ...] | None) -> str | None:
        """Load a shadow version once to check it fits the task (versions never change, so
        that answer and its classes are cached), then compare its classes with the current
        champion's; the shadow worker loads its own copy."""
        if version not in self._checked:
            model = self.registry.load_model(version)
            problem = task_problem(model, self.task)
            self._checked[version] = (problem, None if problem else classes_of(model, self.task))
        problem, own = self._checked[version]
        return problem or comparison_problem(classes, own)

    def refresh(self) -> bool:
        """Re-read the aliases; load and swap in what changed. True when anything changed.

        A failure (store down, model that does not load) keeps the served models and sets
        ``last_error``.
        """
        with self._lock:
            old = self.current
            try:
                new = self._build(old)
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("model refresh failed, keeping the served models: %s", exc)
                return False
            self.last_error = None
            changed = (
                new.champion.version != old.champion.version
                or new.challenger_version != old.challenger_version
                or dict(new.shadows) != dict(old.shadows)
                or new.challenger_note != old.challenger_note
            )
            if changed:
                self.current = new  # the swap: one reference assignment
                self.swaps += 1
            return changed
