"""Calibration of the promotion gate on the simulator: false promotions, power, baseline.

Over many seeds (at least 40), three scenarios, each judged by the gate with the default
policy of ``challenger.yaml`` (superiority, one-sided 95 %, BCa, 2,000 resamples, slices,
calibration guard, the decision-level metric Brier as a second way to win, Holm-adjusted)
at several ``min_improvement`` values:

* **exact null** — two score vectors of identical population quality (Δ = 0 by symmetry):
  the rate of the bootstrap test itself, which should be the nominal 5 %.
* **A/A** — champion and challenger trained with the same configuration on two
  independent batches of the same distribution, judged on a third. Two fits are never
  exactly equally good, so at ``min_improvement: 0`` the gate sometimes (correctly)
  detects that the new fit is a little better; a small ``min_improvement`` asks for an
  improvement worth shipping.
* **power** — the champion was trained without an informative feature
  (``late_payments_12m``); the true margin is measured on 200,000 fresh rows.

Beside them, the point-estimate rule "challenger AUC > champion AUC" that single-number
gates use. Run: ``python bench/bench_gate_calibration.py [--seeds 200]``.

``--quick`` runs the same code on a few seeds, small batches and 200 resamples, in seconds
(the test suite runs it so that a moved module cannot break the benchmark unnoticed); its
rates are printed, not meant to be read.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from sklearn.metrics import roc_auc_score
from statsmodels.stats.proportion import proportion_confint

from challenger.config import CandidateConfig, Settings
from challenger.demo.simulator import simulate_batch
from challenger.gate.decide import Outcome, decide
from challenger.gate.evidence import Check, Evidence, gather_evidence
from challenger.problem import model_scores
from challenger.train.pipeline import build_pipeline

CANDIDATE = CandidateConfig(
    name="logistic_regression",
    estimator="sklearn.linear_model.LogisticRegression",
    params={"max_iter": 1000},
)
OK = (Check("smoke_test", True, "rows", "predicts", "benchmark models are fitted in-process"),)
WEAK_DROP = ("late_payments_12m",)
QUICK = {"seeds": 3, "train_rows": 1000, "holdout_rows": 600, "margin_rows": 10_000}
MIN_SEEDS = 40


def _fit(settings: Settings, frame: pd.DataFrame, numeric: tuple[str, ...]) -> object:
    pipe = build_pipeline(CANDIDATE, numeric, settings.data.categorical, settings.project.seed)
    return pipe.fit(frame[list(numeric + settings.data.categorical)], frame[settings.data.target])


def _evidence(
    settings: Settings, champion: object, challenger: object, holdout: pd.DataFrame, seed: int
) -> Evidence:
    """Both fitted models scored on the same holdout, as the retrain flow does."""
    X = holdout[list(settings.data.features)]
    y = holdout[settings.data.target].to_numpy()
    gate = settings.gate
    return gather_evidence(
        y,
        model_scores(challenger, X, "binary"),
        model_scores(champion, X, "binary"),
        primary_metric="roc_auc",
        champion_version=1,
        challenger_version=2,
        confidence=gate.confidence,
        n_resamples=gate.n_resamples,
        seed=seed,
        slice_values={s.column: holdout[s.column].astype(str).to_numpy() for s in gate.slices},
        slices=gate.slices,
        decision_metrics=_decision_metrics(settings),
        small_sample_units=gate.small_sample_rows,
    )


def _decision_metrics(settings: Settings) -> tuple[str, ...]:
    return tuple(settings.gate.decision_metrics_for("binary", "roc_auc"))


def _exact_null(n_rows: int, seed: int, settings: Settings) -> Evidence:
    """Two score vectors of identical population quality: Δ is exactly 0 by symmetry."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n_rows)
    shared = rng.normal(0, 1, n_rows)
    a = 1 / (1 + np.exp(-(1.2 * y + shared + rng.normal(0, 0.5, n_rows))))
    b = 1 / (1 + np.exp(-(1.2 * y + shared + rng.normal(0, 0.5, n_rows))))
    return gather_evidence(
        y,
        b,
        a,
        primary_metric="roc_auc",
        champion_version=1,
        challenger_version=2,
        confidence=settings.gate.confidence,
        n_resamples=settings.gate.n_resamples,
        seed=seed,
        decision_metrics=_decision_metrics(settings),
        small_sample_units=settings.gate.small_sample_rows,
    )


