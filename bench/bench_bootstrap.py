"""Benchmark: paired BCa bootstrap of ROC AUC against one sklearn ROC AUC computation.

Builds a seeded holdout (100,000 rows by default) with a champion and a challenger score,
times one ``sklearn.metrics.roc_auc_score`` call (median of 7 per round) and one
``challenger.stats.paired_bootstrap("roc_auc", ..., n_resamples=2000)`` in the same run,
and prints both times and their ratio. Absolute times depend on the machine; the ratio is
the figure, taken per round with the baseline timed right next to the bootstrap. Target:
the whole bootstrap (2,000 resamples, jackknife, BCa) costs at most 100 single AUCs.

Usage:
    python bench/bench_bootstrap.py [--rows 100000] [--resamples 2000] [--repeats 5] [--quick]

``--quick`` runs the same code at a size that takes seconds (the test suite runs it so that a
moved module cannot break the benchmark unnoticed); its ratio is printed, not judged.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
from sklearn.metrics import roc_auc_score

from challenger.stats import PairedBootstrap, paired_bootstrap

TARGET_RATIO = 100.0
QUICK = {"rows": 5_000, "resamples": 200, "repeats": 2}


def holdout(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels (30 % positive) and two correlated probability scores, the challenger better."""
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < 0.3).astype(np.float64)
    signal, shared = 2.0 * y - 1.0, rng.normal(size=rows)
    champion = 1.0 / (1.0 + np.exp(-(0.8 * signal + shared + 0.5 * rng.normal(size=rows))))
    challenger = 1.0 / (1.0 + np.exp(-(0.85 * signal + shared + 0.5 * rng.normal(size=rows))))
    # Rounded like a tree ensemble's probabilities: plenty of ties in the champion.
    return y, np.round(champion, 3), challenger


def timed(func: Callable[[], object]) -> float:
    """Wall time of one call, in seconds."""
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000, help="holdout rows")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--repeats", type=int, default=5, help="measurement rounds")
    parser.add_argument("--seed", type=int, default=0, help="data and bootstrap seed")
    parser.add_argument(
        "--quick", action="store_true", help=f"a size that runs in seconds ({QUICK}); not judged"
    )
    args = parser.parse_args(argv)
    if args.quick:  # explicit options still win over the quick size
        parser.set_defaults(**QUICK)
        args = parser.parse_args(argv)

    y, champion, challenger = holdout(args.rows, args.seed)

    def one_auc() -> float:
        return float(roc_auc_score(y, champion))

    def bootstrap() -> PairedBootstrap:
        return paired_bootstrap(
            "roc_auc", y, champion, challenger, n_resamples=args.resamples, seed=args.seed
        )

    one_auc()  # warm-up: imports, caches, page faults
    result = bootstrap()
    # Interleaved rounds: the machine is shared and noisy, so each round times the baseline
    # (median of 7 calls) right next to one bootstrap and the ratio is taken per round.
    auc_times, boot_times, ratios = [], [], []
    for _ in range(args.repeats):
        auc_time = statistics.median(timed(one_auc) for _ in range(7))
        boot_time = timed(bootstrap)
        auc_times.append(auc_time)
        boot_times.append(boot_time)
        ratios.append(boot_time / auc_time)
    ratio = statistics.median(ratios)
    verdict = "PASS" if ratio <= TARGET_RATIO else "FAIL"
    print(f"holdout rows                        {args.rows:>10,}")
    print(f"sklearn roc_auc_score, one call     {statistics.median(auc_times) * 1e3:>10.2f} ms")
    print(
        f"paired_bootstrap roc_auc, B={args.resamples:<6}  "
        f"{statistics.median(boot_times) * 1e3:>10.1f} ms"
    )
    print(
        f"  Δ AUC = {result.delta:+.5f}, one-sided {result.confidence:.0%} bounds "
        f"[{result.lower:+.5f}, {result.upper:+.5f}] ({result.method})"
    )
    print("ratio per round                     " + " ".join(f"{r:.1f}×" for r in ratios))
    print(
        f"ratio (median of {args.repeats} rounds)          {ratio:>8.1f}×  "
        f"(target ≤ {TARGET_RATIO:.0f}×)"
    )
    if args.quick:
        print(f"{verdict} (--quick size: the target is judged at full size only)")
        return 0
    print(verdict)
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
