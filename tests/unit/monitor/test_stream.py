"""The streaming check of a large Parquet batch equals the in-memory check (challenger.monitor.stream)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from tests.helpers import SERVING_LR, own_store

from challenger.config import Settings, load_config
from challenger.demo.simulator import Period, simulate_batch
from challenger.errors import BatchQuarantined
from challenger.monitor import stream
from challenger.monitor.check import check_file
from challenger.monitor.drift.sketch import prediction_forms, sketch_payload
from challenger.store.connection import create_store
from challenger.store.registry import Registry
from challenger.store.tracking import SKETCH_ARTIFACT, Tracking
from challenger.train.pipeline import build_pipeline

LOG = logging.getLogger("test_stream")


@pytest.fixture
def project(tmp_path: Path, mlflow_store_template: Path) -> tuple[Settings, Registry, Tracking]:
    cfg = {
        "project": {"model_name": "stream-test"},
        "mlflow": {
            "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
            "artifact_root": (tmp_path / "artifacts").as_uri(),
        },
        "data": {"stream_rows": 500},
    }
    (tmp_path / "challenger.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
    own_store()
    settings = load_config(tmp_path / "challenger.yaml")
    create_store(settings.tracking_uri)
    own_store()
    registry, tracking = Registry.from_settings(settings), Tracking.from_settings(settings)
    train = simulate_batch(0, 600, seed=3)
    feats = list(settings.data.features)
    d = settings.data
    model = build_pipeline(SERVING_LR, d.numeric, d.categorical, 7).fit(
        train[feats], train[d.target].to_numpy()
    )
    with tracking.start_run("champion") as run_id:
        uri = tracking.log_model(model, train[feats].head(20))
        reference = tracking.log_reference(train, settings.project.seed)
        outputs = prediction_forms(model, reference[feats])
        tracking.log_dict(sketch_payload(reference, outputs), SKETCH_ARTIFACT)
    version = registry.register(uri, run_id, {}, "test").version
    registry.promote(version, None)
    return settings, registry, tracking


def _write(frame: pd.DataFrame, path: Path, group: int = 300) -> Path:
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=group)
    return path


def test_streamed_check_equals_the_in_memory_check(
    project: tuple[Settings, Registry, Tracking], tmp_path: Path
) -> None:
    settings, registry, tracking = project
    batch = simulate_batch(9, 2000, seed=3, period=Period(covariate_drift=0.5))
    path = _write(batch, tmp_path / "b1.parquet")
    assert stream.is_large(path, settings) and pq.ParquetFile(path).num_row_groups > 3
    streamed = check_file(path, settings, (registry, tracking), "t", owned=False, log=LOG)
    accepted = settings.path(settings.data.accepted_dir) / "b1.parquet"
    meta = pq.read_schema(accepted).metadata
    first_accepted = meta[b"challenger.accepted_at"]
    accepted.unlink()
    big = settings.model_copy(
        update={"data": settings.data.model_copy(update={"stream_rows": 10**9})}
    )
    memory = check_file(path, big, (registry, tracking), "t", owned=False, log=LOG)
    assert streamed.validation.success == memory.validation.success
    assert streamed.validation.n_rows == memory.validation.n_rows == 2000
    s, m = streamed.file.drift, memory.file.drift
    assert s is not None and m is not None and s.engine == m.engine == "sketch"
    assert [(c.column, c.drifted, c.method) for c in s.columns] == [
        (c.column, c.drifted, c.method) for c in m.columns
    ]
    assert [c.score for c in s.columns] == pytest.approx([c.score for c in m.columns])
    assert (s.dataset_drift, s.n_drifted) == (m.dataset_drift, m.n_drifted)
    assert s.prediction is not None and m.prediction is not None
    assert s.prediction.score == pytest.approx(m.prediction.score)
    assert streamed.file.decision.retrain == memory.file.decision.retrain
    # Both end alike: an MLflow monitor run with the drift and the decision, and the lineage.
    assert streamed.drift_run is not None and memory.drift_run is not None
    run = tracking.client.get_run(streamed.drift_run)
    assert run.data.tags["challenger.batch"] == "b1" and run.data.metrics["rows"] == 2000
    assert run.data.metrics["drift_share"] == pytest.approx(s.drift_share)
    logged = {a.path for a in tracking.client.list_artifacts(streamed.drift_run)}
    assert {"drift", "trigger.json", "lineage"} <= logged
    assert streamed.effectiveness is not None and memory.effectiveness is not None
    assert streamed.effectiveness.alarm == memory.effectiveness.alarm
    # the accepted file: same rows and metadata as accept_batch's
    again = pq.read_schema(accepted).metadata
    assert again[b"challenger.newest"] == meta[b"challenger.newest"] != b""
    assert first_accepted
    assert len(pd.read_parquet(accepted)) == 2000


def test_a_bad_chunk_quarantines_the_whole_file(
    project: tuple[Settings, Registry, Tracking], tmp_path: Path
) -> None:
    settings, registry, tracking = project
    champion = registry.champion()
    batch = simulate_batch(9, 2000, seed=3)
    batch.loc[1990:, "region"] = "atlantis"  # only the last row group
    path = _write(batch, tmp_path / "bad.parquet")
    with pytest.raises(BatchQuarantined) as raised:
        check_file(path, settings, (registry, tracking), "t", owned=False, log=LOG)
    assert "region" in str(raised.value)
    assert not (settings.path(settings.data.accepted_dir) / "bad.parquet").exists()
    assert path.exists()  # a named file is copied, never moved
    after = registry.champion()
    assert champion is not None and after is not None and after.version == champion.version
