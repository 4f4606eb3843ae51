"""The MLflow experiment of a project: its runs, their parameters, metrics and artifacts.

Monitor, retrain, promote and online runs all live in ``project.experiment``. A retrain run
also carries the logged model, the drift reference (a bounded sample of the training data)
that later monitor runs compare batches with, and the fingerprints of every row the model
trained on, with which each later judgement proves its holdout unseen.
"""

from __future__ import annotations

import json
import logging
import socket
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from challenger.config import Settings
from challenger.store.connection import connect, may_create, unavailable

REFERENCE_ARTIFACT = "reference/reference.parquet"
SKETCH_ARTIFACT = "reference/sketch.json"
"""The per-column sketch of the reference rows (``challenger.monitor.drift.sketch``)."""
TRAINING_ROWS_ARTIFACT = "reference/training_rows.npy"
"""The sorted distinct uint64 fingerprints of the rows a version was trained on."""
PROCESS_TAG = "challenger.process"  # host:pid:start time of the process running a run


#: The MLflow 3 UI opens an experiment of this kind on its classic runs view, not the GenAI
#: overview (traces, token cost).
EXPERIMENT_KIND = "mlflow.experimentKind"
CLASSIC_ML = "custom_model_development"


def this_process() -> str:
    """This process as ``host:pid:start time`` (the start time tells a reused pid apart)."""
    import psutil

    me = psutil.Process()
    return f"{socket.gethostname()}:{me.pid}:{me.create_time():.2f}"


def process_alive(tag: str | None) -> bool:
    """Whether the process a :func:`this_process` tag names still runs.

    A process on another host (or a run without the tag) counts as alive: only this
    host's processes can be checked.
    """
    import psutil

    if not tag or tag.count(":") < 2:
        return True
    host, pid, started = tag.rsplit(":", 2)
    if host != socket.gethostname():
        return True
    try:
        proc = psutil.Process(int(pid))
        same = abs(proc.create_time() - float(started)) < 0.5
        return bool(same and proc.status() != psutil.STATUS_ZOMBIE)
    except (psutil.NoSuchProcess, ValueError):
        return False


MAX_REFERENCE_ROWS = 20_000


def _pip_requirements() -> list[str]:
    """The packages a logged scikit-learn pipeline needs, at the versions that trained it."""
    from importlib.metadata import version

    return [
        f"{dist}=={version(dist)}"
        for dist in ("scikit-learn", "cloudpickle", "numpy", "pandas", "scipy")
    ]


