"""Benchmark: the monitor's retrain decision on streams with a known change point.

Each stream (``challenger.demo.streams``: six numeric and three integer-coded categorical
inputs, 1,000-row batches with their labels) is stationary up to ``--change-at`` and then
changes in one way: not at all, a covariate shift, a ranking-preserving threshold shift,
a ranking-breaking concept change; the ``breast_cancer`` streams are a smoothed bootstrap of
scikit-learn's bundled Wisconsin data, stationary, covariate-shifted or with a subgroup's
labels changed. A champion is trained on batch 0 the way a retrain does (the newest 30 %
held out; logistic regression behind the library's preprocessing), then every later batch
goes through the monitor's decision — the library calls the monitor flow makes, without
Prefect: the batch is accepted, drift is measured against the champion's training rows,
the change detector reads the batch's labels, the performance windows are scored and the
trigger policy decides. The champion is never replaced, so every decision is judged
against the same change point.

Two rules decide on the very same batches in the same run:

* **today's rule** (the code before issue 11): every column's own test counts
  (``drift.control: none``), the performance windows watch the primary metric only, no
  change detector;
* **the default configuration**: column alarms under Holm's family-wise control with an
  effect size, the Brier score watched besides ROC AUC, ADWIN on the champion's per-row
  Brier score.

Per stream it prints false alarms per 100 batches before the change (target at most 5) and
the batches until the first alarm after it (target at most 1 batch of 1,000 rows), each
beside today's rule, and which trigger fired first. ``--quick`` runs one seed and fewer
batches (a smoke run of a few seconds per stream).

Usage:
    python bench/bench_decisions_streams.py [--quick] [--seeds 5] [--change-at 21] [--after 4]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("DO_NOT_TRACK", "1")

import pandas as pd

from challenger import metrics
from challenger.config import CandidateConfig, Settings
from challenger.demo.streams import CATEGORICAL, ID, NUMERIC, TARGET, TIMESTAMP, Stream
from challenger.monitor import assess
from challenger.monitor.concept import watch_concept
from challenger.problem import model_scores
from challenger.stats import metric_value
from challenger.store.batches import accept_batch
from challenger.store.record import VersionRecord
from challenger.store.registry import VersionInfo
from challenger.train.pipeline import build_pipeline
from challenger.train.window import labelled_rows, time_split

FALSE_ALARM_TARGET = 5.0  # per 100 batches before the change
DELAY_TARGET = 1  # batches of 1,000 rows after the change

STREAMS: tuple[tuple[str, str], ...] = (
    ("synthetic", "none"),
    ("synthetic", "covariate"),
    ("synthetic", "threshold"),
    ("synthetic", "concept"),
    ("breast_cancer", "none"),
    ("breast_cancer", "covariate"),
    ("breast_cancer", "concept"),
)
CANDIDATE = CandidateConfig(
    name="logistic_regression",
    estimator="sklearn.linear_model.LogisticRegression",
    params={"C": 1.0, "max_iter": 1000},
)


def settings_for(root: Path, today: bool) -> Settings:
    """The stream's configuration: the defaults, or today's rule."""
    raw: dict[str, Any] = {
        "data": {
            "task": "binary",
            "target": TARGET,
            "timestamp": TIMESTAMP,
            "id_column": ID,
            "numeric": list(NUMERIC),
            "categorical": list(CATEGORICAL),
            "accepted_dir": str(root / "accepted"),
        },
        "validation": {"ranges": {}},
        "training": {"candidates": [CANDIDATE.model_dump()]},
        "gate": {"slices": []},
    }
    if today:
        raw["drift"] = {"control": "none"}
        raw["triggers"] = {"performance": {"also_watch": {}}, "concept": {"enabled": False}}
    return Settings(**raw, root=root)


@dataclass
class Champion:
    """A champion trained on batch 0 as a retrain would: model, record, reference."""

    info: VersionInfo
    model: Any
    reference: pd.DataFrame  # its training rows, with its output for prediction drift
    training: pd.DataFrame  # the same rows without it (schema, concept)


def train_champion(first: pd.DataFrame, settings: Settings, name: str) -> Champion:
    d = settings.data
    frame = labelled_rows(first, d.target)
    train, holdout = time_split(
        frame, settings.training.holdout_fraction, d.timestamp, settings.project.seed
    )
    model = build_pipeline(CANDIDATE, d.numeric, d.categorical, settings.project.seed)
    model.fit(train[list(d.features)], train[d.target].to_numpy())
    scores = model_scores(model, holdout[list(d.features)], d.task)
    y = holdout[d.target].to_numpy()
    holdout_values = {
        m: metric_value(m, y, scores)
        for m in (settings.training.primary_metric, *metrics.secondary_metrics(d.task))
    }
    record = VersionRecord(training_batches=(name,), holdout=holdout_values, trigger="bootstrap")
    info = VersionInfo(
        name="stream", version=1, run_id=None, aliases=("champion",), stage="Production",
        tags=record.to_tags(), description="", created_ms=0,
    )  # fmt: skip
    reference = assess.with_prediction(train, model, d.features, d.task)
    return Champion(info, model, reference, train)


@dataclass
class Outcome:
    """The alarms of one rule on one stream run."""

    pre: int = 0  # batches before the change
    false_alarms: int = 0
    delay: int | None = None  # batches from the change to the first alarm (1 = the first)
    first_triggers: tuple[str, ...] = ()


def fired(evidence: dict[str, Any], settings: Settings) -> tuple[str, ...]:
    """Every trigger that fired, read from the decision's evidence."""
    policy = settings.triggers
    out = []
    if evidence.get("drift_share", 0.0) >= policy.data_change.drift_share:
        out.append("data_change")
    k = policy.performance.breaches
    watched = evidence.get("performance_watched", {})
    perf = [evidence.get("performance", {}), *watched.values()]
    out += [f"performance({p['metric']})" for p in perf if p and p["breached"] >= k]
    if evidence.get("concept", {}).get("alarm"):
        out.append("concept")
    return tuple(out)


