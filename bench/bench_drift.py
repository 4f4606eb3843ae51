"""Benchmark: the drift decision on 1,000,000 rows x 20 columns against a plain scipy pass.

Builds a seeded reference and a current frame (1,000,000 rows each by default; 14 numeric
and 6 categorical columns, text categories as real pipelines deliver them) with a planted
shift in 4 numeric and 2 categorical columns. In the same run it times:

* the baseline: a plain per-column scipy pass over the same frames, the statistics
  Evidently's default tests use on this much data (``scipy.stats.wasserstein_distance``
  normed by the reference's standard deviation for numeric columns, the Jensen-Shannon
  distance of ``value_counts`` shares for categorical ones), one column after another;
* ``challenger.monitor.drift.measure_drift`` with the fast engine (every row, every column,
  Evidently's method choice and thresholds), which is what the monitor decides on.

It prints both times and their ratio (median over the rounds, each baseline timed right
next to its drift check), and checks that both give the same drifted/not-drifted verdict
for every column (each test's own, unadjusted verdict) and that the alarms — after Holm's
control across the columns and the effect-size rule, with their two-sample tests computed
in the same pass — are exactly the planted columns. Target: a ratio of at most 2. With ``--report`` it also times Evidently's HTML report on its bounded
sample (``--report-rows`` per side), which the monitor draws next to the decision.

Usage:
    python bench/bench_drift.py [--rows 1000000] [--repeats 3] [--report] [--quick]

``--quick`` runs the same code at a size that takes seconds (the test suite runs it); the
verdicts are still checked, the ratio is printed, not judged.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial import distance

from challenger.monitor.drift import DriftResult, DriftSpec, measure_drift

TARGET_RATIO = 2.0
THRESHOLD = 0.1  # Evidently's default for both distances above 1,000 reference rows
NUMERIC = tuple(f"num_{i:02d}" for i in range(14))
CATEGORICAL = tuple(f"cat_{i}" for i in range(6))
SHIFTED = ("num_01", "num_04", "num_07", "num_10", "cat_1", "cat_4")
LEVELS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
SPEC = DriftSpec(numeric=NUMERIC, categorical=CATEGORICAL, share_threshold=0.3)
# Above 1,000 reference rows, so Evidently's method choice is the one of the full size.
QUICK = {"rows": 20_000, "repeats": 2, "report_rows": 2_000}


def frame(rows: int, seed: int, shifted: bool) -> pd.DataFrame:
    """Seeded data: skewed, heavy-tailed and integer numerics; text categories."""
    rng = np.random.default_rng(seed)
    data: dict[str, np.ndarray] = {}
    for i, name in enumerate(NUMERIC):
        shift = 0.5 if shifted and name in SHIFTED else 0.0
        match i % 3:
            case 0:
                data[name] = rng.normal(10 * i + shift, 1 + i / 7, rows)
            case 1:
                data[name] = rng.lognormal(1 + shift, 0.6, rows)
            case _:
                data[name] = rng.poisson(30 + 12 * shift, rows).astype(np.float64)
    base = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.07, 0.05, 0.03])
    moved = base[::-1]
    for name in CATEGORICAL:
        p = moved if shifted and name in SHIFTED else base
        data[name] = np.asarray(rng.choice(LEVELS, rows, p=p), dtype=object)
    return pd.DataFrame(data)


def baseline(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, bool]:
    """A plain per-column scipy pass: Evidently's default statistics, one column at a time."""
    verdicts: dict[str, bool] = {}
    for name in NUMERIC:
        r, c = reference[name].to_numpy(), current[name].to_numpy()
        score = stats.wasserstein_distance(r, c) / max(float(np.std(r)), 0.001)
        verdicts[name] = score >= THRESHOLD
    for name in CATEGORICAL:
        r_counts = reference[name].value_counts()
        c_counts = current[name].value_counts()
        keys = r_counts.index.union(c_counts.index)
        r_share = r_counts.reindex(keys, fill_value=0).to_numpy() / len(reference)
        c_share = c_counts.reindex(keys, fill_value=0).to_numpy() / len(current)
        verdicts[name] = distance.jensenshannon(r_share, c_share) >= THRESHOLD
    return verdicts


def drift_check(reference: pd.DataFrame, current: pd.DataFrame) -> DriftResult:
    """The monitor's decision: every row, Evidently's default methods."""
    return measure_drift(reference, current, SPEC)


def timed(func: object, *args: object) -> tuple[float, object]:
    start = time.perf_counter()
    out = func(*args)  # type: ignore[operator]
    return time.perf_counter() - start, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per frame")
    parser.add_argument("--repeats", type=int, default=3, help="measurement rounds")
    parser.add_argument("--report", action="store_true", help="also time the HTML report")
    parser.add_argument("--report-rows", type=int, default=50_000, help="report sample rows")
    parser.add_argument(
        "--quick", action="store_true", help=f"a size that runs in seconds ({QUICK}); not judged"
    )
    args = parser.parse_args(argv)
    if args.quick:  # explicit options still win over the quick size
        parser.set_defaults(**QUICK)
        args = parser.parse_args(argv)

    t0 = time.perf_counter()
    reference = frame(args.rows, seed=1, shifted=False)
    current = frame(args.rows, seed=2, shifted=True)
    print(
        f"data: {args.rows:,} rows x {len(NUMERIC) + len(CATEGORICAL)} columns per frame "
        f"(built in {time.perf_counter() - t0:.1f} s); planted shift in {', '.join(SHIFTED)}"
    )

    ratios, base_times, fast_times = [], [], []
    ok = True
    for round_ in range(1, args.repeats + 1):
        base_s, base_verdicts = timed(baseline, reference, current)
        fast_s, result = timed(drift_check, reference, current)
        assert isinstance(result, DriftResult) and isinstance(base_verdicts, dict)
        fast_verdicts = {c.column: c.drifted for c in result.columns}
        same = fast_verdicts == base_verdicts
        planted = set(result.drifted_columns()) == set(SHIFTED)  # the alarms
        ok = ok and same and planted and result.engine == "fast"
        ratios.append(fast_s / base_s)
        base_times.append(base_s)
        fast_times.append(fast_s)
        print(
            f"round {round_}: scipy pass {base_s:.2f} s, drift check {fast_s:.2f} s, "
            f"ratio {fast_s / base_s:.2f}; same verdicts: {same}; "
            f"drifted = planted columns: {planted}"
        )

    ratio = statistics.median(ratios)
    print(
        f"median: scipy pass {statistics.median(base_times):.2f} s, drift check "
        f"{statistics.median(fast_times):.2f} s on {result.n_current:,} rows per side "
        f"({os.cpu_count()} cores) -> ratio {ratio:.2f} (target <= {TARGET_RATIO:.1f})"
    )

    if args.report:
        with tempfile.TemporaryDirectory() as tmp:
            html = Path(tmp) / "drift.html"
            start = time.perf_counter()
            reported = measure_drift(
                reference, current, SPEC, max_rows=args.report_rows, html_path=html
            )
            total = time.perf_counter() - start
        print(
            f"decision + Evidently HTML report on {reported.report_rows:,} sampled rows per "
            f"side: {total:.2f} s ({total / statistics.median(base_times):.2f} x the scipy pass)"
        )

    if not ok:
        print("FAILED: the verdicts differ from the baseline or from the planted shift")
        return 1
    if args.quick:
        print("--quick size: the ratio is judged at full size only")
    elif ratio > TARGET_RATIO:
        print(f"FAILED: ratio {ratio:.2f} is above the target {TARGET_RATIO:.1f}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
