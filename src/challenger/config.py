"""The one typed configuration tree, loaded once at the edge and passed down.

``challenger.yaml`` is validated by these pydantic models (frozen, ``extra="forbid"``):
an unknown key or a bad value fails with a message that names the key. Environment
variables override the file: ``CHALLENGER_<SECTION>__<KEY>``, e.g.
``CHALLENGER_GATE__CONFIDENCE=0.99``; ``MLFLOW_TRACKING_URI`` overrides the MLflow store.

Relative paths are resolved against the folder that holds the configuration file (the
*project root*); without a file, against the current directory.

The whole tree is one module on purpose (longer than the ~600 lines a module should have):
it mirrors ``challenger.yaml`` section by section, so every key, its default, its check and
its description are found in one place, in the file's order.
"""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from challenger.errors import ConfigError

DEFAULT_CONFIG_NAME = "challenger.yaml"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProjectConfig(_Section):
    """Names and the seed every random choice derives from."""

    model_name: str = Field("loan-default", min_length=1, description="Registered model name.")
    experiment: str = Field("challenger", min_length=1, description="MLflow experiment name.")
    seed: int = Field(7, ge=0)


EMBEDDED_STORE = Path("mlflow/mlflow.db")
"""The project's embedded MLflow store, relative to the project root."""


class MlflowConfig(_Section):
    """Where the MLflow tracking store and registry live.

    The embedded default (``<root>/mlflow/mlflow.db``) is created on first use; a store named
    here or by ``MLFLOW_TRACKING_URI`` must already exist, so a mistyped path is an error
    rather than a new, empty registry.
    """

    tracking_uri: str | None = Field(
        None,
        description="Defaults to sqlite:///<root>/mlflow/mlflow.db; MLFLOW_TRACKING_URI wins. "
        "A store named here must exist.",
    )
    artifact_root: str | None = Field(None, description="Defaults to <root>/mlflow/artifacts.")


class DataConfig(_Section):
    """The shape of the data: target, timestamp, feature columns and where batches go."""

    task: Literal["binary", "multiclass", "regression"] = Field(
        "binary",
        description="binary (0/1 target), multiclass (any labels) or regression (numeric target).",
    )
    target: str = "default"
    timestamp: str | None = "ts"
    id_column: str | None = "application_id"
    numeric: tuple[str, ...] = (
        "age",
        "income",
        "loan_amount",
        "credit_score",
        "debt_to_income",
        "employment_years",
        "open_accounts",
        "late_payments_12m",
    )
    categorical: tuple[str, ...] = ("region", "home_ownership", "loan_purpose", "channel")
    incoming_dir: Path = Path("data/incoming")
    accepted_dir: Path = Path("data/accepted")
    stream_rows: int | None = Field(
        2_000_000,
        ge=1,
        description=(
            "Parquet batches with more rows than this (read from the file's footer, not its "
            "rows) are monitored in row groups with bounded memory (challenger.monitor.stream): "
            "drift from the champion's sketch only, no Evidently HTML report, no concept watch, "
            "no performance trigger and no batch shadow on that path. None: every batch is read "
            "into memory, whatever its size."
        ),
    )
    quarantine_dir: Path = Path("data/quarantine")
    reports_dir: Path = Path("data/reports")

    @model_validator(mode="after")
    def _columns_are_distinct(self) -> DataConfig:
        features = list(self.numeric) + list(self.categorical)
        dupes = sorted({c for c in features if features.count(c) > 1})
        if dupes:
            raise ValueError(f"columns listed twice in data.numeric/data.categorical: {dupes}")
        if self.target in features:
            raise ValueError(f"the target {self.target!r} is also listed as a feature")
        if not features:
            raise ValueError("data.numeric and data.categorical are both empty")
        return self

    @property
    def features(self) -> tuple[str, ...]:
        """All feature columns, numeric first."""
        return self.numeric + self.categorical


class SimulatorConfig(_Section):
    """The demo's production-stream simulator."""

    rows_per_batch: int = Field(6000, ge=100)
    label_noise: float = Field(0.0, ge=0.0, le=0.5)


class ValidationConfig(_Section):
    """Great Expectations suite settings; the reference profile completes them."""

    max_null_fraction: float = Field(0.0, ge=0.0, le=1.0)
    ranges: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {
            "age": (18.0, 100.0),
            "income": (0.0, 5_000_000.0),
            "loan_amount": (0.0, 2_000_000.0),
            "credit_score": (300.0, 850.0),
            "debt_to_income": (0.0, 10.0),
            "employment_years": (0.0, 70.0),
            "open_accounts": (0.0, 100.0),
            "late_payments_12m": (0.0, 100.0),
        }
    )
    min_rows: int = Field(50, ge=1)
    allow_new_categories: bool = False
    allow_extra_columns: bool = Field(
        False, description="Accept batches with columns the configuration does not name."
    )
    range_tolerance: float | None = Field(
        10.0,
        ge=0,
        description="A numeric column without a configured range gets the champion's observed "
        "range widened by this many spans on each side (never below 0 for a column that never "
        "was): values off by a factor of a hundred or more fail, heavy tails pass. None: only "
        "configured ranges.",
    )
    max_duplicate_share: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Largest share of a batch's rows that may repeat another row of the batch or "
        "a row of the champion's training data (on every feature). None: learned from the "
        "champion's data (how often its rows coincide by chance) plus 0.05; 1: never checked.",
    )


class DriftConfig(_Section):
    """Evidently drift detection settings."""

    method: str | None = Field(
        None, description="Evidently stattest for every column; None = its defaults."
    )
    threshold: float | None = Field(None, gt=0)
    per_column_method: dict[str, str] = Field(default_factory=dict)
    per_column_threshold: dict[str, float] = Field(
        default_factory=dict, description="Drift threshold per column, overriding threshold."
    )
    engine: Literal["auto", "fast", "evidently"] = Field(
        "auto",
        description="fast: numpy/scipy verdicts on every row; evidently: Evidently on a "
        "sample of max_rows; auto: fast whenever it supports the methods.",
    )
    max_rows: int = Field(
        50_000, ge=100, description="Rows sampled per side for the Evidently report."
    )
    report: bool = Field(
        True,
        description="Draw Evidently's HTML report of every checked batch (logged to MLflow). "
        "The decision never needs it; on wide data it costs minutes where the decision, from "
        "the champion's stored sketch, costs seconds: turn it off there.",
    )
    control: Literal["holm", "bh", "none"] = Field(
        "holm",
        description="How column alarms are decided across columns: holm (family-wise error), "
        "bh (Benjamini-Hochberg false discovery rate) or none (each test at its own threshold).",
    )
    alarm_rate: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="The family-wise error (holm) or false discovery rate (bh) across the "
        "feature columns: an unchanged batch alarms at most this often (holm).",
    )
    min_effect: float | None = Field(
        0.05,
        gt=0,
        le=1,
        description="A p-value test alarms only when the K-S statistic or the total variation "
        "distance is at least this (large batches make tiny differences significant); "
        "distance tests use their own threshold. None: no minimum.",
    )

    @field_validator("per_column_threshold")
    @classmethod
    def _thresholds_are_positive(cls, v: dict[str, float]) -> dict[str, float]:
        bad = sorted(c for c, t in v.items() if not t > 0)
        if bad:
            raise ValueError(f"thresholds must be above 0; check columns {bad}")
        return v


