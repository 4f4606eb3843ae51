"""Benchmark: the drift decision on wide data (200,000 rows x 1,000 columns) from a stored sketch.

Builds a seeded reference and current frame with a planted shift (+0.5 sd) in 10 columns. The
reference is sketched once, untimed, as at the champion's registration
(``challenger.monitor.drift.sketch.sketch_frame``). In the same run it times:

* the baseline: one ``pandas.DataFrame.describe`` pass over the current frame;
* the drift decision: ``sketch_drifts`` (the current batch sketched in one vectorised pass per
  block of columns, every column's Evidently default test from the two sketches).

It prints both times and their ratio (median over the rounds), the columns found drifted (must
be exactly the planted ones), and checks the sketch verdicts against the exact fast engine
(``fast_drifts`` on all rows) on the planted columns and as many unshifted ones. Target: a ratio
of at most 1.5.

Usage:
    python bench/bench_wide_drift.py [--rows 200000] [--columns 1000] [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import pandas as pd

from challenger.monitor.drift.fast import fast_drifts
from challenger.monitor.drift.result import DriftKind
from challenger.monitor.drift.sketch import sketch_drifts, sketch_frame

PLANTED = 10
TARGET = 1.5


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
    names = [f"x{i:04d}" for i in range(args.columns)]
    shifted = names[:: args.columns // PLANTED][:PLANTED]
    reference = pd.DataFrame(rng.standard_normal((args.rows, args.columns)), columns=names)
    current = pd.DataFrame(rng.standard_normal((args.rows, args.columns)), columns=names)
    current[shifted] += 0.5
    kinds: dict[str, DriftKind] = dict.fromkeys(names, "numeric")
    methods: dict[str, str | None] = dict.fromkeys(names)
    thresholds: dict[str, float | None] = dict.fromkeys(names)
    stored = sketch_frame(reference, kinds)  # at registration, untimed

    ratios, base_times, drift_times = [], [], []
    verdicts = {}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        current.describe()
        t1 = time.perf_counter()
        verdicts = sketch_drifts(stored, current, kinds, methods, thresholds)
        t2 = time.perf_counter()
        base_times.append(t1 - t0)
        drift_times.append(t2 - t1)
        ratios.append((t2 - t1) / (t1 - t0))
    found = [c for c, d in verdicts.items() if d.drifted]
    print(f"data: {args.rows:,} rows x {args.columns:,} columns, {PLANTED} shifted")
    print(f"pandas.DataFrame.describe, one pass: {statistics.median(base_times):.2f} s")
    print(f"drift decision from the stored sketch: {statistics.median(drift_times):.2f} s")
    ratio = statistics.median(ratios)
    print(f"ratio (median of {args.repeats} rounds): {ratio:.2f} (target <= {TARGET})")
    print(
        f"columns found drifted: {len(found)} (planted {len(shifted)}), others: "
        f"{len(set(found) - set(shifted))}"
    )

    checked = [*shifted, *[c for c in names if c not in shifted][:PLANTED]]
    sub = {c: kinds[c] for c in checked}
    exact = fast_drifts(
        reference[checked], current[checked], sub, dict.fromkeys(checked), dict.fromkeys(checked)
    )
    disagree = [c for c in checked if exact[c].drifted != verdicts[c].drifted]
    worst = max(abs(exact[c].score - verdicts[c].score) for c in checked)
    print(
        f"exact engine on {len(checked)} columns: {len(disagree)} verdicts differ, "
        f"largest score gap {worst:.4f}"
    )
    ok = sorted(found) == sorted(shifted) and not disagree
    if not ok:
        print("FAIL: the sketch verdicts are not the planted shift / the exact verdicts")
        return 1
    if not args.quick and ratio > TARGET:
        print(f"FAIL: ratio {ratio:.2f} above {TARGET}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