class Tracking:
    """A connection to one MLflow store and one experiment."""

    def __init__(
        self, tracking_uri: str, experiment: str, artifact_root: str, *, create: bool = False
    ) -> None:
        """Open the store read-write (a new one only with ``create``) and the experiment."""
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment
        self.artifact_root = artifact_root
        self._mlflow, self.client = connect(tracking_uri, create=create)
        try:
            self.experiment_id = self._ensure_experiment()
        except Exception as exc:
            raise unavailable(tracking_uri, exc) from exc

    @classmethod
    def from_settings(cls, settings: Settings) -> Tracking:
        """Connect to the store and experiment named by the configuration.

        Only the project's embedded default store is created when missing.
        """
        return cls(
            settings.tracking_uri,
            settings.project.experiment,
            settings.artifact_root,
            create=may_create(settings),
        )

    def _ensure_experiment(self) -> str:
        exp = self.client.get_experiment_by_name(self.experiment_name)
        if exp is not None:
            if exp.lifecycle_stage == "deleted":
                self.client.restore_experiment(exp.experiment_id)
            if exp.tags.get(EXPERIMENT_KIND) != CLASSIC_ML:
                self.client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND, CLASSIC_ML)
            return str(exp.experiment_id)
        return str(
            self.client.create_experiment(
                self.experiment_name,
                artifact_location=self.artifact_root,
                tags={EXPERIMENT_KIND: CLASSIC_ML},
            )
        )

    # ---- tracking -------------------------------------------------------------------------
    @contextmanager
    def start_run(
        self, run_name: str, tags: Mapping[str, str] | None = None, nested: bool = False
    ) -> Iterator[str]:
        """An MLflow run (nested under the active one when ``nested``); yields its id.

        The run is tagged with the process that runs it (``challenger.process``), so that a
        later run can tell a run in progress from one whose process was killed
        (:meth:`close_dead_runs`).
        """
        with self._mlflow.start_run(
            experiment_id=self.experiment_id,
            run_name=run_name,
            nested=nested,
            tags={PROCESS_TAG: this_process()} | dict(tags or {}),
        ) as run:
            yield str(run.info.run_id)

    def run_alive(self, run_id: str) -> bool:
        """Whether a run is still in progress (RUNNING, and its process not known to be dead)."""
        from mlflow.exceptions import MlflowException

        try:
            run = self.client.get_run(run_id)
        except MlflowException:
            return False
        if run.info.status != "RUNNING":
            return False
        return process_alive(run.data.tags.get(PROCESS_TAG))

    def close_dead_runs(self) -> list[str]:
        """Mark KILLED every RUNNING run of this experiment whose process on this host is gone."""
        closed = []
        for run in self.client.search_runs(
            [self.experiment_id], filter_string="attributes.status = 'RUNNING'", max_results=1000
        ):
            if not process_alive(run.data.tags.get(PROCESS_TAG)):
                self.client.set_terminated(run.info.run_id, status="KILLED")
                closed.append(f"run {run.info.run_id} ({run.info.run_name}): RUNNING -> KILLED")
        return closed

    def active_run_id(self) -> str | None:
        """The id of the active run, if any."""
        run = self._mlflow.active_run()
        return None if run is None else str(run.info.run_id)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log parameters on the active run (values stringified)."""
        self._mlflow.log_params({k: str(v)[:500] for k, v in params.items()})

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log metrics on the active run."""
        self._mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def log_batch(
        self,
        metrics: Mapping[str, float] | None = None,
        series: Mapping[str, Sequence[float]] | None = None,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Log metrics, per-step metric series (value i at step i), params and tags on the
        active run in one write (MLflow's ``log_batch``), not one per value."""
        from mlflow.entities import Metric, Param, RunTag

        run_id = self.active_run_id()
        if run_id is None:
            raise RuntimeError("log_batch needs an active run")
        now = int(time.time() * 1000)
        entries = [Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()]
        for k, values in (series or {}).items():
            entries += [Metric(k, float(v), now, i) for i, v in enumerate(values)]
        self.client.log_batch(
            run_id,
            metrics=entries,
            params=[Param(k, str(v)[:500]) for k, v in (params or {}).items()],
            tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()],
        )

    def set_run_tags(self, tags: Mapping[str, str]) -> None:
        """Tag the active run."""
        self._mlflow.set_tags(dict(tags))

    def log_text(self, text: str, artifact_file: str) -> None:
        """A text artifact (markdown report, JSON) on the active run."""
        self._mlflow.log_text(text, artifact_file)

    def log_dict(self, data: Mapping[str, Any], artifact_file: str, indent: int | None = 2) -> None:
        """A JSON artifact on the active run (``indent=None``: compact, for machine data;
        Python's JSON encoder is about twice as fast without indentation)."""
        self._mlflow.log_text(json.dumps(data, indent=indent, default=str), artifact_file)

    def log_file(self, path: Path, artifact_path: str | None = None) -> None:
        """Attach a local file to the active run."""
        self._mlflow.log_artifact(str(path), artifact_path)

    def log_reference(self, frame: pd.DataFrame, seed: int) -> pd.DataFrame:
        """Log a bounded sample of the training data as the drift reference of this run.

        Returns:
            The logged rows (the sketch logged beside them is of these same rows).
        """
        sample = (
            frame.sample(n=min(len(frame), MAX_REFERENCE_ROWS), random_state=seed)
            if len(frame) > MAX_REFERENCE_ROWS
            else frame
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "reference.parquet"
            sample.to_parquet(path, index=False)
            self._mlflow.log_artifact(str(path), "reference")
        return sample

    def log_training_rows(self, fingerprints: np.ndarray) -> None:
        """Log the fingerprints of the rows this run's model trained on, beside the reference.

        A sorted array of distinct uint64 row hashes (8 bytes a row): what lets a later
        judgement prove that no holdout row was seen in training.
        """
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / Path(TRAINING_ROWS_ARTIFACT).name
            np.save(path, np.asarray(fingerprints, dtype=np.uint64), allow_pickle=False)
            self._mlflow.log_artifact(str(path), str(Path(TRAINING_ROWS_ARTIFACT).parent))

    def load_training_rows(self, run_id: str | None) -> np.ndarray | None:
        """The training-row fingerprints a retrain run logged (None: not recorded)."""
        local = self._download(run_id, TRAINING_ROWS_ARTIFACT)
        if local is None:
            return None
        try:
            return np.asarray(np.load(local, allow_pickle=False), dtype=np.uint64)
        except (OSError, ValueError):
            return None

    def _download(self, run_id: str | None, artifact_path: str) -> str | None:
        """A run's artifact as a local file (None: no run, or the run has no such artifact)."""
        if not run_id:
            return None
        from mlflow.exceptions import MlflowException

        try:
            return str(
                self._mlflow.artifacts.download_artifacts(
                    run_id=run_id, artifact_path=artifact_path, tracking_uri=self.tracking_uri
                )
            )
        except (MlflowException, OSError):
            return None

    def log_model(self, model: Any, input_example: pd.DataFrame) -> str:
        """Log a fitted scikit-learn model with its signature; returns its model URI.

        The model is saved with cloudpickle, the format MLflow loads back without a list of
        trusted types: skops, MLflow's safe format, refuses at load time every class it was
        not told to trust (each candidate's estimator, every transformer of the pipeline), so
        a user's own estimator would register and then fail to load. Pickles written and read
        by this registry are as trustworthy as the store itself; MLflow's warning that says
        so at every registration is therefore dropped (the README explains the choice once).
        """
        import mlflow.sklearn
        from mlflow.models import infer_signature

        _quiet_pickle_warning()

        # Integer columns become doubles in the signature: a later batch with a missing value
        # (read as float) must not break schema enforcement at serving time.
        ints = input_example.select_dtypes(include="integer").columns
        example = input_example.astype(dict.fromkeys(ints, "float64"))
        signature = infer_signature(example, model.predict(input_example))
        info = mlflow.sklearn.log_model(
            sk_model=model,
            name="model",
            signature=signature,
            input_example=example.head(5),
            serialization_format="cloudpickle",
            # Naming the requirements skips MLflow's module-capture subprocess, which
            # re-imports the model in a fresh interpreter (seconds per logged model).
            pip_requirements=_pip_requirements(),
        )
        return str(info.model_uri)

    def load_dict(self, run_id: str | None, artifact_file: str) -> dict[str, Any] | None:
        """A JSON artifact logged with ``log_dict`` (None: no run, or no such artifact)."""
        local = self._download(run_id, artifact_file)
        return None if local is None else dict(json.loads(Path(local).read_text()))

    def load_sketch(self, run_id: str | None) -> dict[str, Any] | None:
        """The reference sketch a retrain run logged (None: no run, or a version without one).

        The payload as logged; ``challenger.monitor.drift.sketch.read_payload`` reads it.
        """
        return self.load_dict(run_id, SKETCH_ARTIFACT)

    def load_reference(self, run_id: str | None) -> pd.DataFrame | None:
        """The training-data sample logged with a retrain run (the drift reference)."""
        local = self._download(run_id, REFERENCE_ARTIFACT)
        return None if local is None else pd.read_parquet(local)


class _PickleWarning(logging.Filter):
    """Drops MLflow's per-model warning about the pickle format (see ``Tracking.log_model``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Saving scikit-learn models in the pickle")


def _quiet_pickle_warning() -> None:
    """Install :class:`_PickleWarning` on MLflow's sklearn logger, once per process."""
    log = logging.getLogger("mlflow.sklearn")
    if not any(isinstance(f, _PickleWarning) for f in log.filters):
        log.addFilter(_PickleWarning())