class IntervalTriggerConfig(_Section):
    """The interval trigger: the schedules of the deployed monitor and retrain.

    prefect.yaml reads these at deploy time; null leaves that deployment without an active
    schedule.
    """

    monitor_minutes: float | None = Field(
        60, gt=0, description="The monitor deployment checks new batches this often."
    )
    retrain_hours: float | None = Field(
        168, gt=0, description="The retrain deployment retrains this often, drift or not."
    )


class PerformanceTriggerConfig(_Section):
    """The performance trigger: the champion on recent labelled windows, k of the last n."""

    floor: float | None = Field(
        None, description="A window breaches when the champion's metric is below this value."
    )
    margin: float = Field(
        0.03,
        ge=0,
        description="... or when it is worse than the champion's holdout value by more than this.",
    )
    window_rows: int = Field(500, ge=20, description="Labelled rows per window, newest last.")
    windows: int = Field(3, ge=1, le=100, description="n: the last n complete windows count.")
    breaches: int = Field(2, ge=1, description="k: retrain when k of the last n windows breach.")
    also_watch: dict[str, float] | None = Field(
        None,
        description="Metrics watched besides the primary one, each with its margin in its own "
        "units (a window breaches when it is worse than the champion's holdout value by more). "
        "None: brier with margin 0.02 for classification (a proper scoring rule sees a moved "
        "decision threshold that ROC AUC cannot), nothing for regression; {} watches none.",
    )

    @model_validator(mode="after")
    def _k_of_n(self) -> PerformanceTriggerConfig:
        if self.breaches > self.windows:
            raise ValueError(
                f"breaches (k={self.breaches}) cannot exceed windows (n={self.windows})"
            )
        bad = sorted(m for m, margin in (self.also_watch or {}).items() if not margin >= 0)
        if bad:
            raise ValueError(f"also_watch margins must be 0 or more; check {bad}")
        return self

    def watched(self, task: str) -> dict[str, float]:
        """The metrics watched besides the primary one, with their margins, for ``task``."""
        if self.also_watch is not None:
            return dict(self.also_watch)
        return {} if task == "regression" else {"brier": 0.02}


# Keyword arguments of each river detector that triggers.concept.params may set.
_DETECTOR_PARAMS: dict[str, frozenset[str]] = {
    "adwin": frozenset({"delta", "clock", "max_buckets", "min_window_length", "grace_period"}),
    "page_hinkley": frozenset({"min_instances", "delta", "threshold", "alpha"}),
    "ddm": frozenset({"warm_start", "warning_threshold", "drift_threshold"}),
}


class ConceptTriggerConfig(_Section):
    """The concept trigger: a sequential change detector on the champion's per-row errors.

    It needs labels and no input drift: when the labelling rule moves under unchanged inputs,
    the champion's errors rise, and the detector (river) says so within a bounded delay.
    """

    enabled: bool = Field(True, description="Watch the champion's errors as labels arrive.")
    detector: Literal["adwin", "page_hinkley", "ddm"] = Field(
        "adwin",
        description="adwin (adaptive window on the per-row Brier score), page_hinkley (cumulative "
        "test on the same) or ddm (drift detection method on per-row mistakes).",
    )
    params: dict[str, float] = Field(
        default_factory=dict,
        description="Keyword arguments of the river detector, e.g. {delta: 0.002} for ADWIN "
        "(smaller: fewer false alarms, later alarms); empty: river's defaults.",
    )

    @model_validator(mode="after")
    def _params_fit_the_detector(self) -> ConceptTriggerConfig:
        allowed = _DETECTOR_PARAMS[self.detector]
        unknown = sorted(set(self.params) - allowed)
        if unknown:
            raise ValueError(
                f"params {unknown} are not parameters of the {self.detector} detector; "
                f"use {', '.join(sorted(allowed))}"
            )
        return self


class DataChangeTriggerConfig(_Section):
    """The data-change trigger: drift, a schema change or enough new labelled rows."""

    drift_share: float = Field(
        0.3,
        gt=0,
        le=1,
        description="Retrain when at least this share of features alarm (see drift.control).",
    )
    schema_change: bool = Field(
        True, description="Retrain when an accepted batch's columns, types or categories changed."
    )
    new_labelled_rows: int | None = Field(
        None, ge=1, description="Retrain once this many labelled rows arrived since the champion."
    )


class CooldownConfig(_Section):
    """After a retrain, data and performance triggers are ignored for a while."""

    batches: int = Field(0, ge=0, description="Accepted batches after the champion's window.")
    minutes: float = Field(0, ge=0, description="Minutes after the newest registered version.")


class EffectivenessConfig(_Section):
    """When retraining stops paying off: the champion lineage's recovered level and pace.

    After each promotion the lineage "recovers" to the new champion's holdout value of the
    primary metric. The alarm needs both signs at once, over the last ``window`` promotions:
    the recovered level fell (the newest is worse than the lineage's best by more than
    ``level_drop``, a fraction of that best, and the Theil-Sen slope of the levels points the
    wrong way) and the retrains came faster (the newest interval between triggered retrains
    is at most ``interval_ratio`` of the first one in the window).
    """

    enabled: bool = True
    window: int = Field(
        5, ge=3, le=100, description="Promotions looked at (the alarm needs at least 3)."
    )
    level_drop: float = Field(
        0.02, ge=0, lt=1, description="Fraction of the best recovered level the newest lost."
    )
    interval_ratio: float = Field(
        0.6, gt=0, le=1, description="Newest interval / first interval at most this."
    )


class TriggersConfig(_Section):
    """When to retrain: interval, performance, data change, concept; manual runs always do."""

    interval: IntervalTriggerConfig = IntervalTriggerConfig()
    performance: PerformanceTriggerConfig = PerformanceTriggerConfig()
    data_change: DataChangeTriggerConfig = DataChangeTriggerConfig()
    concept: ConceptTriggerConfig = ConceptTriggerConfig()
    cooldown: CooldownConfig = CooldownConfig()
    effectiveness: EffectivenessConfig = EffectivenessConfig()


class CandidateConfig(_Section):
    """One model family: a scikit-learn compatible estimator and its parameters."""

    name: str = Field(min_length=1)
    estimator: str = Field(description="Import path, e.g. sklearn.linear_model.LogisticRegression.")
    params: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True
    search: Literal["none", "grid", "random"] = Field(
        "none", description="Hyper-parameter search over search_space, scored by CV."
    )
    search_space: dict[str, Any] = Field(
        default_factory=dict,
        description="Parameter -> list of values (grid or random choice), or for random search "
        "a distribution {distribution: uniform|loguniform|randint, low: L, high: H}.",
    )
    n_iter: int = Field(10, ge=1, le=1000, description="Parameter sets drawn by random search.")

    @field_validator("estimator")
    @classmethod
    def _looks_like_import_path(cls, v: str) -> str:
        if "." not in v or v.startswith(".") or v.endswith("."):
            raise ValueError(f"{v!r} is not an import path like 'package.module.Class'")
        return v

    @model_validator(mode="after")
    def _search_is_complete(self) -> CandidateConfig:
        if self.search != "none" and not self.search_space:
            raise ValueError(
                f"candidate {self.name!r}: search {self.search!r} needs a search_space"
            )
        if self.search == "none" and self.search_space:
            raise ValueError(
                f"candidate {self.name!r} has a search_space but search is 'none'; set search: grid or random"
            )
        both = sorted(set(self.params) & set(self.search_space))
        if both:
            raise ValueError(
                f"candidate {self.name!r}: {both} appear in both params and search_space; keep each in one"
            )
        for key, space in self.search_space.items():
            if isinstance(space, list) and space:
                continue
            if self.search == "random" and isinstance(space, dict):
                if space.get("distribution") not in ("uniform", "loguniform", "randint"):
                    raise ValueError(
                        f"candidate {self.name!r}: search_space.{key}.distribution must be uniform, loguniform or randint"
                    )
                if (
                    set(space) != {"distribution", "low", "high"}
                    or not space["low"] < space["high"]
                ):
                    raise ValueError(
                        f"candidate {self.name!r}: search_space.{key} needs exactly distribution, low and high with low < high"
                    )
                continue
            raise ValueError(
                f"candidate {self.name!r}: search_space.{key} must be a non-empty list of values"
                + (" or a distribution mapping" if self.search == "random" else "")
            )
        return self


