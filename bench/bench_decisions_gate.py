"""How the gate decides on data nobody here wrote: small holdouts, A/A, power, a threshold shift.

Issue 11's gate side, measured in one run, each figure beside the point-estimate rule
("the challenger's metric is better") that single-number gates use. Everything is judged by
the gate's own code (``gather_evidence`` + ``decide``) with the default policy of
``challenger.yaml`` (slices off: the public datasets have no slice column).

1. **Exact null on small holdouts** — two score vectors of identical quality, n rows: how
   often the one-sided 95 % lower bound of ΔAUC and Δlog-loss clears 0, for BCa (the gate's
   method before) and the studentized jackknife t bounds it now uses below 500 rows.
2. **A/A false promotions** — the same configuration fitted twice on disjoint halves of the
   training rows, judged on a 30 % holdout: scikit-learn's bundled breast cancer (binary),
   wine (multiclass) and diabetes (regression) sets and simulator draws of 150–600 rows, and
   simulator runs with a 3,000-row holdout. Target ≤ 5 %.
3. **Power at a stated effect** — (a) the champion lacks an informative feature
   (``late_payments_12m``; the true ΔAUC is measured on 200,000 fresh rows), 3,000-row
   holdout; (b) a ranking-preserving threshold shift (the labels' threshold moves, ROC AUC
   stays, accuracy gains ~14 points): the decision-level metric must carry it. Target ≥ 80 %.
4. **Clear-cut small-data cases decided** — a constant predictor (``DummyClassifier`` /
   ``DummyRegressor``) against a fitted model, each way round, on datasets of 150–600 rows:
   the share PROMOTEd (model replaces dummy) or REJECTed (dummy replaces model) correctly.
   Target ≥ 95 %.

Run: ``python bench/bench_decisions_gate.py [--quick]`` (``--quick``: fewer seeds).
Bundled datasets only (no download).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from statsmodels.stats.proportion import proportion_confint

from challenger import metrics
from challenger.config import CandidateConfig, GateConfig, Settings
from challenger.demo.simulator import simulate_batch
from challenger.gate.decide import Outcome, decide
from challenger.gate.evidence import Check, Evidence, gather_evidence
from challenger.problem import encode_target, model_scores
from challenger.stats import paired_bootstrap
from challenger.train.pipeline import build_pipeline

OK = (Check("smoke_test", True, "rows", "predicts", "benchmark models are fitted in-process"),)
SETTINGS = Settings()
POLICY: GateConfig = SETTINGS.gate.model_copy(update={"slices": ()})
PRIMARY = {"binary": "roc_auc", "multiclass": "roc_auc", "regression": "rmse"}


@dataclass(frozen=True)
class Table:
    """A small dataset: features, target, task."""

    name: str
    X: pd.DataFrame
    y: np.ndarray
    task: str


def _public() -> list[Table]:
    cancer, wine, diabetes = (
        load_breast_cancer(as_frame=True),
        load_wine(as_frame=True),
        load_diabetes(as_frame=True),
    )
    return [
        Table("breast_cancer (569 rows)", cancer.data, cancer.target.to_numpy(), "binary"),
        Table("wine (178 rows, 3 classes)", wine.data, wine.target.to_numpy(), "multiclass"),
        Table("diabetes (442 rows)", diabetes.data, diabetes.target.to_numpy(float), "regression"),
    ]


def _simulated(n: int, seed: int, task: str) -> Table:
    target = {"binary": "default", "regression": "risk_score"}[task]
    frame = simulate_batch(seed, n, seed=3, target=target, task=task)
    X = pd.get_dummies(frame[list(SETTINGS.data.features)], dtype=float)
    return Table(f"simulator {task} ({n} rows)", X, frame[target].to_numpy(), task)


def _model(task: str) -> Any:
    if task == "regression":
        return make_pipeline(StandardScaler(), Ridge())
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def _dummy(task: str) -> Any:
    return DummyRegressor() if task == "regression" else DummyClassifier(strategy="prior")


def _judge(
    table: Table,
    hold: np.ndarray,
    champion: Any,
    challenger: Any,
    seed: int,
    policy: GateConfig = POLICY,
) -> tuple[Evidence, Outcome]:
    X, task = table.X.iloc[hold], table.task
    classes = sorted(set(np.unique(table.y).tolist())) if task == "multiclass" else None
    y = encode_target(pd.Series(table.y[hold]), task, "y", classes)
    primary = PRIMARY[task]
    ev = gather_evidence(
        y,
        model_scores(challenger, X, task, classes),
        model_scores(champion, X, task, classes),
        primary_metric=primary,
        champion_version=1,
        challenger_version=2,
        confidence=policy.confidence,
        n_resamples=policy.n_resamples,
        seed=seed,
        task=task,
        decision_metrics=tuple(policy.decision_metrics_for(task, primary)),
        small_sample_units=policy.small_sample_rows,
    )
    return ev, decide(ev, OK, policy).outcome


def _point_estimate_promotes(ev: Evidence) -> bool:
    better = metrics.sign(ev.primary_metric) * (ev.challenger_value - (ev.champion_value or 0.0))
    return bool(better > 0)


def _rate(hits: list[bool]) -> str:
    k, n = sum(hits), len(hits)
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    return f"{k:4d}/{n:<4d} = {k / n:6.1%} (Wilson 95% CI {lo:5.1%}–{hi:5.1%})"


def _verdict(hits: list[bool], target: float, at_most: bool) -> str:
    k, n = sum(hits), len(hits)
    if at_most:
        p = binomtest(k, n, target, alternative="greater").pvalue
        ok = k / n <= target or p > 0.05
        return f"target ≤ {target:.0%}: {'PASS' if ok else 'FAIL'} (binomial p={p:.2f})"
    p = binomtest(k, n, target, alternative="less").pvalue
    ok = k / n >= target or p > 0.05
    return f"target ≥ {target:.0%}: {'PASS' if ok else 'FAIL'} (binomial p={p:.2f})"


def _row(label: str, gate: list[bool], point: list[bool], target: float, at_most: bool) -> None:
    print(f"  {label:<44} gate {_rate(gate)}  {_verdict(gate, target, at_most)}")
    print(f"  {'':<44} point estimate {_rate(point)}")


# ---- 1. exact null on small holdouts -------------------------------------------------------------


def exact_null(seeds: int) -> None:
    print(
        "1. exact null (identical-quality scores): share whose one-sided 95% lower bound clears 0"
    )
    for n in (30, 60, 120, 250):
        for metric in ("roc_auc", "log_loss"):
            bca, small, point = [], [], []
            for s in range(seeds):
                rng = np.random.default_rng([n, s])
                y = rng.integers(0, 2, n)
                shared = rng.normal(0, 1, n)
                a = 1 / (1 + np.exp(-(1.2 * (2 * y - 1) + shared + rng.normal(0, 0.7, n))))
                b = 1 / (1 + np.exp(-(1.2 * (2 * y - 1) + shared + rng.normal(0, 0.7, n))))
                try:
                    r = paired_bootstrap(metric, y, a, b, n_resamples=POLICY.n_resamples, seed=s)
                    t = paired_bootstrap(
                        metric, y, a, b, n_resamples=200, seed=s, small_sample_units=n + 1
                    )
                except ValueError:
                    continue
                bca.append(r.lower > 0)
                small.append(t.lower > 0)
                point.append(r.delta > 0)
            print(
                f"  n={n:<4d} {metric:<9} BCa {sum(bca) / len(bca):6.1%}   studentized (the gate) "
                f"{sum(small) / len(small):6.1%}  {_verdict(small, 0.05, True)}   point estimate {sum(point) / len(point):6.1%}"
            )


# ---- 2. A/A -------------------------------------------------------------------------------------


def _splits(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = rng.permutation(n)
    n_hold = round(0.3 * n)
    rest = order[n_hold:]
    return order[:n_hold], rest[: rest.size // 2], rest[rest.size // 2 :]


def _subsample(table: Table, seed: int) -> Table:
    """Every other seed, a random 150-row-or-more part of a public dataset (its own shape)."""
    if seed % 2 == 0 or len(table.y) <= 150:
        return table
    rng = np.random.default_rng(seed)
    keep = np.sort(
        rng.choice(len(table.y), size=int(rng.integers(150, len(table.y))), replace=False)
    )
    name = f"{table.name.split(' (')[0]} ({keep.size} rows)"
    return Table(name, table.X.iloc[keep].reset_index(drop=True), table.y[keep], table.task)


def _small_tables(seeds: int) -> Iterator[tuple[Table, int]]:
    """Public datasets (a random part of 150 rows or more on odd seeds) and simulator draws."""
    public = _public()
    for s in range(seeds):
        for table in public:
            yield _subsample(table, s), s
        size = (150, 300, 600)[s % 3]
        yield _simulated(size, 500 + s, "binary"), s
        yield _simulated(size, 900 + s, "regression"), s


def aa(seeds: int, big_seeds: int) -> None:
    print("2. A/A: the same configuration fitted twice on disjoint halves, judged on a 30% holdout")
    gate: list[bool] = []
    point: list[bool] = []
    for table, s in _small_tables(seeds):
        rng = np.random.default_rng([s, len(table.y)])
        hold, half_a, half_b = _splits(len(table.y), rng)
        champion = _model(table.task).fit(table.X.iloc[half_a], table.y[half_a])
        twin = _model(table.task).fit(table.X.iloc[half_b], table.y[half_b])
        ev, outcome = _judge(table, hold, champion, twin, s)
        gate.append(outcome is Outcome.PROMOTE)
        point.append(_point_estimate_promotes(ev))
    _row("small data (150–600 rows, 45–180 held out)", gate, point, 0.05, True)
    gate, point = [], []
    for s in range(big_seeds):
        champion, twin, _, holdout = _simulator_pair(s)
        ev, outcome = _judge(holdout, np.arange(len(holdout.y)), champion, twin, s)
        gate.append(outcome is Outcome.PROMOTE)
        point.append(_point_estimate_promotes(ev))
    _row("simulator, 3,000-row holdout", gate, point, 0.05, True)


# ---- 3. power -----------------------------------------------------------------------------------

CANDIDATE = CandidateConfig(
    name="logistic_regression",
    estimator="sklearn.linear_model.LogisticRegression",
    params={"max_iter": 1000},
)
WEAK = tuple(c for c in SETTINGS.data.numeric if c != "late_payments_12m")


def _fit_sim(frame: pd.DataFrame, numeric: tuple[str, ...]) -> Any:
    pipe = build_pipeline(CANDIDATE, numeric, SETTINGS.data.categorical, SETTINGS.project.seed)
    return pipe.fit(frame[list(numeric + SETTINGS.data.categorical)], frame[SETTINGS.data.target])


def _sim_table(frame: pd.DataFrame) -> Table:
    return Table(
        "simulator",
        frame[list(SETTINGS.data.features)],
        frame[SETTINGS.data.target].to_numpy(),
        "binary",
    )


def _simulator_pair(s: int) -> tuple[Any, Any, Any, Table]:
    a = simulate_batch(1_000 + s, 4000, seed=11)
    b = simulate_batch(2_000 + s, 4000, seed=11)
    holdout = simulate_batch(3_000 + s, 3000, seed=11)
    return (
        _fit_sim(a, SETTINGS.data.numeric),
        _fit_sim(b, SETTINGS.data.numeric),
        _fit_sim(a, WEAK),
        _sim_table(holdout),
    )


def _threshold_shift(n: int, seed: int) -> tuple[Table, Any, Any, float]:
    """Same inputs; the label's threshold moves from 0 to 0.55 sd: same ranking, other decisions."""
    rng = np.random.default_rng(seed)
    w = np.array([1.0, -0.8, 0.6, 0.4])

    def draw(cut: float) -> tuple[pd.DataFrame, np.ndarray]:
        x = rng.normal(size=(n, 4))
        score = x @ w + rng.normal(0, 0.3, n)
        return pd.DataFrame(x, columns=["x1", "x2", "x3", "x4"]), (score > cut).astype(int)

    (xb, yb), (xa, ya), (xh, yh) = draw(0.0), draw(0.55 * 1.5), draw(0.55 * 1.5)
    champion = _model("binary").fit(xb, yb)
    challenger = _model("binary").fit(xa, ya)
    gain = float(np.mean(challenger.predict(xh) == yh) - np.mean(champion.predict(xh) == yh))
    return Table("threshold shift", xh, yh, "binary"), champion, challenger, gain


