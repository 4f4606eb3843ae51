"""Benchmark: the monitor's drift decision on wide data (200,000 rows x 1,000 columns) from a stored sketch.

Builds a seeded current batch (950 numeric and 50 categorical columns, a binary label and the
champion's score) with a planted shift in 10 numeric and 5 categorical columns, and a reference
of 20,000 rows (``MAX_REFERENCE_ROWS``: the sample a registration logs) without it. The
reference is sketched once, untimed, as at the champion's registration
(``challenger.monitor.drift.sketch.sketch_payload``), and written as the JSON artifact.

In the same run it times, median over the rounds:

* the baselines: one ``pandas.DataFrame.describe`` pass over the current batch, and one
  per-column ``scipy.stats.describe`` pass over its numeric columns; the faster is the baseline;
* the drift decision through the monitor's library path from the stored sketch: read the
  JSON, ``assess.drift_sketch``, ``assess.batch_drift`` (every column's test, the alarms under
  the Holm control, the dataset verdict). Scoring the batch with the champion is not timed
  (the monitor does it whichever path decides).

Then, once, the exact tests on the reference rows (``assess.batch_drift`` on the rows, the fast
engine: today's path when a champion has no sketch) and how many of the 1,000 columns' verdicts
and alarms differ; and the verdicts of both on the planted columns. Target: a ratio of at most
1.5, the alarms exactly the planted columns, no verdict different from the exact one.

Usage:
    python bench/bench_wide_drift.py [--rows 200000] [--columns 1000] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from challenger.config import Settings
from challenger.monitor import assess
from challenger.monitor.drift import DriftResult
from challenger.monitor.drift.sketch import sketch_payload
from challenger.store.tracking import MAX_REFERENCE_ROWS

PLANTED_NUMERIC = 10
PLANTED_CATEGORICAL = 5
TARGET = 1.5
CATEGORIES = np.array([f"k{i}" for i in range(8)], dtype=object)
SHARES = np.array([0.25, 0.2, 0.15, 0.12, 0.1, 0.08, 0.06, 0.04])
MOVED = np.array([0.07, 0.2, 0.15, 0.12, 0.1, 0.08, 0.06, 0.22])  # 0.18 of the mass moved


def frame(
    rng: np.random.Generator, rows: int, numeric: list[str], categorical: list[str], shift: bool
) -> pd.DataFrame:
    """Seeded rows; with ``shift`` the planted columns move (numeric by 0.15 to 0.5 sd)."""
    values = rng.standard_normal((rows, len(numeric)))
    out = pd.DataFrame(values, columns=numeric)
    for c in categorical:
        out[c] = rng.choice(CATEGORIES, size=rows, p=SHARES)
    if shift:
        for c, delta in zip(
            numeric[:: len(numeric) // PLANTED_NUMERIC][:PLANTED_NUMERIC],
            np.linspace(0.15, 0.5, PLANTED_NUMERIC),
            strict=True,
        ):
            out[c] += delta
        for c in planted_categorical(categorical):
            out[c] = rng.choice(CATEGORIES, size=rows, p=MOVED)
    out["y"] = (rng.random(rows) < 1 / (1 + np.exp(-out[numeric[1]]))).astype(int)
    out[assess.PREDICTION] = 1 / (1 + np.exp(-out[numeric[1]].to_numpy()))  # the champion's score
    return out


def planted_categorical(categorical: list[str]) -> list[str]:
    return categorical[:: max(1, len(categorical) // PLANTED_CATEGORICAL)][:PLANTED_CATEGORICAL]


def settings_for(numeric: list[str], categorical: list[str]) -> Settings:
    """The configuration of the wide data (defaults otherwise: Holm at 5 %, min effect 0.05)."""
    return Settings.model_validate(
        {
            "data": {"numeric": numeric, "categorical": categorical, "target": "y"},
            "validation": {"ranges": {}},
            "gate": {"slices": []},
        }
    )


def decide_from_sketch(path: Path, current: pd.DataFrame, settings: Settings) -> DriftResult:
    """The monitor's drift step on a champion with a sketch (check.py), minus the report."""
    stored = assess.drift_sketch(json.loads(path.read_text()), settings)
    assert stored is not None, "the sketch cannot decide this configuration"
    drift = assess.batch_drift(stored, current, settings, None)
    assert drift is not None
    return drift