CVStrategy = Literal[
    "auto",
    "holdout",
    "kfold",
    "stratified_kfold",
    "leave_one_out",
    "group_kfold",
    "time_series",
    "repeated_kfold",
]


class CVConfig(_Section):
    """Cross-validation of candidates: the strategy and what it needs.

    ``auto`` is ``time_series`` whenever ``data.timestamp`` is set (never validate on the
    past), else ``stratified_kfold`` for classification and ``kfold`` for regression.
    """

    strategy: CVStrategy = "auto"
    n_splits: int = Field(5, ge=2, le=50)
    shuffle: bool = True
    test_fraction: float = Field(
        0.2, gt=0, lt=1, description="holdout: share of the training rows used for validation."
    )
    n_repeats: int = Field(3, ge=1, le=50, description="repeated_kfold: reshuffled repetitions.")
    gap: int = Field(
        0, ge=0, description="time_series: rows left out between train and validation."
    )
    group_column: str | None = Field(
        None, description="group_kfold: rows of a group stay together."
    )
    max_loo_rows: int = Field(
        2000, ge=2, description="leave_one_out is refused above this many training rows."
    )
    nested: bool = Field(
        False, description="Searched candidates: inner search per outer fold, outer estimate."
    )
    inner_splits: int = Field(3, ge=2, le=20, description="Folds of the inner (search) CV.")
    k_sensitivity: tuple[int, ...] = Field(
        (), description="Repeat the best candidate's estimate for each k, e.g. [3, 5, 10]."
    )

    @model_validator(mode="after")
    def _strategy_is_complete(self) -> CVConfig:
        if self.strategy == "group_kfold" and not self.group_column:
            raise ValueError("strategy group_kfold needs training.cv.group_column")
        bad = [k for k in self.k_sensitivity if not 2 <= k <= 50]
        if bad or len(set(self.k_sensitivity)) != len(self.k_sensitivity):
            raise ValueError(
                f"k_sensitivity must list distinct fold counts between 2 and 50; got {list(self.k_sensitivity)}"
            )
        return self


def _default_candidates() -> tuple[CandidateConfig, ...]:
    return (
        CandidateConfig(
            name="gradient_boosting",
            estimator="sklearn.ensemble.HistGradientBoostingClassifier",
            params={"max_iter": 150, "learning_rate": 0.1, "max_leaf_nodes": 15},
        ),
        CandidateConfig(
            name="logistic_regression",
            estimator="sklearn.linear_model.LogisticRegression",
            params={"C": 1.0, "max_iter": 1000},
        ),
        CandidateConfig(
            name="shallow_tree",
            estimator="sklearn.tree.DecisionTreeClassifier",
            params={"max_depth": 2},
            enabled=False,
        ),
    )


class ExecutorConfig(_Section):
    """Where CV folds and candidates run: threads or processes here, or a Dask cluster."""

    kind: Literal["threads", "processes", "dask"] = "threads"
    workers: int | None = Field(
        None, ge=1, description="Parallel workers; None = CPU count (2 for a local Dask cluster)."
    )
    address: str | None = Field(
        None,
        description="dask: scheduler address (tcp://host:8786), or 'local' for a LocalCluster.",
    )
    dask_processes: bool = Field(
        True, description="Local Dask cluster: worker processes (True) or threads in this process."
    )

    @model_validator(mode="after")
    def _dask_has_an_address(self) -> ExecutorConfig:
        if self.kind == "dask" and not self.address:
            raise ValueError(
                "training.executor.kind is dask but address is not set; give tcp://host:8786 or 'local'"
            )
        if self.kind != "dask" and self.address:
            raise ValueError(
                f"training.executor.address is set but kind is {self.kind!r}; set kind: dask or drop address"
            )
        return self


LeakageAction = Literal["refuse", "warn", "off"]


class LeakageConfig(_Section):
    """Leakage guards run before any training; each refuses, warns (recorded) or is off."""

    target_copy: LeakageAction = Field(
        "refuse", description="A feature that is (nearly) a copy of the target."
    )
    max_target_association: float = Field(
        0.98, gt=0, le=1, description="|correlation| or |2·AUC−1| of one feature with the target."
    )
    duplicates: LeakageAction = Field(
        "warn", description="Validation rows that duplicate training rows on every feature."
    )
    max_duplicate_share: float = Field(
        0.01, ge=0, lt=1, description="Largest tolerated share of duplicated validation rows."
    )
    temporal: LeakageAction = Field(
        "warn", description="Shuffled folds of timestamped data validate on the past."
    )
    preprocessed: LeakageAction = Field(
        "warn", description="A numeric feature already standardised over the whole window."
    )


class TrainingConfig(_Section):
    """Assembling training data and training candidates."""

    window_batches: int = Field(1, ge=1, description="Most recent accepted batches to train on.")
    holdout_fraction: float = Field(
        0.3,
        gt=0,
        lt=1,
        description="Newest share of the window held out for champion vs challenger.",
    )
    primary_metric: str = Field(
        "roc_auc",
        description="The metric CV and the gate decide on; it must fit data.task "
        "(binary/multiclass: roc_auc, accuracy, balanced_accuracy, f1_macro, log_loss, brier; "
        "regression: rmse, mse, mae, r2, mape).",
    )
    cv: CVConfig = CVConfig()
    executor: ExecutorConfig = ExecutorConfig()
    leakage: LeakageConfig = LeakageConfig()
    allowed_modules: tuple[str, ...] = Field(
        (),
        description="Module prefixes, besides sklearn, whose estimators candidates may name "
        "(e.g. [xgboost, lightgbm, mypkg.models]); a path outside them is refused unimported.",
    )
    candidates: tuple[CandidateConfig, ...] = Field(default_factory=_default_candidates)

    @field_validator("allowed_modules")
    @classmethod
    def _prefixes_are_module_names(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        from challenger.train.estimators import MODULE_PREFIX

        bad = [m for m in v if not MODULE_PREFIX.fullmatch(m)]
        if bad:
            raise ValueError(f"allowed_modules must be module names like 'xgboost'; got {bad}")
        return v

    @model_validator(mode="after")
    def _candidates_are_usable(self) -> TrainingConfig:
        from challenger.train.estimators import path_problem

        names = [c.name for c in self.candidates]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"candidate names must be unique; repeated: {dupes}")
        if not any(c.enabled for c in self.candidates):
            raise ValueError("training.candidates has no enabled candidate")
        for c in self.candidates:  # before anything is imported or trained
            problem = path_problem(c.estimator, self.allowed_modules)
            if problem:
                raise ValueError(f"training.candidates[{c.name}].estimator {problem}")
        return self


class SliceConfig(_Section):
    """A slice that must not regress: rows grouped by one categorical column."""

    column: str = Field(min_length=1)
    margin: float = Field(
        0.02, ge=0, description="Largest tolerated drop of the primary metric in a slice."
    )
    min_rows: int = Field(
        100, ge=10, description="Slices with fewer holdout rows are reported, not judged."
    )


