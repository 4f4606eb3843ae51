"""How fast the commands are, each beside its target (issue 13, item 3), measured in one run.

1. ``challenger status`` wall time in a fresh interpreter, on a store with one trained model
   (median of 3). Target: at most 1.5 s.
2. ``challenger monitor --batch`` of a 1,000-row simulator batch, wall time of the whole
   command in a fresh interpreter (imports, Prefect, the flow), against the library-only pass
   over the same rows in this process (``challenger.monitor.check.check_file`` without Prefect:
   validation + drift + performance + trigger decision), each on its own copy of the same store.
   Target: at most 3x. Measured three times: the default command (the monitor flow on
   Prefect) and ``monitor --fast`` (the same check without Prefect), each in a fresh
   interpreter with no service running; then the default command while ``challenger up``
   runs, which hands the batch to up's warm runner (the same monitor flow, on up's Prefect
   server). The runner is warmed by one other batch first, as the library pass is by a
   first pass: neither side's figure counts the imports.
3. ``bench/bench_retrain_overhead.py``'s ratio (flow / bare scikit-learn with folds as parallel
   as the executor), run as a script and its line read back. Target: at most 1.3x.
4. ``challenger demo`` wall time (only with ``--demo``: it takes a minute or more). Target: at
   most 60 s.

    python bench/bench_commands.py [--quick] [--demo] [--skip-retrain]

``--quick`` trains the store on fewer rows and runs the retrain benchmark at its quick size; its
figures are printed, not judged. ``--skip-retrain`` leaves out 3 (the test suite runs that
benchmark on its own). The commands use ``PREFECT_API_URL`` when it is set, else each
starts Prefect's temporary server, as a user's command would.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

HERE = Path(__file__).resolve().parent
CHALLENGER = Path(sys.executable).with_name("challenger")
TARGETS = {"status": 1.5, "monitor": 3.0, "retrain": 1.3, "demo": 60.0}


def command(args: list[str], cwd: Path) -> float:
    """Wall seconds of one ``challenger`` command run in ``cwd`` (it must exit 0)."""
    start = time.perf_counter()
    done = subprocess.run(
        [str(CHALLENGER), *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"challenger {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return seconds


def write_batch(path: Path, day: int, rows: int, seed: int) -> Path:
    from challenger.demo.simulator import simulate_batch

    simulate_batch(day, rows, seed).to_csv(path, index=False)
    return path


def library_pass(workdir: Path, batch: Path) -> float:
    """Seconds of the monitor's check of ``batch`` without Prefect, in this process."""
    from challenger.config import load_config
    from challenger.monitor.check import check_file
    from challenger.store.registry import Registry
    from challenger.store.tracking import Tracking

    class Quiet:
        def info(self, msg: str, *args: object) -> None: ...

        def warning(self, msg: str, *args: object) -> None: ...

    here = Path.cwd()
    os.chdir(workdir)
    try:
        settings = load_config(None)
        start = time.perf_counter()
        stores = (Registry.from_settings(settings), Tracking.from_settings(settings))
        check_file(batch, settings, stores, "scheduled", owned=False, log=Quiet())
        return time.perf_counter() - start
    finally:
        os.chdir(here)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def monitor_with_runner(root: Path, base: Path, batch: Path, lib_s: float, quick: bool) -> str:
    """``challenger monitor`` of ``batch`` while ``challenger up`` runs (its warm runner)."""
    import yaml

    folder = root / "runner"
    shutil.copytree(base, folder)
    ports = {k: _free_port() for k in ("prefect_port", "mlflow_port", "runner_port")}
    (folder / "challenger.yaml").write_text(yaml.safe_dump({"service": ports}), encoding="utf-8")
    command(["up", "--json"], folder)
    try:
        warm_up = write_batch(root / "batch_day2.csv", 2, 1_000, 13)
        monitor = ["monitor", "--no-retrain", "--json", "--batch"]
        command([*monitor, str(warm_up)], folder)  # the runner's first step loads what it needs
        cli_s = command([*monitor, str(batch)], folder)
    finally:
        command(["down", "--json"], folder)
    ratio = cli_s / lib_s
    return (
        f"monitor (flow, handed to the warm runner of `challenger up`) of a 1,000-row batch: "
        f"command {cli_s:.2f} s wall, library-only pass {lib_s:.2f} s -> {ratio:.2f}x "
        f"(target <= {TARGETS['monitor']}x) {verdict(ratio, TARGETS['monitor'], quick)}"
    )


def verdict(value: float, target: float, quick: bool) -> str:
    if quick:
        return "(--quick size: judged at full size only)"
    return "met" if value <= target else "MISSED"


def retrain_ratio(quick: bool) -> str:
    done = subprocess.run(
        [sys.executable, str(HERE / "bench_retrain_overhead.py"), *(["--quick"] if quick else [])],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"bench_retrain_overhead.py exited {done.returncode}: {done.stderr[-2000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("orchestration overhead"))
    return line.split(": ", 1)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--demo", action="store_true", help="also time `challenger demo`")
    parser.add_argument(
        "--skip-retrain", action="store_true", help="do not run bench_retrain_overhead.py"
    )
    args = parser.parse_args()
    rows = 800 if args.quick else 5_000
    runs = 1 if args.quick else 3
    root = Path(tempfile.mkdtemp(prefix="bench-commands-"))
    try:
        base = root / "base"
        base.mkdir()
        train = write_batch(root / "day0.csv", 0, rows, 11)
        command(["retrain", "--data", str(train), "--json"], base)

        status_s = statistics.median(command(["status", "--json"], base) for _ in range(runs))
        print(
            f"challenger status: {status_s:.2f} s wall (median of {runs}) "
            f"(target <= {TARGETS['status']} s) {verdict(status_s, TARGETS['status'], args.quick)}"
        )

        batch = write_batch(root / "batch_day1.csv", 1, 1_000, 12)
        dirs = {k: root / k for k in ("warm", "library", "cli", "fast")}
        for each in dirs.values():
            shutil.copytree(base, each)
        library_pass(dirs["warm"], batch)  # warm: the imports are not the library's computation
        lib_s = library_pass(dirs["library"], batch)
        monitor = ["monitor", "--batch", str(batch), "--no-retrain", "--json"]
        for name, extra in (("flow", []), ("--fast", ["--fast"])):
            cli_s = command(monitor + extra, dirs["cli" if name == "flow" else "fast"])
            ratio = cli_s / lib_s
            print(
                f"monitor ({name}) of a 1,000-row batch: command {cli_s:.2f} s wall, "
                f"library-only pass {lib_s:.2f} s -> {ratio:.2f}x "
                f"(target <= {TARGETS['monitor']}x) {verdict(ratio, TARGETS['monitor'], args.quick)}"
            )

        print(monitor_with_runner(root, base, batch, lib_s, args.quick), flush=True)

        if not args.skip_retrain:
            print(f"retrain overhead (bench_retrain_overhead.py): {retrain_ratio(args.quick)}")

        if args.demo:
            demo_dir = root / "demo"
            demo_dir.mkdir()
            demo_s = command(["demo", "--json"], demo_dir)
            print(
                f"challenger demo: {demo_s:.1f} s wall (target <= {TARGETS['demo']:.0f} s) "
                f"{verdict(demo_s, TARGETS['demo'], False)}"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