def decide(
    settings: Settings, champion: Champion, frame: pd.DataFrame, name: str
) -> tuple[bool, tuple[str, ...]]:
    """The monitor's decision on one accepted batch (the calls flows/monitor.py makes)."""
    d = settings.data
    current = assess.with_prediction(frame, champion.model, d.features, d.task)
    drift = assess.batch_drift(champion.reference, current, settings, html=None)
    concept = watch_concept(
        settings,
        champion.info,
        champion.model,
        [(name, labelled_rows(frame, d.target))],
        champion.training,
        source=name,
        once=True,
    )
    decision = assess.trigger_decision(
        settings, champion.info, champion.model, 0, "scheduled", drift,
        champion.training, frame, concept,
    )  # fmt: skip
    return decision.retrain, fired(decision.evidence, settings)


def run_stream(stream: Stream, n_batches: int, root: Path) -> dict[str, Outcome]:
    rules = {"today": settings_for(root, today=True), "default": settings_for(root, today=False)}
    accepted = root / "accepted"
    first = stream.batch(0)
    accept_batch(first, "b000", accepted)
    champion = train_champion(first, rules["default"], "b000")
    out = {rule: Outcome() for rule in rules}
    for i in range(1, n_batches):
        name = f"b{i:03d}"
        frame = stream.batch(i)
        accept_batch(frame, name, accepted)
        for rule, settings in rules.items():
            alarm, triggers = decide(settings, champion, frame, name)
            o = out[rule]
            if not stream.changed(i):
                o.pre += 1
                o.false_alarms += alarm
            elif alarm and o.delay is None:
                o.delay = i - stream.change_at + 1
                o.first_triggers = triggers
    return out


def _rate(outcomes: Sequence[Outcome]) -> float:
    pre = sum(o.pre for o in outcomes)
    return 100.0 * sum(o.false_alarms for o in outcomes) / pre if pre else float("nan")


def _delay(outcomes: Sequence[Outcome], after: int) -> str:
    delays = [o.delay for o in outcomes]
    caught = [x for x in delays if x is not None]
    if not caught:
        return f"never (>{after})"
    worst = max(caught)
    missed = len(delays) - len(caught)
    return f"{worst}" + (f" ({missed} missed)" if missed else "")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, fewer batches")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--change-at", type=int, default=21, help="first changed batch")
    parser.add_argument("--after", type=int, default=4, help="batches after the change")
    args = parser.parse_args(argv)
    seeds, change_at, after = args.seeds, args.change_at, args.after
    if args.quick:
        seeds, change_at, after = 1, 9, 2
    n_batches = change_at + after
    print(
        f"{len(STREAMS)} streams x {seeds} seed(s): {change_at - 1} batches of 1,000 labelled "
        f"rows before the change, {after} after; champion trained on batch 0"
    )
    header = (
        f"{'stream':<26} {'false alarms /100 (today)':>27} {'batches to alarm (today)':>26}"
        f"  triggers at the first alarm"
    )
    print(header)
    print("-" * len(header))
    failed = []
    t0 = time.perf_counter()
    for source, change in STREAMS:
        results: dict[str, list[Outcome]] = {"today": [], "default": []}
        for seed in range(seeds):
            stream = Stream(change=change, change_at=change_at, seed=seed, source=source)  # type: ignore[arg-type]
            with tempfile.TemporaryDirectory() as tmp:
                for rule, outcome in run_stream(stream, n_batches, Path(tmp)).items():
                    results[rule].append(outcome)
        new, old = results["default"], results["today"]
        rate, rate_old = _rate(new), _rate(old)
        if change == "none":
            delay, delay_old, trigger = "—", "—", ""
        else:
            delay, delay_old = _delay(new, after), _delay(old, after)
            counts = Counter(t for o in new if o.delay for t in o.first_triggers)
            trigger = ", ".join(f"{t} {n}/{len(new)}" for t, n in counts.items())
        print(
            f"{source + '/' + change:<26} {rate:>12.1f} ({rate_old:>5.1f}){'':>8}"
            f" {delay:>14} ({delay_old}){'':>2}  {trigger}"
        )
        if rate > FALSE_ALARM_TARGET:
            failed.append(f"{source}/{change}: {rate:.1f} false alarms per 100 batches")
        if change != "none" and any(o.delay is None or o.delay > DELAY_TARGET for o in new):
            failed.append(f"{source}/{change}: an alarm later than {DELAY_TARGET} batch")
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    if failed:
        print("targets missed: " + "; ".join(failed))
        return 1
    print(
        f"targets met: at most {FALSE_ALARM_TARGET:g} false alarms per 100 batches, every change "
        f"caught within {DELAY_TARGET} batch"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