class BudgetsConfig(_Section):
    """Absolute operational budgets for the challenger (None: not enforced, still measured)."""

    latency_p50_ms: float | None = Field(None, gt=0, description="Single-row prediction, median.")
    latency_p99_ms: float | None = Field(
        None, gt=0, description="Single-row prediction, 99th percentile."
    )
    model_size_mb: float | None = Field(None, gt=0)
    training_seconds: float | None = Field(None, gt=0)
    peak_memory_mb: float | None = Field(
        None,
        gt=0,
        description="Peak memory the final fit adds (resident set on Linux, else traced allocations).",
    )


class RelativeFloorsConfig(_Section):
    """Absolute values at or below which a relative budget does not apply.

    A ratio on a negligible cost is not a cost: a 0.2 MB model is 20x a 0.01 MB one, and a
    user ships either happily. A relative budget is checked only where the challenger's value
    exceeds its floor (None: the relative budget applies to any value).
    """

    latency_p50_ms: float | None = Field(5.0, ge=0, description="Single-row p50 latency, ms.")
    latency_p99_ms: float | None = Field(10.0, ge=0, description="Single-row p99 latency, ms.")
    model_size_mb: float | None = Field(10.0, ge=0, description="Model size on disk, MB.")
    training_seconds: float | None = Field(300.0, ge=0, description="Training time, seconds.")
    peak_memory_mb: float | None = Field(1024.0, ge=0, description="Peak training memory, MB.")


class RelativeBudgetsConfig(_Section):
    """Budgets as multiples of the champion's measured value (None: not enforced)."""

    latency_p50: float | None = Field(None, gt=0)
    latency_p99: float | None = Field(None, gt=0)
    model_size: float | None = Field(None, gt=0)
    training_seconds: float | None = Field(None, gt=0)
    peak_memory: float | None = Field(None, gt=0)
    floors: RelativeFloorsConfig = RelativeFloorsConfig()


class CalibrationConfig(_Section):
    """Calibration guard for probabilistic models."""

    metric: Literal["ece", "brier"] = "ece"
    max_increase: float | None = Field(
        0.05,
        ge=0,
        description="Largest tolerated increase over the champion; None disables the guard.",
    )
    min_rows: int = Field(
        1000,
        ge=0,
        description="ECE is judged on holdouts of at least this many rows (about 100 a bin). "
        "Below, its binned estimate is mostly its own upward bias (about 0.15 on 45 rows, 0.07 "
        "on 180, even for a calibrated model, against ~0 for a constant one), so the guard "
        "judges the paired bounds of the Brier score instead.",
    )


_PROPER_SCORING_RULES = ("log_loss", "brier")


class GateConfig(_Section):
    """The promotion policy (see GATE.md)."""

    mode: Literal["enabled", "dry_run", "disabled"] = "enabled"
    plots: bool = Field(
        True,
        description="Draw the holdout figures into the run's gate/ folder (ROC and "
        "precision-recall, confusion matrices or residuals; the bootstrap distribution of the "
        "difference; per-slice differences). The decision never reads them; off saves about "
        "0.4 s of every retrain (and the matplotlib import).",
    )
    rule: Literal["superiority", "non_inferiority"] = "superiority"
    min_improvement: float = Field(
        0.002,
        ge=0,
        description=(
            "Smallest improvement worth shipping. Two fits of one configuration are never exactly "
            "equally good, so 0 promotes tiny real gains ~10 % of the time in A/A runs; 0.002 AUC "
            "keeps that at 2 % with 86 % power at +0.014 (bench/bench_gate_calibration.py)."
        ),
    )
    margin: float = Field(0.01, ge=0, description="Non-inferiority margin on the primary metric.")
    confidence: float = Field(0.95, gt=0.5, lt=1)
    n_resamples: int = Field(2000, ge=200)
    resample: Literal["rows", "groups", "blocks"] = Field(
        "rows",
        description="Bootstrap unit: rows, groups of group_column, or time blocks of block_rows.",
    )
    group_column: str | None = None
    block_rows: int = Field(
        50, ge=2, description="Rows per contiguous time block with resample=blocks."
    )
    min_holdout_rows: int = Field(
        30,
        ge=10,
        description="Fewest holdout rows a PROMOTE needs; a REJECT whose upper bound is below "
        "the threshold needs no floor (its bounds are valid at any size).",
    )
    small_sample_rows: int = Field(
        500,
        ge=0,
        description="Below this many resampling units (rows, or groups) the gate decides on "
        "studentized jackknife t bounds, valid on small holdouts, instead of BCa "
        "(challenger.stats.small); 0: always BCa.",
    )
    power: float = Field(
        0.8, gt=0.5, lt=1, description="Power the rows_needed estimate of INCONCLUSIVE is made for."
    )
    decision_metrics: Literal["auto"] | dict[str, float] = Field(
        "auto",
        description="Decision-level metrics, each with the smallest improvement worth shipping "
        "in its own units: a challenger non-inferior on the primary metric (lower bound > "
        "-margin) and superior on one of them wins too, Holm-adjusted over the tests. auto: "
        "{brier: 0.001} for binary and multiclass unless the primary metric is already a "
        "proper scoring rule (log_loss, brier), none for regression; {}: off.",
    )
    first_champion_floor: float | None = Field(
        None,
        description="The first model becomes champion only if its primary metric clears this "
        "(in the metric's units and direction: a floor for scores, a ceiling for losses); "
        "None: no floor. Unset in the file, Settings fills in the primary metric's default "
        "(0.6 for roc_auc; none for every other metric, whose scale depends on the data).",
    )
    smoke_rows: int = Field(20, ge=1)
    slices: tuple[SliceConfig, ...] = Field(
        default_factory=lambda: (SliceConfig(column="channel"), SliceConfig(column="region"))
    )
    budgets: BudgetsConfig = BudgetsConfig()
    relative_budgets: RelativeBudgetsConfig = RelativeBudgetsConfig(
        latency_p99=5.0, model_size=20.0
    )
    calibration: CalibrationConfig = CalibrationConfig()
    latency_repeats: int = Field(200, ge=10, description="Single-row predictions timed per model.")

    @model_validator(mode="after")
    def _resampling_is_complete(self) -> GateConfig:
        if self.resample == "groups" and not self.group_column:
            raise ValueError("gate.resample is 'groups' but gate.group_column is not set")
        if isinstance(self.decision_metrics, dict):
            negative = sorted(m for m, v in self.decision_metrics.items() if v < 0)
            if negative:
                raise ValueError(
                    f"gate.decision_metrics: the smallest improvement must be >= 0; {negative} are not"
                )
        return self

    def decision_metrics_for(self, task: str, primary: str) -> dict[str, float]:
        """The decision-level metrics judged beside ``primary``, each with its smallest improvement.

        ``auto``: Brier (a proper scoring rule that sees a moved decision threshold, which a
        ranking metric such as ROC AUC cannot) for classification, unless the primary metric
        is itself a proper scoring rule; nothing for a regression, whose primary metric is
        already a loss on the decision scale.
        """
        if self.decision_metrics != "auto":
            return {m: v for m, v in self.decision_metrics.items() if m != primary}
        if task == "regression" or primary in _PROPER_SCORING_RULES:
            return {}
        return {"brier": 0.001}