def scipy_pass(current: pd.DataFrame, numeric: list[str]) -> None:
    for c in numeric:
        stats.describe(current[c].to_numpy(), nan_policy="omit")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--columns", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.columns, args.repeats = 20_000, 100, 1
    rng = np.random.default_rng(15)
    n_categorical = max(PLANTED_CATEGORICAL, args.columns // 20)
    numeric = [f"x{i:04d}" for i in range(args.columns - n_categorical)]
    categorical = [f"c{i:03d}" for i in range(n_categorical)]
    planted = {
        *numeric[:: len(numeric) // PLANTED_NUMERIC][:PLANTED_NUMERIC],
        *planted_categorical(categorical),
    }
    settings = settings_for(numeric, categorical)
    n_reference = min(args.rows, MAX_REFERENCE_ROWS)
    reference = frame(rng, n_reference, numeric, categorical, shift=False)
    current = frame(rng, args.rows, numeric, categorical, shift=True)

    tmp = tempfile.TemporaryDirectory()
    path = Path(tmp.name) / "sketch.json"
    t0 = time.perf_counter()  # at registration, untimed in the ratio
    payload = sketch_payload(
        reference.drop(columns=[assess.PREDICTION]),
        {"binary": reference[assess.PREDICTION].to_numpy()},
    )
    path.write_text(json.dumps(payload, indent=2, default=str))  # as Tracking.log_dict does
    registered = time.perf_counter() - t0
    print(
        f"data: current {args.rows:,} rows x {args.columns:,} columns ({len(numeric)} numeric, "
        f"{len(categorical)} categorical) + label + score; reference {n_reference:,} rows; "
        f"planted shift in {len(planted)} columns"
    )
    print(
        f"registration (untimed): sketch of the reference {registered:.2f} s, "
        f"sketch.json {path.stat().st_size / 1e6:.1f} MB"
    )

    describe_times, scipy_times, drift_times, ratios = [], [], [], []
    drift: DriftResult | None = None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        current.describe()
        t1 = time.perf_counter()
        scipy_pass(current, numeric)
        t2 = time.perf_counter()
        drift = decide_from_sketch(path, current, settings)
        t3 = time.perf_counter()
        describe_times.append(t1 - t0)
        scipy_times.append(t2 - t1)
        drift_times.append(t3 - t2)
        ratios.append((t3 - t2) / min(t1 - t0, t2 - t1))
    assert drift is not None
    base = min(statistics.median(describe_times), statistics.median(scipy_times))
    print(f"pandas.DataFrame.describe, one pass: {statistics.median(describe_times):.2f} s")
    print(f"scipy.stats.describe per column, one pass: {statistics.median(scipy_times):.2f} s")
    print(f"baseline (the faster): {base:.2f} s")
    print(
        "drift decision from the stored sketch (read sketch.json, assess.drift_sketch, "
        f"assess.batch_drift; engine {drift.engine}): {statistics.median(drift_times):.2f} s"
    )
    ratio = statistics.median(ratios)
    print(f"ratio (median of {args.repeats} rounds): {ratio:.2f} (target <= {TARGET})")
    found = set(drift.drifted_columns())
    print(
        f"columns found drifted: {len(found)} (planted {len(planted)}), others: "
        f"{len(found - planted)}, missed: {len(planted - found)}"
    )

    t0 = time.perf_counter()
    exact = assess.batch_drift(reference, current, settings, None)
    exact_seconds = time.perf_counter() - t0
    assert exact is not None
    own = [c.column for c in exact.columns if c.drifted != drift.column(c.column).drifted]
    alarms = [c.column for c in exact.columns if c.alarm != drift.column(c.column).alarm]
    gap = max(abs((c.effect or 0) - (drift.column(c.column).effect or 0)) for c in exact.columns)
    print(
        f"exact tests on the {n_reference:,} reference rows (assess.batch_drift, engine "
        f"{exact.engine}): {exact_seconds:.2f} s"
    )
    print(
        f"exact vs sketch on all {len(exact.columns)} columns: {len(own)} verdicts differ, "
        f"{len(alarms)} alarms differ, dataset drift {exact.dataset_drift} vs "
        f"{drift.dataset_drift}, largest K-S/TVD gap {gap:.4f}"
    )
    print("planted shift: column, test, score exact / sketch, alarm exact / sketch")
    for c in exact.columns:
        if c.column in planted:
            s = drift.column(c.column)
            print(
                f"  {c.column} {c.method}: {c.score:.4f} / {s.score:.4f}, "
                f"alarm {c.alarm} / {s.alarm}"
            )
    for label, e, s in (
        ("prediction", exact.prediction, drift.prediction),
        ("target", exact.target, drift.target),
    ):
        if e is not None and s is not None:
            print(
                f"  {label} {e.method}: {e.score:.4f} / {s.score:.4f}, drifted {e.drifted} / {s.drifted}"
            )
    tmp.cleanup()
    ok = found == planted and not own and not alarms
    if not ok:
        print("FAIL: the sketch's alarms are not the planted shift / not the exact verdicts")
        return 1
    if not args.quick and ratio > TARGET:
        print(f"FAIL: ratio {ratio:.2f} above {TARGET}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
