"""The one typed configuration tree, loaded once at the edge and passed down.

``challenger.yaml`` is validated by these pydantic models (frozen, ``extra="forbid"``):
an unknown key or a bad value fails with a message that names the key. Environment
variables override the file: ``CHALLENGER_<SECTION>__<KEY>``, e.g.
``CHALLENGER_GATE__CONFIDENCE=0.99``; ``MLFLOW_TRACKING_URI`` overrides the MLflow store.

Relative paths are resolved against the folder that holds the configuration file (the
*project root*); without a file, against the current directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
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


class MlflowConfig(_Section):
    """Where the MLflow tracking store and registry live."""

    tracking_uri: str | None = Field(
        None, description="Defaults to sqlite:///<root>/mlflow/mlflow.db; MLFLOW_TRACKING_URI wins."
    )
    artifact_root: str | None = Field(None, description="Defaults to <root>/mlflow/artifacts.")


class DataConfig(_Section):
    """The shape of the data: target, timestamp, feature columns and where batches go."""

    task: Literal["classification"] = "classification"
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
    accepted_dir: Path = Path("data/accepted")
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


class DriftConfig(_Section):
    """Evidently drift detection settings."""

    method: str | None = Field(
        None, description="Evidently stattest for every column; None = its defaults."
    )
    threshold: float | None = Field(None, gt=0)
    per_column_method: dict[str, str] = Field(default_factory=dict)
    max_rows: int = Field(
        50_000, ge=100, description="Rows sampled per side for the Evidently report."
    )


class TriggersConfig(_Section):
    """When a monitored batch starts a retrain."""

    drift_share: float = Field(
        0.3, gt=0, le=1, description="Retrain when at least this share of features drifted."
    )
    performance_margin: float = Field(
        0.03,
        ge=0,
        description="Retrain when the champion's metric on a labelled batch falls this much below its holdout value.",
    )
    performance_floor: float | None = Field(
        None,
        description="Retrain when the champion's metric on a labelled batch falls below this value.",
    )
    cooldown_batches: int = Field(
        0, ge=0, description="Batches after a retrain during which data triggers are ignored."
    )


class CandidateConfig(_Section):
    """One model family: a scikit-learn compatible estimator and its parameters."""

    name: str = Field(min_length=1)
    estimator: str = Field(description="Import path, e.g. sklearn.linear_model.LogisticRegression.")
    params: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True

    @field_validator("estimator")
    @classmethod
    def _looks_like_import_path(cls, v: str) -> str:
        if "." not in v or v.startswith(".") or v.endswith("."):
            raise ValueError(f"{v!r} is not an import path like 'package.module.Class'")
        return v


class CVConfig(_Section):
    """Cross-validation of candidates."""

    strategy: Literal["stratified_kfold"] = "stratified_kfold"
    n_splits: int = Field(5, ge=2, le=50)
    shuffle: bool = True


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


class TrainingConfig(_Section):
    """Assembling training data and training candidates."""

    window_batches: int = Field(1, ge=1, description="Most recent accepted batches to train on.")
    holdout_fraction: float = Field(
        0.3,
        gt=0,
        lt=1,
        description="Newest share of the window held out for champion vs challenger.",
    )
    primary_metric: Literal["roc_auc", "accuracy", "log_loss", "brier"] = "roc_auc"
    cv: CVConfig = CVConfig()
    candidates: tuple[CandidateConfig, ...] = Field(default_factory=_default_candidates)

    @model_validator(mode="after")
    def _candidates_are_usable(self) -> TrainingConfig:
        names = [c.name for c in self.candidates]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"candidate names must be unique; repeated: {dupes}")
        if not any(c.enabled for c in self.candidates):
            raise ValueError("training.candidates has no enabled candidate")
        return self


class GateConfig(_Section):
    """The promotion policy (see GATE.md)."""

    mode: Literal["enabled", "dry_run", "disabled"] = "enabled"
    rule: Literal["superiority", "non_inferiority"] = "superiority"
    min_improvement: float = Field(0.0, ge=0)
    margin: float = Field(0.01, ge=0, description="Non-inferiority margin on the primary metric.")
    confidence: float = Field(0.95, gt=0.5, lt=1)
    n_resamples: int = Field(2000, ge=200)
    min_holdout_rows: int = Field(200, ge=20)
    first_champion_floor: float = Field(
        0.6, description="The first model becomes champion only if its primary metric clears this."
    )
    smoke_rows: int = Field(20, ge=1)


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

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        known = set(self.data.numeric)
        unknown = sorted(set(self.validation.ranges) - known)
        if unknown:
            raise ValueError(
                f"validation.ranges names columns that are not in data.numeric: {unknown}"
            )
        for col, (lo, hi) in self.validation.ranges.items():
            if lo > hi:
                raise ValueError(
                    f"validation.ranges.{col}: lower bound {lo} is above upper bound {hi}"
                )
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
        return f"sqlite:///{self.path(Path('mlflow/mlflow.db'))}"

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


def _format_validation_error(exc: ValidationError, source: str) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see challenger.yaml for the keys)"
        parts.append(f"{loc}: {msg}")
    return f"invalid configuration in {source}: " + "; ".join(parts)


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
                f"configuration file {cfg_path} does not exist; pass --config PATH to an existing challenger.yaml"
            )
        try:
            loaded = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"configuration file {cfg_path} is not valid YAML: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"cannot read configuration file {cfg_path}: {exc}") from exc
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
        raise ConfigError(
            _format_validation_error(exc, str(cfg_path or "the built-in defaults/environment"))
        ) from exc