class ShadowConfig(_Section):
    """Shadow deployment: shadow models see every request; only the champion answers."""

    models: tuple[str, ...] = Field(
        ("challenger",),
        min_length=1,
        description="Aliases or version numbers of the registered model to shadow; with "
        "previous-champion, an online promotion is watched against the champion it replaced "
        "and rolled back if it does worse.",
    )
    batch: bool = Field(
        False,
        description="Batch shadow: the monitor scores every accepted batch with the champion "
        "and these shadow versions into the prediction log (source batch); labels that arrive "
        "later are stored with them and the online analysis judges each shadow on them, "
        "whether or not a serving app runs. A shadow's failure never fails the batch.",
    )
    queue_size: int = Field(10_000, ge=10, description="Pending shadow requests before drops.")
    decision_threshold: float = Field(
        0.5,
        gt=0,
        lt=1,
        description="Score threshold of class 1: the class /predict answers (every strategy) "
        "and the decisions the shadow agreement rate compares.",
    )
    agreement_tolerance: float = Field(
        0.1,
        ge=0,
        description="Regression: the shadow agrees with the champion on a request when the two "
        "predictions differ by at most this many standard deviations of the champion's "
        "predictions on the compared requests (scale-free; 0: only equal predictions agree).",
    )
    min_requests: int = Field(500, ge=10, description="Paired requests before any decision.")
    max_error_rate: float = Field(0.01, ge=0, le=1)
    max_added_latency_ms: float = Field(
        50.0, ge=0, description="Budget for shadow p99 latency minus champion p99 latency."
    )
    psi_watch: float = Field(0.1, gt=0)
    psi_alarm: float = Field(0.25, gt=0)
    psi_bins: int = Field(10, ge=2, le=100)

    @field_validator("models")
    @classmethod
    def _distinct_models(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v) or any(not m.strip() for m in v):
            raise ValueError(f"shadow models must be distinct, non-empty names; got {list(v)}")
        if "champion" in v:
            raise ValueError("the champion answers every request; it cannot also be a shadow")
        return v


class ABConfig(_Section):
    """A/B test: sticky hash assignment of users, a sequential test on a business metric."""

    experiment: str = Field("loan-default-ab", min_length=1)
    split: float = Field(0.5, gt=0, lt=1, description="Share of users in the challenger arm.")
    balance_by: tuple[str, ...] = Field(
        (), description="Request attributes both arms must be balanced on (e.g. country)."
    )
    metric: Literal["accuracy", "brier", "log_loss", "mse", "mae", "value"] = Field(
        "brier",
        description="The per-user outcome: the business value sent with the labels, or a "
        "per-row metric of data.task (binary, multiclass: accuracy, brier, log_loss; "
        "regression: mse, mae). "
        "Unset, a regression project gets mse.",
    )
    alpha: float = Field(0.05, gt=0, lt=0.5)
    srm_alpha: float = Field(0.001, gt=0, lt=0.5)
    mixture_sd: float = Field(
        0.02, gt=0, description="mSPRT mixing sd: the effect size the test is most sensitive to."
    )
    min_users: int = Field(200, ge=10, description="Users per arm before any decision.")
    max_users: int | None = Field(
        None, ge=20, description="Stop as inconclusive after this many users in total."
    )
    # Planning (`challenger plan-ab`): what the test must be able to see, before it starts.
    mde: float | None = Field(
        None,
        gt=0,
        description="Minimum detectable effect: the smallest per-user improvement of the metric "
        "(oriented, higher is better: a Brier score 0.01 lower is 0.01) worth detecting.",
    )
    power: float = Field(0.8, gt=0, lt=1, description="Chance to detect an effect of mde.")
    daily_users: float | None = Field(
        None, gt=0, description="New users a day (default: measured from the prediction log)."
    )
    planning_sd: float | None = Field(
        None,
        gt=0,
        description="Per-user sd of the metric (default: the champion arm's in the log).",
    )


class CohortConfig(_Section):
    """Who may see a canary (empty: every user)."""

    segments: tuple[str, ...] = Field((), description="e.g. [internal] or [beta] (opted in).")
    attributes: dict[str, tuple[str, ...]] = Field(
        default_factory=dict, description="e.g. {region: [north]}"
    )


class JudgeMetricConfig(_Section):
    """One metric of the canary judge (Kayenta-style Mann-Whitney per metric)."""

    name: Literal["error_rate", "latency_ms", "brier", "log_loss", "mse", "mae"]
    critical: bool = False
    tolerance: float = Field(
        ge=0,
        description="Allowed worsening: absolute for rates and losses, relative for latency.",
    )


def _default_judge() -> tuple[JudgeMetricConfig, ...]:
    return (
        JudgeMetricConfig(name="error_rate", critical=True, tolerance=0.01),
        JudgeMetricConfig(name="latency_ms", critical=False, tolerance=0.5),
        JudgeMetricConfig(name="brier", critical=True, tolerance=0.02),
    )


def _default_regression_judge() -> tuple[JudgeMetricConfig, ...]:
    # An absolute error has the target's units: no tolerance fits every target, so the
    # default fails a canary on any significant worsening (set one in your units).
    return (*_default_judge()[:2], JudgeMetricConfig(name="mae", critical=True, tolerance=0.0))


class CanaryConfig(_Section):
    """Canary rollout: staged traffic weights over a cohort, judged stage by stage."""

    experiment: str = Field("loan-default-canary", min_length=1)
    stages: tuple[float, ...] = Field((5.0, 25.0, 50.0, 100.0), min_length=1)
    cohort: CohortConfig = CohortConfig()
    min_requests: int = Field(200, ge=10, description="Requests per arm before a stage passes.")
    min_labels: int = Field(100, ge=10, description="Labelled requests per arm for label metrics.")
    alpha: float = Field(0.01, gt=0, lt=0.5)
    pass_score: float = Field(95.0, gt=0, le=100)
    marginal_score: float = Field(75.0, ge=0, le=100)
    guard_seconds: float = Field(
        2.0, gt=0, description="How often the app checks critical metrics."
    )
    metrics: tuple[JudgeMetricConfig, ...] = Field(
        default_factory=_default_judge,
        min_length=1,
        description="Label metrics must be per-row losses of data.task (binary, multiclass: "
        "brier, log_loss; regression: mse, mae). Unset, a regression project judges "
        "error_rate, latency_ms and mae (critical, tolerance 0).",
    )

    @model_validator(mode="after")
    def _stages_are_a_ramp(self) -> CanaryConfig:
        s = list(self.stages)
        if any(w <= 0 or w > 100 for w in s) or s != sorted(set(s)):
            raise ValueError(f"canary stages must increase within (0, 100]; got {s}")
        if s[-1] != 100:
            raise ValueError(f"the last canary stage must be 100 (full rollout); got {s[-1]:g}")
        if self.marginal_score > self.pass_score:
            raise ValueError("canary marginal_score must not exceed pass_score")
        return self


class RolloutConfig(_Section):
    """How the serving router compares the challenger with the champion on live traffic."""

    strategy: Literal["champion", "shadow", "ab", "canary"] = "shadow"
    review_minutes: float | None = Field(
        15,
        gt=0,
        description="The online-analysis deployment (prefect.yaml) reviews the prediction log "
        "this often; null leaves it without an active schedule.",
    )
    shadow: ShadowConfig = ShadowConfig()
    ab: ABConfig = ABConfig()
    canary: CanaryConfig = CanaryConfig()


class EffectConfig(_Section):
    """A side effect of a prediction (a decision feed), run off the critical path."""

    name: str = Field(min_length=1)
    kind: Literal["jsonl"] = "jsonl"
    path: Path
    once_only: bool = Field(True, description="Never repeated by shadow models.")


