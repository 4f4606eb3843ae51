"""Every benchmark runs at its ``--quick`` size, so that a moved module cannot break one unnoticed.

Each runs as ``make bench`` runs it, a script in a fresh interpreter
(``sys.executable bench/bench_x.py --quick``), and must exit 0 and print its table: the lines
carrying its ratios or rates. The figures themselves are not judged here (no timing
assertions in tests; ``--quick`` exits 0 whatever its ratios, and ``make bench`` judges them at
full size); what a benchmark checks besides timing (the drift verdicts, the serving load
test's log rows) still decides its exit status.

The benchmarks that run Prefect flows join the session's Prefect test harness through
``PREFECT_API_URL`` instead of starting a temporary server each.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bench

BENCH = Path(__file__).resolve().parents[2] / "bench"

# script -> (extra arguments, lines its output must contain, whether it runs Prefect flows)
BENCHMARKS: dict[str, tuple[tuple[str, ...], tuple[str, ...], bool]] = {
    "bench_batch_shadow.py": (
        (),
        (
            "batch shadow on 2,000 rows",
            "with shadow / without (median):",
            "monitor check with one batch shadow / without (median):",
            "failing shadow: batch scored, error recorded, champion outputs unchanged: True",
        ),
        False,
    ),
    "bench_bootstrap.py": (
        (),
        ("sklearn roc_auc_score, one call", "ratio per round", "ratio (median of 2 rounds)"),
        False,
    ),
    "bench_commands.py": (
        ("--skip-retrain",),
        (
            "challenger status:",
            "s wall (median of",
            "monitor (flow) of a 1,000-row batch: command",
            "monitor (--fast) of a 1,000-row batch: command",
            "handed to the warm runner of `challenger up`) of a 1,000-row batch: command",
        ),
        True,
    ),
    "bench_cv_parallel.py": (
        (),
        (
            "5-fold CV of sklearn.ensemble.RandomForestClassifier",
            "parallel speed-up (2 workers vs 1):",
        ),
        True,
    ),
    "bench_decisions_streams.py": (
        (),
        (
            "streams x 1 seed(s)",
            "false alarms /100 (today)",
            "synthetic/concept",
            "breast_cancer/none",
            "targets met:",
        ),
        False,
    ),
    "bench_decisions_gate.py": (
        (),
        (
            "gate decisions (quick run): default policy",
            "1. exact null (identical-quality scores)",
            "studentized (the gate)",
            "2. A/A: the same configuration fitted twice",
            "3. power at a stated effect",
            "without decision metrics:",
            "4. clear-cut small-data cases",
            "decided correctly, all datasets",
        ),
        False,
    ),
    "bench_rows.py": (
        (),
        (
            "binary, 1 row(s) a call: Pipeline",
            "regression, 20 row(s) a call: Pipeline",
            "(same answers: True)",
        ),
        False,
    ),
    "bench_stream_monitor.py": (
        (),
        (
            "streamed monitor of 500,000 rows: peak RSS",
            "limit: 1,536 MB",
            "ratio streamed peak / in-memory peak on 10x fewer rows:",
        ),
        False,
    ),
    "bench_wide_drift.py": (
        (),
        (
            "ratio (median of",
            "assess.batch_drift; engine sketch)",
            "columns found drifted: 15 (planted 15), others: 0, missed: 0",
            "0 verdicts differ, 0 alarms differ",
        ),
        False,
    ),
    "bench_drift.py": (
        ("--report",),
        (
            "same verdicts: True; drifted = planted columns: True",
            "-> ratio",
            "decision + Evidently HTML report on 2,000 sampled rows per side",
        ),
        False,
    ),
    "bench_gate_calibration.py": (
        (),
        (
            "gate calibration on the simulator: 3 seeds",
            "power scenario: true ΔAUC",
            "gate, min_improvement 0.002 (configured):",
            "  exact null  promotes",
            "  A/A         promotes",
            "  power       promotes",
            "point estimate (challenger AUC > champion AUC)",
        ),
        False,
    ),
    "bench_retrain_overhead.py": (
        (),
        (
            "retrain flow on 3,000 rows x 20 features",
            "flow / bare with folds in sequence (scikit-learn's default):",
            "orchestration overhead (flow / bare with",
        ),
        True,
    ),
    "bench_serving.py": (
        (),
        (
            "shadow / champion p99 per round",
            "shadow overhead p99 (median)",
            "log on / off per round",
            "throughput ratio (median)",
            "load: 200 requests",
            "after a clean shutdown: 200 log rows for 200 answers",
        ),
        False,
    ),
}


def test_every_benchmark_is_run_here() -> None:
    assert sorted(p.name for p in BENCH.glob("bench_*.py")) == sorted(BENCHMARKS)


@pytest.mark.parametrize("script", sorted(BENCHMARKS))
def test_benchmark_runs_at_its_quick_size(
    script: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    extra, lines, flows = BENCHMARKS[script]
    # Another test module's store must not leak in; the benchmarks make their own.
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    if flows:
        env["PREFECT_API_URL"] = request.getfixturevalue("prefect_harness")
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", *extra],
        cwd=tmp_path,  # whatever a benchmark writes beside it stays out of the checkout
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, (
        f"{script} exited {done.returncode}:\n{done.stdout}\n{done.stderr[-3000:]}"
    )
    missing = [line for line in lines if line not in done.stdout]
    assert not missing, f"{script} did not print {missing}:\n{done.stdout}"