def power(seeds: int) -> None:
    print("3. power at a stated effect")
    big = simulate_batch(9_999, 200_000, seed=1)
    margins = []
    for s in range(3):
        train = simulate_batch(5_000 + s, 4000, seed=1)
        full, weak = _fit_sim(train, SETTINGS.data.numeric), _fit_sim(train, WEAK)
        X, y = big[list(SETTINGS.data.features)], big[SETTINGS.data.target]
        margins.append(
            roc_auc_score(y, model_scores(full, X, "binary"))
            - roc_auc_score(y, model_scores(weak, X, "binary"))
        )
    gate, point = [], []
    for s in range(seeds):
        _, twin, weak, holdout = _simulator_pair(s)
        ev, outcome = _judge(holdout, np.arange(len(holdout.y)), weak, twin, s)
        gate.append(outcome is Outcome.PROMOTE)
        point.append(_point_estimate_promotes(ev))
    _row(f"(a) true ΔAUC {np.mean(margins):+.4f}, 3,000-row holdout", gate, point, 0.80, False)
    gate, point, gains = [], [], []
    for s in range(seeds):
        table, champion, challenger, gain = _threshold_shift(3000, 70 + s)
        ev, outcome = _judge(table, np.arange(3000), champion, challenger, s)
        gate.append(outcome is Outcome.PROMOTE)
        point.append(_point_estimate_promotes(ev))
        gains.append(gain)
    _row(f"(b) threshold shift, ΔAUC ~0, accuracy {np.mean(gains):+.1%}", gate, point, 0.80, False)
    off = POLICY.model_copy(update={"decision_metrics": {}})
    without = []
    for s in range(seeds):
        table, champion, challenger, _ = _threshold_shift(3000, 70 + s)
        without.append(
            _judge(table, np.arange(3000), champion, challenger, s, off)[1] is Outcome.PROMOTE
        )
    print(f"  {'':<44} without decision metrics: {_rate(without)}")