#: Fewest characters of an admin token: a shorter one is guessable (and an empty one, compared
#: with an empty ``Authorization: Bearer`` header, would open the admin endpoints).
MIN_ADMIN_TOKEN_LENGTH = 16


class ServingConfig(_Section):
    """The serving app: where it listens, its limits, the prediction log and the flags file."""

    enabled: bool = Field(
        False,
        description="The serving app runs (challenger serve): only then does the "
        "online-analysis deployment get an active schedule.",
    )
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    admin_token: SecretStr | None = Field(
        None,
        description="Bearer token of the admin endpoints (at least 16 characters); set "
        "CHALLENGER_SERVING__ADMIN_TOKEN. Unset: the admin endpoints are off.",
    )
    flags_file: Path = Path("flags.yaml")
    prediction_log: Path = Path("data/predictions.db")
    log_enabled: bool = True
    log_wait_seconds: float = Field(
        2.0,
        gt=0,
        le=60,
        description="How long an answer waits for the commit of its log rows; an answer "
        "sent without it says logged: false.",
    )
    log_synchronous: Literal["normal", "full"] = Field(
        "normal",
        description="SQLite synchronous setting of the log (WAL): normal keeps every committed "
        "row through a crash of the process, full also through a power cut (slower).",
    )
    max_body_bytes: int = Field(1_048_576, ge=1024)
    max_records: int = Field(1000, ge=1)
    out_of_profile: Literal["refuse", "flag"] = Field(
        "refuse",
        description="A record outside the champion's training profile: refuse it (422) or "
        "answer it with the fields flagged.",
    )
    profile_tolerance: float = Field(
        1.0,
        ge=0,
        description="How far past the training data's range a number may go, as a share of "
        "that range on each side (within what validation allows).",
    )
    reload_seconds: float = Field(5.0, gt=0, description="How often aliases are re-read.")
    flags_seconds: float = Field(1.0, gt=0, description="How often the flags file is re-read.")
    model_threads: int = Field(
        1,
        ge=1,
        description="OpenMP/BLAS threads per prediction in the app and the shadow worker; "
        "more only helps large batches, and idle spinning threads steal CPU from requests.",
    )
    effects: tuple[EffectConfig, ...] = ()

    @field_validator("admin_token")
    @classmethod
    def _strong_token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return v
        # The message never shows the token, only its length.
        n = len(v.get_secret_value().strip())
        if n < MIN_ADMIN_TOKEN_LENGTH:
            what = "is empty" if n == 0 else f"has only {n} characters"
            raise ValueError(
                f"{what}; set it to at least {MIN_ADMIN_TOKEN_LENGTH} random characters "
                "(python -c 'import secrets; print(secrets.token_urlsafe(24))') or unset it "
                "to keep the admin endpoints off"
            )
        return v


_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_PREFECT_DATABASE_SCHEMES = ("postgresql+asyncpg", "sqlite+aiosqlite")