def _rate(hits: list[bool]) -> str:
    k, n = sum(hits), len(hits)
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    return f"{k:3d}/{n} = {k / n:6.1%}  (Wilson 95% CI {lo:.1%}–{hi:.1%})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=200, help="runs per scenario (at least 40)")
    parser.add_argument("--train-rows", type=int, default=4000)
    parser.add_argument("--holdout-rows", type=int, default=3000)
    parser.add_argument(
        "--min-improvements",
        type=lambda v: [float(x) for x in v.split(",")],
        default=[0.0, 0.002, 0.005],
        help="comma-separated gate.min_improvement values to judge the same runs with",
    )
    parser.add_argument("--margin-rows", type=int, default=200_000, help=argparse.SUPPRESS)
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a size that runs in seconds ({QUICK}, 200 resamples); not a calibration",
    )
    args = parser.parse_args()
    if args.quick:  # explicit options still win over the quick size
        parser.set_defaults(**QUICK)
        args = parser.parse_args()
    elif args.seeds < MIN_SEEDS:
        parser.error(f"--seeds must be at least {MIN_SEEDS}")
    # The default policy of challenger.yaml; --quick only resamples less.
    settings = Settings(gate={"n_resamples": 200}) if args.quick else Settings()  # type: ignore[arg-type]
    numeric = settings.data.numeric
    weak_numeric = tuple(c for c in numeric if c not in WEAK_DROP)
    t0 = time.perf_counter()

    # The stated margin: the weak and full models' AUC on 200,000 fresh rows, on a few seeds.
    big = simulate_batch(9_999, args.margin_rows, seed=1)
    margins = []
    for s in range(3):
        train = simulate_batch(5_000 + s, args.train_rows, seed=1)
        full, weak = _fit(settings, train, numeric), _fit(settings, train, weak_numeric)
        X, y = big[list(settings.data.features)], big[settings.data.target]
        margins.append(
            roc_auc_score(y, model_scores(full, X, "binary"))
            - roc_auc_score(y, model_scores(weak, X, "binary"))
        )
    margin = float(np.mean(margins))

    policies = {
        f"min_improvement {m:g}"
        + (" (configured)" if m == settings.gate.min_improvement else ""): (
            settings.gate.model_copy(update={"min_improvement": m})
        )
        for m in sorted({settings.gate.min_improvement, *args.min_improvements})
    }
    runs: dict[str, list[Evidence]] = {"exact null": [], "A/A": [], "power": []}
    for s in range(args.seeds):
        a = simulate_batch(1_000 + s, args.train_rows, seed=11)
        b = simulate_batch(2_000 + s, args.train_rows, seed=11)
        holdout = simulate_batch(3_000 + s, args.holdout_rows, seed=11)
        champion, twin = _fit(settings, a, numeric), _fit(settings, b, numeric)
        weak = _fit(settings, a, weak_numeric)
        runs["exact null"].append(_exact_null(args.holdout_rows, s, settings))
        runs["A/A"].append(_evidence(settings, champion, twin, holdout, seed=s))
        runs["power"].append(_evidence(settings, weak, twin, holdout, seed=s))
    elapsed = time.perf_counter() - t0

    print(
        f"gate calibration on the simulator: {args.seeds} seeds, train {args.train_rows} rows per model, "
        f"holdout {args.holdout_rows} rows, {settings.gate.n_resamples} BCa resamples ({elapsed:.0f} s)"
    )
    print(
        f"power scenario: true ΔAUC = {margin:+.4f} ({args.margin_rows:,} fresh rows, mean of 3 fits)"
    )
    print()
    # Monte-Carlo honesty: with a finite number of runs the observed rate scatters around the
    # true one, so the verdicts are binomial tests, not comparisons of a raw proportion.
    for name, gate in policies.items():
        print(f"gate, {name}:")
        for scenario, evidences in runs.items():
            hits = [decide(ev, OK, gate).outcome is Outcome.PROMOTE for ev in evidences]
            k, n = sum(hits), len(hits)
            if scenario == "power":
                p = binomtest(k, n, 0.80, alternative="less").pvalue
                verdict = f"target ≥ 80%: {'PASS' if k / n >= 0.80 or p > 0.05 else 'FAIL'} (binomial p={p:.2f})"
            else:
                p = binomtest(k, n, 0.05, alternative="greater").pvalue
                verdict = f"target ≤ 5%: {'PASS' if k / n <= 0.05 or p > 0.05 else 'FAIL'} (binomial p={p:.2f})"
            print(f"  {scenario:<11} promotes {_rate(hits)}   {verdict}")
    print("point estimate (challenger AUC > champion AUC), what single-number gates do:")
    for scenario, evidences in runs.items():
        hits = [ev.challenger_value > (ev.champion_value or 0.0) for ev in evidences]
        print(f"  {scenario:<11} promotes {_rate(hits)}")


if __name__ == "__main__":
    main()