# ---- 4. clear-cut small-data cases -------------------------------------------------------------


def clear_cut(seeds: int) -> None:
    print("4. clear-cut small-data cases (a constant predictor vs a fitted model, each way round)")
    per_name: dict[str, list[bool]] = {}
    gate: list[bool] = []
    point: list[bool] = []
    for table, s in _small_tables(seeds):
        rng = np.random.default_rng([s, len(table.y), 1])
        hold, half_a, half_b = _splits(len(table.y), rng)
        train = np.concatenate([half_a, half_b])
        model = _model(table.task).fit(table.X.iloc[train], table.y[train])
        dummy = _dummy(table.task).fit(table.X.iloc[train], table.y[train])
        for champion, challenger, wanted in (
            (dummy, model, Outcome.PROMOTE),
            (model, dummy, Outcome.REJECT),
        ):
            ev, outcome = _judge(table, hold, champion, challenger, s)
            right = outcome is wanted
            gate.append(right)
            point.append(_point_estimate_promotes(ev) == (wanted is Outcome.PROMOTE))
            per_name.setdefault(table.name.split(" (")[0], []).append(right)
    _row("decided correctly, all datasets", gate, point, 0.95, False)
    for name, hits in sorted(per_name.items()):
        print(f"    {name:<40} {_rate(hits)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer seeds (seconds; a smoke run, not a measurement)"
    )
    args = parser.parse_args()
    null_seeds, small_seeds, big_seeds = (100, 2, 4) if args.quick else (2000, 40, 200)
    t0 = time.perf_counter()
    print(
        f"gate decisions ({'quick' if args.quick else 'full'} run): default policy, confidence "
        f"{POLICY.confidence:.0%}, min_improvement {POLICY.min_improvement:g}, decision metrics "
        f"{POLICY.decision_metrics}, small_sample_rows {POLICY.small_sample_rows}, min_holdout_rows "
        f"{POLICY.min_holdout_rows}"
    )
    steps: list[tuple[Callable[..., None], tuple[int, ...]]] = [
        (exact_null, (null_seeds,)),
        (aa, (small_seeds, big_seeds)),
        (power, (big_seeds,)),
        (clear_cut, (small_seeds,)),
    ]
    for step, step_args in steps:
        step(*step_args)
        print(f"  ({time.perf_counter() - t0:.0f} s so far)")


if __name__ == "__main__":
    main()