class ServiceConfig(_Section):
    """`challenger up`: a Prefect server, a worker and the MLflow UI on this machine."""

    host: str = Field("127.0.0.1", description="Loopback address both servers listen on.")
    prefect_port: int = Field(4200, ge=1, le=65535)
    mlflow_port: int = Field(5000, ge=1, le=65535)
    runner_port: int = Field(
        4210,
        ge=1,
        le=65535,
        description="The warm runner `challenger up` starts: `challenger monitor` hands its "
        "batch to it instead of paying a fresh interpreter's imports.",
    )
    state_dir: Path = Field(
        Path(".challenger"), description="Pid files, logs and the Prefect database."
    )
    startup_timeout: float = Field(120, gt=0, description="Seconds to wait for each server.")
    prefect_database_url: SecretStr | None = Field(
        None,
        description=(
            "The Prefect server's database: postgresql+asyncpg://user:password@host:5432/prefect "
            "(set CHALLENGER_SERVICE__PREFECT_DATABASE_URL to keep the password out of the file); "
            "default: prefect.db in state_dir. PREFECT_API_DATABASE_CONNECTION_URL wins."
        ),
    )

    @field_validator("prefect_database_url")
    @classmethod
    def _prefect_database_driver(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return v
        # The value may hold a password: messages name only its scheme.
        scheme, sep, _ = v.get_secret_value().partition("://")
        if not sep:
            raise ValueError(
                "is not a URL; write it as postgresql+asyncpg://user:password@host:5432/prefect"
            )
        if scheme not in _PREFECT_DATABASE_SCHEMES:
            raise ValueError(
                f"has the scheme {scheme!r}, but the Prefect server needs an async driver; "
                "write it as postgresql+asyncpg://user:password@host:5432/prefect "
                "(or sqlite+aiosqlite:///path/prefect.db)"
            )
        return v

    @field_validator("host")
    @classmethod
    def _loopback_only(cls, v: str) -> str:
        if v not in _LOOPBACK:
            raise ValueError(
                f"{v!r} is not a loopback address; challenger up serves this machine only "
                f"(use one of {', '.join(_LOOPBACK)}; see the README for shared servers)"
            )
        return v

    @model_validator(mode="after")
    def _distinct_ports(self) -> ServiceConfig:
        ports = {"prefect_port": self.prefect_port, "mlflow_port": self.mlflow_port}
        ports["runner_port"] = self.runner_port
        for i, (a, pa) in enumerate(ports.items()):
            for b, pb in list(ports.items())[i + 1 :]:
                if pa == pb:
                    raise ValueError(f"{a} and {b} are both {pa}")
        return self


class Settings(BaseSettings):
    """The whole configuration: ``challenger.yaml`` plus ``CHALLENGER_*`` overrides."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix="CHALLENGER_",
        env_nested_delimiter="__",
    )

    project: ProjectConfig = ProjectConfig()
    mlflow: MlflowConfig = MlflowConfig()
    data: DataConfig = DataConfig()
    simulator: SimulatorConfig = SimulatorConfig()
    validation: ValidationConfig = ValidationConfig()
    drift: DriftConfig = DriftConfig()
    triggers: TriggersConfig = TriggersConfig()
    training: TrainingConfig = TrainingConfig()
    gate: GateConfig = GateConfig()
    rollout: RolloutConfig = RolloutConfig()
    serving: ServingConfig = ServingConfig()
    service: ServiceConfig = ServiceConfig()
    root: Path = Field(Path("."), description="Project root; set by load_config, not by the file.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment variables win over the file (passed as init kwargs).
        return (env_settings, init_settings)

    @model_validator(mode="before")
    @classmethod
    def _floor_follows_the_metric(cls, data: Any) -> Any:
        return _fill_rollout_metrics(_fill_floor(data))

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        problems = cross_check(dict(self))
        if problems:
            raise _problems_error(problems)
        return self

    # ---- resolved locations -------------------------------------------------------------
    def path(self, p: Path) -> Path:
        """Resolve a configured path against the project root."""
        return p if p.is_absolute() else (self.root / p).resolve()

    @property
    def tracking_uri(self) -> str:
        """The MLflow tracking URI: env MLFLOW_TRACKING_URI, the file, or the embedded sqlite."""
        env = os.environ.get("MLFLOW_TRACKING_URI")
        if env:
            return env
        if self.mlflow.tracking_uri:
            return self.mlflow.tracking_uri
        return self.embedded_tracking_uri

    @property
    def embedded_tracking_uri(self) -> str:
        """The project's embedded default store, the only one created on first use."""
        return f"sqlite:///{self.path(EMBEDDED_STORE)}"

    @property
    def artifact_root(self) -> str:
        """Where new experiments keep artifacts."""
        if self.mlflow.artifact_root:
            return self.mlflow.artifact_root
        return self.path(Path("mlflow/artifacts")).as_uri()

    def enabled_candidates(self, names: tuple[str, ...] = ()) -> tuple[CandidateConfig, ...]:
        """The candidates to train: those named, or every enabled one."""
        by_name = {c.name: c for c in self.training.candidates}
        if names:
            missing = [n for n in names if n not in by_name]
            if missing:
                raise ConfigError(
                    f"unknown candidate {missing[0]!r}; training.candidates has: {sorted(by_name)}"
                )
            return tuple(by_name[n] for n in names)
        return tuple(c for c in self.training.candidates if c.enabled)


_DEFAULT_METRIC = "roc_auc"

DEFAULT_FLOORS: dict[str, float] = {"roc_auc": 0.6}
"""The first-champion floor a metric gets when ``gate.first_champion_floor`` is not set."""

Problem = tuple[str, str]
"""One configuration problem: the key it is about, and what is wrong with it."""


def _problems_error(problems: list[Problem]) -> ValueError:
    """The ``ValueError`` ``Settings`` raises for failed cross-checks; it carries each one.

    Pydantic keeps the raised error in the validation error's context, where
    :func:`_carried` finds the problems again, key by key.
    """
    return ValueError("; ".join(f"{key}: {msg}" for key, msg in problems), problems)


def _carried(cause: Any) -> list[Problem] | None:
    """The problems a :func:`_problems_error` carries; None for any other error."""
    if isinstance(cause, ValueError) and len(cause.args) == 2 and isinstance(cause.args[1], list):
        return list(cause.args[1])
    return None


def _fill_floor(data: Any) -> Any:
    """Settings input with an unset ``gate.first_champion_floor`` set from the primary metric.

    0.6 is an AUC-sized floor; as an RMSE ceiling it refused every first model of a
    regression. A floor left unset therefore follows the metric (:data:`DEFAULT_FLOORS`).
    """
    if not isinstance(data, dict):
        return data
    gate, training = data.get("gate"), data.get("training")
    if isinstance(gate, BaseModel):
        if "first_champion_floor" in gate.model_fields_set:
            return data
    elif not isinstance(gate, dict | None) or "first_champion_floor" in (gate or {}):
        return data
    if isinstance(training, BaseModel):
        metric = getattr(training, "primary_metric", None)
    elif isinstance(training, dict):
        metric = training.get("primary_metric", _DEFAULT_METRIC)
    else:
        metric = _DEFAULT_METRIC
    floor = DEFAULT_FLOORS.get(metric) if isinstance(metric, str) else None
    if isinstance(gate, BaseModel):
        return {**data, "gate": gate.model_copy(update={"first_champion_floor": floor})}
    return {**data, "gate": {**(gate or {}), "first_champion_floor": floor}}


def _fill_rollout_metrics(data: Any) -> Any:
    """Settings input whose unset A/B metric and canary metrics follow ``data.task``.

    The defaults (brier) are binary metrics; a regression project left them unset gets mse
    for the A/B test and mae among the canary's metrics (see ``ABConfig``, ``CanaryConfig``).
    Only plain mappings are filled: a section passed as a model was set on purpose.
    """
    if not isinstance(data, dict):
        return data
    section = data.get("data")
    task = section.get("task") if isinstance(section, dict) else getattr(section, "task", None)
    rollout = data.get("rollout")
    if task != "regression" or not isinstance(rollout, dict | None):
        return data
    rollout = dict(rollout or {})
    ab, canary = rollout.get("ab"), rollout.get("canary")
    if isinstance(ab, dict | None) and "metric" not in (ab or {}):
        rollout["ab"] = {**(ab or {}), "metric": "mse"}
    if isinstance(canary, dict | None) and "metrics" not in (canary or {}):
        judge = [m.model_dump() for m in _default_regression_judge()]
        rollout["canary"] = {**(canary or {}), "metrics": judge}
    return {**data, "rollout": rollout}


def _rollout_problems(task: str, rollout: RolloutConfig) -> list[Problem]:
    """The A/B and canary metrics that have no per-request form for the task."""
    from challenger.metrics import CATALOGUE, per_row_metrics

    fits = per_row_metrics(task)
    losses = tuple(n for n in fits if not CATALOGUE[n].higher_is_better)
    out: list[Problem] = []
    if rollout.ab.metric != "value" and rollout.ab.metric not in fits:
        out.append((
            "rollout.ab.metric",
            f"{rollout.ab.metric!r} has no per-request form for data.task {task!r}; use one of "
            f"{', '.join((*fits, 'value'))}",
        ))  # fmt: skip
    for i, m in enumerate(rollout.canary.metrics):
        if m.name not in ("error_rate", "latency_ms") and m.name not in losses:
            out.append((
                f"rollout.canary.metrics[{i}].name",
                f"{m.name!r} has no per-request form for data.task {task!r}; use error_rate, "
                f"latency_ms or one of {', '.join(losses)}",
            ))  # fmt: skip
    return out


def _floor_problem(key: str, metric: str, floor: float | None) -> Problem | None:
    from challenger.metrics import CATALOGUE, value_range

    if floor is None or metric not in CATALOGUE:
        return None
    lo, hi = value_range(metric)
    if CATALOGUE[metric].higher_is_better:
        if not lo <= floor < hi:
            wanted = f"below {hi:g}" if lo == -math.inf else f"in [{lo:g}, {hi:g})"
            return key, (
                f"{floor:g} is not a floor {metric} can clear (higher is better, at most {hi:g}); "
                f"give a value {wanted} or null"
            )
    elif not lo < floor <= hi:
        return key, (
            f"{floor:g} is not a ceiling {metric} can meet (a loss: lower is better, at least "
            f"{lo:g}); give a value above {lo:g} in {metric}'s units, or null"
        )
    return None


def cross_check(sections: dict[str, Any]) -> list[Problem]:
    """Every check between sections that fails, each with the key it names.

    Args:
        sections: Validated sections by name (``data``, ``training``, ``validation``,
            ``drift``, ``gate``, ...); a check whose sections are absent is skipped, so a
            file whose other sections are broken is still checked as far as it can be.
    """
    from challenger.metrics import primary_metrics

    out: list[Problem] = []
    data: DataConfig | None = sections.get("data")
    training: TrainingConfig | None = sections.get("training")
    validation: ValidationConfig | None = sections.get("validation")
    drift: DriftConfig | None = sections.get("drift")
    gate: GateConfig | None = sections.get("gate")
    triggers: TriggersConfig | None = sections.get("triggers")
    rollout: RolloutConfig | None = sections.get("rollout")
    metric = training.primary_metric if training is not None else None
    if data is not None and rollout is not None:
        out += _rollout_problems(data.task, rollout)
    if data is not None and training is not None:
        fits = primary_metrics(data.task)
        if training.primary_metric not in fits:
            out.append((
                "training.primary_metric",
                f"{training.primary_metric!r} does not fit data.task {data.task!r}; use one of "
                f"{', '.join(fits)}",
            ))  # fmt: skip
            metric = None  # its floors cannot be judged
    if data is not None and training is not None and triggers is not None:
        fits = primary_metrics(data.task)
        for name in triggers.performance.also_watch or {}:
            if name not in fits:
                out.append((
                    "triggers.performance.also_watch",
                    f"names {name!r}, which does not fit data.task {data.task!r}; use one of "
                    f"{', '.join(fits)}",
                ))  # fmt: skip
    if data is not None and validation is not None:
        unknown = sorted(set(validation.ranges) - set(data.numeric))
        if unknown:
            out.append((
                "validation.ranges",
                f"names columns that are not in data.numeric: {unknown}",
            ))  # fmt: skip
    if validation is not None:
        for col, (lo, hi) in validation.ranges.items():
            if lo > hi:
                out.append((
                    f"validation.ranges.{col}", f"lower bound {lo} is above upper bound {hi}",
                ))  # fmt: skip
    if data is not None and drift is not None:
        for key in ("per_column_method", "per_column_threshold"):
            strangers = sorted(set(getattr(drift, key)) - set(data.features))
            if strangers:
                out.append((f"drift.{key}", f"names columns that are not features: {strangers}"))
    if data is not None and gate is not None and isinstance(gate.decision_metrics, dict):
        fits = primary_metrics(data.task)
        for name in gate.decision_metrics:
            if name not in fits:
                out.append((
                    "gate.decision_metrics",
                    f"names {name!r}, which does not fit data.task {data.task!r}; use one of "
                    f"{', '.join(fits)}",
                ))  # fmt: skip
    if data is not None and gate is not None:
        for i, sl in enumerate(gate.slices):
            if sl.column not in data.categorical:
                out.append((
                    f"gate.slices[{i}].column",
                    f"{sl.column!r} is not a column in data.categorical "
                    f"({', '.join(data.categorical) or 'none'})",
                ))  # fmt: skip
    if metric is not None:
        floors = [
            ("gate.first_champion_floor", gate.first_champion_floor if gate else None),
            ("triggers.performance.floor", triggers.performance.floor if triggers else None),
        ]
        out += [p for key, f in floors if (p := _floor_problem(key, metric, f)) is not None]
    return out


def _problems_of(exc: ValidationError) -> list[Problem]:
    out: list[Problem] = []
    for err in exc.errors():
        cause = (err.get("ctx") or {}).get("error")
        carried = _carried(cause)
        if carried is not None:
            out += carried
            continue
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see challenger.yaml for the keys)"
        elif isinstance(err.get("input"), int | float) and err["type"] != "missing":
            # numbers only: a string may be a URL with its password
            msg = f"{msg} (got {err['input']!r})"
        out.append((loc, msg))
    return out


