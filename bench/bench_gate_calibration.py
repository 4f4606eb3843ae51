"""Calibration of the promotion gate on the simulator: A/A rate, power, and the naive baseline.

Over many seeds (at least 40):

* **A/A** — the champion and the challenger are trained with the same configuration on two
  independent batches of the same distribution and judged on a third. The gate promotes
  the challenger in at most ~5 % of runs: the nominal rate of its one-sided 95 % test.
* **Power** — the challenger is truly better: the champion was trained without an
  informative feature (``late_payments_12m``). The true margin is
  measured on 200,000 fresh rows. The gate must promote in at least 80 % of runs at the
  stated holdout size.
* **Point-estimate baseline** — the same runs judged by "challenger metric > champion
  metric", what single-number comparisons do: about half of the A/A runs promote.

Both judges see the same models and rows; the gate is ``challenger.gate.decide`` with the
default policy of ``challenger.yaml`` (superiority, 95 %, BCa, 2,000 resamples, slices
and calibration guard). Run: ``python bench/bench_gate_calibration.py [--seeds 100]``.
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
from challenger.data import simulate_batch
from challenger.evaluation import Check, gather_evidence, positive_scores
from challenger.gate import Outcome, decide
from challenger.training import build_pipeline

CANDIDATE = CandidateConfig(
    name="logistic_regression",
    estimator="sklearn.linear_model.LogisticRegression",
    params={"max_iter": 1000},
)
OK = (Check("smoke_test", True, "rows", "predicts", "benchmark models are fitted in-process"),)
WEAK_DROP = ("late_payments_12m",)


def _fit(settings: Settings, frame: pd.DataFrame, numeric: tuple[str, ...]) -> object:
    pipe = build_pipeline(CANDIDATE, numeric, settings.data.categorical, settings.project.seed)
    return pipe.fit(frame[list(numeric + settings.data.categorical)], frame[settings.data.target])


def _judge(
    settings: Settings, champion: object, challenger: object, holdout: pd.DataFrame, seed: int
) -> tuple[bool, bool]:
    """(gate promotes, point estimate promotes) for one pair of models on one holdout."""
    X = holdout[list(settings.data.features)]
    y = holdout[settings.data.target].to_numpy()
    s_champ, s_chal = positive_scores(champion, X), positive_scores(challenger, X)
    gate = settings.gate
    ev = gather_evidence(
        y,
        s_chal,
        s_champ,
        primary_metric="roc_auc",
        champion_version=1,
        challenger_version=2,
        confidence=gate.confidence,
        n_resamples=gate.n_resamples,
        seed=seed,
        slice_values={s.column: holdout[s.column].astype(str).to_numpy() for s in gate.slices},
        slices=gate.slices,
    )
    decision = decide(ev, OK, gate)
    naive = ev.challenger_value > (ev.champion_value or 0.0)
    return decision.outcome is Outcome.PROMOTE, naive


def _rate(hits: list[bool]) -> str:
    k, n = sum(hits), len(hits)
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    return f"{k:3d}/{n} = {k / n:6.1%}  (Wilson 95% CI {lo:.1%}–{hi:.1%})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=200, help="runs per scenario (at least 40)")
    parser.add_argument("--train-rows", type=int, default=4000)
    parser.add_argument("--holdout-rows", type=int, default=3000)
    args = parser.parse_args()
    if args.seeds < 40:
        parser.error("--seeds must be at least 40")
    settings = Settings()
    numeric = settings.data.numeric
    weak_numeric = tuple(c for c in numeric if c not in WEAK_DROP)
    t0 = time.perf_counter()

    # The stated margin: the weak and full models' AUC on 200,000 fresh rows, on a few seeds.
    big = simulate_batch(9_999, 200_000, seed=1)
    margins = []
    for s in range(3):
        train = simulate_batch(5_000 + s, args.train_rows, seed=1)
        full, weak = _fit(settings, train, numeric), _fit(settings, train, weak_numeric)
        X, y = big[list(settings.data.features)], big[settings.data.target]
        margins.append(
            roc_auc_score(y, positive_scores(full, X)) - roc_auc_score(y, positive_scores(weak, X))
        )
    margin = float(np.mean(margins))

    aa_gate, aa_naive, pw_gate, pw_naive = [], [], [], []
    for s in range(args.seeds):
        a = simulate_batch(1_000 + s, args.train_rows, seed=11)
        b = simulate_batch(2_000 + s, args.train_rows, seed=11)
        holdout = simulate_batch(3_000 + s, args.holdout_rows, seed=11)
        champion, twin = _fit(settings, a, numeric), _fit(settings, b, numeric)
        g, n = _judge(settings, champion, twin, holdout, seed=s)
        aa_gate.append(g)
        aa_naive.append(n)
        weak = _fit(settings, a, weak_numeric)
        g, n = _judge(settings, weak, twin, holdout, seed=s)
        pw_gate.append(g)
        pw_naive.append(n)

    elapsed = time.perf_counter() - t0
    aa_rate, power = np.mean(aa_gate), np.mean(pw_gate)
    print(
        f"gate calibration on the simulator: {args.seeds} seeds, train {args.train_rows} rows per model, "
        f"holdout {args.holdout_rows} rows, {settings.gate.n_resamples} BCa resamples ({elapsed:.0f} s)"
    )
    print(
        f"true margin of the better challenger: ΔAUC = {margin:+.4f} (200,000 fresh rows, mean of 3 fits)"
    )
    print()
    # Monte-Carlo honesty: with a finite number of runs the observed rate scatters around the
    # true one, so the verdicts are binomial tests, not comparisons of a raw proportion.
    aa_p = binomtest(sum(aa_gate), len(aa_gate), 0.05, alternative="greater").pvalue
    pw_p = binomtest(sum(pw_gate), len(pw_gate), 0.80, alternative="less").pvalue
    aa_ok, pw_ok = aa_rate <= 0.05 or aa_p > 0.05, power >= 0.80 or pw_p > 0.05
    print(
        f"A/A     gate promotes            {_rate(aa_gate)}   target ≤ 5%: "
        f"{'PASS' if aa_ok else 'FAIL'} (binomial p={aa_p:.2f} against 5%)"
    )
    print(f"A/A     point estimate promotes  {_rate(aa_naive)}")
    print(
        f"power   gate promotes            {_rate(pw_gate)}   target ≥ 80%: "
        f"{'PASS' if pw_ok else 'FAIL'} (binomial p={pw_p:.2f} against 80%)"
    )
    print(f"power   point estimate promotes  {_rate(pw_naive)}")


if __name__ == "__main__":
    main()
