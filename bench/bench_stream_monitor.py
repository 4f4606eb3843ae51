"""Peak memory of the monitor's check of a large Parquet batch, streamed in row groups.

Data: our own seeded generator writes, chunk by chunk with a ``ParquetWriter`` (1,000,000
rows per row group, so the generator itself stays small), a batch of 20,000,000 rows x 20
columns (18 float64 features, a 0/1 target, a timestamp): 3.2 GB of raw values. A champion
(scikit-learn logistic regression) is trained on a 20,000-row sample of the same generator
and registered, with its reference sketch, in a temporary MLflow sqlite store.

Each measurement runs ``monitor.check.check_file`` in a fresh child process and reads the
child's peak resident set from the OS (``os.wait4``'s rusage ``ru_maxrss``, as
``RUSAGE_CHILDREN`` would report it). The baseline, measured in the same run: the same child
on the in-memory path (``data.stream_rows`` above the file's rows) on a file 40x smaller
(2,000,000 rows). Target: streamed peak at most 1.5 GB.

    python bench/bench_stream_monitor.py [--rows 20000000] [--quick]

``--quick``: 500,000 rows (baseline 12,500), exit 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

LIMIT_MB = 1536.0
DEFAULT_STREAM_ROWS = 2_000_000  # data.stream_rows's default: the 20M batch streams as is
FEATURES = [f"f{i:02d}" for i in range(18)]
GROUP = 1_000_000


def chunk(start: int, n: int, seed: int) -> pd.DataFrame:
    """Rows ``start .. start + n`` of the seeded generator (each chunk has its own stream)."""
    rng = np.random.default_rng([seed, start])
    x = rng.standard_normal((n, len(FEATURES)))
    x[:, 1] = x[:, 1] * 2.0 + 5.0
    z = x[:, 0] - 0.5 * x[:, 2]
    out = pd.DataFrame(x, columns=FEATURES)
    out["y"] = (rng.random(n) < 1 / (1 + np.exp(-z))).astype("int64")
    base = pd.Timestamp("2026-01-01", tz="UTC").value
    out["ts"] = pd.to_datetime(base + (start + np.arange(n)) * 1_000_000, utc=True)
    return out


def write_batch(path: Path, rows: int, seed: int) -> Path:
    writer = None
    for start in range(0, rows, GROUP):
        table = pa.Table.from_pandas(
            chunk(start, min(GROUP, rows - start), seed), preserve_index=False
        )
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()
    return path


def project(folder: Path) -> Path:
    """A challenger.yaml with a registered champion (and its sketch) in a sqlite store."""
    from challenger.config import CandidateConfig, load_config
    from challenger.monitor.drift.sketch import prediction_forms, sketch_payload
    from challenger.store.connection import create_store
    from challenger.store.registry import Registry
    from challenger.store.tracking import SKETCH_ARTIFACT, Tracking
    from challenger.train.pipeline import build_pipeline

    cfg = {
        "project": {"model_name": "bench-stream"},
        "mlflow": {
            "tracking_uri": f"sqlite:///{folder / 'mlflow.db'}",
            "artifact_root": (folder / "artifacts").as_uri(),
        },
        "data": {
            "target": "y",
            "timestamp": "ts",
            "id_column": None,
            "numeric": FEATURES,
            "categorical": [],
        },
        "validation": {"ranges": {}},
        "gate": {"slices": []},
    }
    path = folder / "challenger.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    settings = load_config(path)
    create_store(settings.tracking_uri)
    registry, tracking = Registry.from_settings(settings), Tracking.from_settings(settings)
    train = chunk(10**9, 20_000, seed=11)
    lr = CandidateConfig(
        name="lr", estimator="sklearn.linear_model.LogisticRegression", params={"max_iter": 500}
    )
    model = build_pipeline(lr, FEATURES, [], 7).fit(train[FEATURES], train["y"].to_numpy())
    with tracking.start_run("bench-champion") as run_id:
        uri = tracking.log_model(model, train[FEATURES].head(20))
        reference = tracking.log_reference(train, settings.project.seed)
        outputs = prediction_forms(model, reference[FEATURES])
        tracking.log_dict(sketch_payload(reference, outputs), SKETCH_ARTIFACT)
    version = registry.register(uri, run_id, {}, "bench").version
    registry.promote(version, None)
    return path


def child(config: Path, batch: Path, stream_rows: int) -> int:
    """The monitor's check of one file (what is measured)."""
    import logging

    from challenger.config import load_config
    from challenger.monitor.check import check_file
    from challenger.store.registry import Registry
    from challenger.store.tracking import Tracking

    logging.basicConfig(level=logging.WARNING, format="    child: %(message)s")
    settings = load_config(config)
    settings = settings.model_copy(
        update={"data": settings.data.model_copy(update={"stream_rows": stream_rows})}
    )
    stores = (Registry.from_settings(settings), Tracking.from_settings(settings))
    checked = check_file(
        batch, settings, stores, "bench", owned=False, log=logging.getLogger("bench")
    )
    drift = checked.file.drift
    print(
        f"    child: {checked.validation.n_rows:,} rows accepted; drift "
        f"{'not measured' if drift is None else drift.summary().splitlines()[0]}",
        flush=True,
    )
    return 0


def measured(config: Path, batch: Path, stream_rows: int) -> tuple[float, float]:
    """(peak RSS in MB of a child running the check, its wall seconds)."""
    t0 = time.perf_counter()
    cmd = [sys.executable, __file__, "--child", str(config), str(batch), str(stream_rows)]
    proc = subprocess.Popen(cmd, env={**os.environ, "MLFLOW_TRACKING_URI": ""})
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}): {' '.join(cmd)}")
    return usage.ru_maxrss / 1024, time.perf_counter() - t0  # Linux: KiB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("CONFIG", "BATCH", "STREAM_ROWS"))
    args = parser.parse_args()
    if args.child:
        return child(Path(args.child[0]), Path(args.child[1]), int(args.child[2]))
    rows = 500_000 if args.quick else args.rows
    small = rows // 40  # the in-memory path peaked at 16.9 GB on 2,000,000 rows
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = project(folder)
        t0 = time.perf_counter()
        big = write_batch(folder / "big.parquet", rows, seed=5)
        base = write_batch(folder / "base.parquet", small, seed=6)
        print(
            f"generated {rows:,} x 20 Parquet ({big.stat().st_size / 2**20:,.0f} MB on disk, "
            f"{rows * 20 * 8 / 2**20:,.0f} MB raw) in {time.perf_counter() - t0:.0f} s"
        )
        peak, wall = measured(config, big, stream_rows=min(rows - 1, DEFAULT_STREAM_ROWS))
        base_peak, base_wall = measured(config, base, stream_rows=10**12)
    raw = rows * 20 * 8 / 2**20
    print(f"streamed monitor of {rows:,} rows: peak RSS {peak:,.0f} MB ({wall:.0f} s)")
    print(f"limit: {LIMIT_MB:,.0f} MB; within limit: {peak <= LIMIT_MB}")
    print(
        f"in-memory monitor of {small:,} rows (baseline): peak RSS {base_peak:,.0f} MB "
        f"({base_wall:.0f} s)"
    )
    print(f"ratio streamed peak / in-memory peak on 10x fewer rows: {peak / base_peak:.2f}")
    print(f"ratio streamed peak / raw data size: {peak / raw:.2f}")
    if not args.quick and peak > LIMIT_MB:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