def _format_validation_error(exc: ValidationError, source: str) -> str:
    return _format_problems(_problems_of(exc), source)


def _format_problems(problems: list[Problem], source: str) -> str:
    if len(problems) == 1:
        key, msg = problems[0]
        return f"invalid configuration in {source}: {key}: {msg}"
    lines = "".join(f"\n  - {key}: {msg}" for key, msg in problems)
    return f"invalid configuration in {source}, {len(problems)} problems:{lines}"


def _merged(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in patch.items():
        out[k] = _merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _section_problems(raw: dict[str, Any]) -> list[Problem]:
    """The cross-checks over the sections that validate on their own (env overrides merged)."""
    from pydantic_settings import EnvSettingsSource

    merged = _merged(raw, EnvSettingsSource(Settings)())
    merged = _fill_rollout_metrics(_fill_floor(merged))
    sections: dict[str, Any] = {}
    for name, field in Settings.model_fields.items():
        kind = field.annotation
        if name == "root" or not (isinstance(kind, type) and issubclass(kind, BaseModel)):
            continue
        section = merged.get(name) or {}
        for _ in range(5):  # drop the keys already reported, so the rest is still checked
            try:
                sections[name] = kind.model_validate(section)
                break
            except ValidationError as exc:
                if not isinstance(section, dict):
                    break
                section = _without(section, [e["loc"] for e in exc.errors()])
    return cross_check(sections)


def _child(node: Any, part: int | str) -> Any:
    """``node[part]`` of a parsed YAML tree; None where there is no such key or item."""
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and part < len(node):
        return node[part]
    return None


def _without(section: dict[str, Any], locs: list[tuple[int | str, ...]]) -> dict[str, Any]:
    """A copy of ``section`` without the keys at ``locs`` (their defaults apply instead)."""
    out: Any = copy.deepcopy(section)
    for loc in locs:
        node: Any = out
        for part in loc[:-1]:
            node = _child(node, part)
        if isinstance(node, dict) and loc and loc[-1] in node:
            del node[loc[-1]]
    return dict(out)


class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, except that a key given twice in one mapping is refused.

    PyYAML keeps the last of two equal keys, so a second ``gate:`` section silently replaced
    the first; here it is a :class:`~challenger.errors.ConfigError` naming the key's path and
    both lines.
    """

    def compose_document(self) -> yaml.Node | None:
        node: yaml.Node | None = super().compose_document()
        self._paths: dict[int, str] = {}
        if node is not None:
            self._index(node, "")
        return node

    def _index(self, node: yaml.Node, path: str) -> None:
        self._paths[id(node)] = path
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                label = key.value if isinstance(key, yaml.ScalarNode) else "?"
                self._index(value, f"{path}.{label}" if path else str(label))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._index(item, f"{path}[{i}]")

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *defaults` overrides on purpose
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, str | int | float | bool) and key in seen:
                path = self._paths.get(id(node), "")
                where = f"{path}.{key}" if path else str(key)
                raise ConfigError(
                    f"{where} is given twice (lines {seen[key]} and {line}); keep one"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path) -> Any:
    """Parse a YAML file with :class:`UniqueKeyLoader`.

    Raises:
        ConfigError: The file cannot be read, is not YAML, or gives a key twice.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc}") from exc
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)
    except ConfigError as exc:
        raise ConfigError(f"configuration file {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"configuration file {path} is not valid YAML: {exc}") from exc


def find_config(path: Path | None) -> Path | None:
    """The configuration file to use: the given one, or ./challenger.yaml if it exists."""
    if path is not None:
        return path
    candidate = Path.cwd() / DEFAULT_CONFIG_NAME
    return candidate if candidate.is_file() else None


def load_config(path: Path | str | None = None) -> Settings:
    """Load and validate the configuration.

    Args:
        path: A ``challenger.yaml``; ``None`` uses ``./challenger.yaml`` when it exists,
            otherwise the built-in defaults.

    Returns:
        The frozen settings, with ``root`` set to the file's folder.

    Raises:
        ConfigError: The file is missing, is not YAML, or a key or value is invalid.
    """
    cfg_path = find_config(Path(path) if path is not None else None)
    raw: dict[str, Any] = {}
    if cfg_path is not None:
        if not cfg_path.is_file():
            raise ConfigError(
                f"configuration file {cfg_path} does not exist; pass --config PATH to an existing "
                "challenger.yaml (or write one from your data: challenger init DATA --target COLUMN)"
            )
        loaded = read_yaml(cfg_path)
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(
                f"configuration file {cfg_path} must be a mapping of sections, not {type(loaded).__name__}"
            )
        if "root" in loaded:
            raise ConfigError(
                f"configuration file {cfg_path}: 'root' is not a setting; it is the file's folder"
            )
        raw = loaded
        root = cfg_path.resolve().parent
    else:
        root = Path.cwd().resolve()
    try:
        return Settings(**raw, root=root)
    except ValidationError as exc:
        problems = _problems_of(exc)
        if not any(_carried((e.get("ctx") or {}).get("error")) for e in exc.errors()):
            # Field errors stop pydantic before the cross-checks: run them on the sections
            # that are valid, so that one pass reports every problem.
            problems += [p for p in _section_problems(raw) if p not in problems]
        source = str(cfg_path or "the built-in defaults/environment")
        raise ConfigError(_format_problems(problems, source)) from exc
