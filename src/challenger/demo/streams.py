"""Labelled streams with a known change point, for the monitor's benchmark and tests.

A :class:`Stream` yields batches (``stream.batch(i)``) of a binary-labelled stream whose
regime changes at batch ``change_at``. The changes are the ones a monitor must tell apart:

* ``none`` — stationary: any alarm is a false alarm;
* ``covariate`` — who arrives changes (several inputs shift), the labelling rule does not;
* ``threshold`` — the labelling threshold moves while the inputs stay put: the ranking of
  rows is unchanged, so a ranking metric (ROC AUC) stays where it was, but the decisions at
  the operating threshold are wrong for about 14 % of the rows;
* ``concept`` — the labelling rule itself changes (weights flip sign): the ranking breaks.

Two sources, each with six numeric inputs and three integer-coded categorical inputs (codes
stored as integers, the way CSV files deliver them):

* ``synthetic`` — normal, skewed, uniform and count-valued inputs, a latent score from a
  linear rule with per-category effects, and a label from the score and a threshold;
* ``breast_cancer`` — a smoothed bootstrap of scikit-learn's bundled Wisconsin breast cancer
  data (569 rows, no download): rows drawn with replacement and jittered by 5 % of each
  column's standard deviation, three further columns cut into quantile codes; after the
  change point the covariate stream draws large tumours more often, and the concept stream
  flips the label of one code's rows.

Everything is deterministic under ``seed``; every batch repeats exactly.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd

ChangeKind = Literal["none", "covariate", "threshold", "concept"]
Source = Literal["synthetic", "breast_cancer"]
CHANGES: tuple[ChangeKind, ...] = ("none", "covariate", "threshold", "concept")

NUMERIC = ("x0", "x1", "x2", "x3", "x4", "x5")
CATEGORICAL = ("c0", "c1", "c2")
TARGET, TIMESTAMP, ID = "y", "ts", "row_id"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

# The synthetic rule: weights of the standardised inputs and per-code effects.
_WEIGHTS = np.array([1.0, -0.8, 0.6, 0.5, -0.4, 0.3])
_CHANGED_WEIGHTS = np.array([-1.0, 0.8, 0.6, -0.5, -0.4, 0.3])  # the ranking breaks
_LEVELS = (
    (0.5, 0.3, 0.2),
    (0.3, 0.25, 0.2, 0.15, 0.1),
    (0.3, 0.2, 0.15, 0.1, 0.1, 0.07, 0.05, 0.03),
)
_SHIFTED_LEVELS = (0.1, 0.15, 0.2, 0.25, 0.3)  # c1's mix after a covariate shift
_EFFECTS = (np.array([0.0, 0.4, -0.4]), np.linspace(-0.5, 0.5, 5), np.linspace(-0.3, 0.3, 8))
_POSITIVE_QUANTILE = 0.52  # threshold at mean + 0.52 sd: about 30 % positives
_THRESHOLD_SHIFT = 0.45  # sd of the score the threshold moves by: about 14 % of decisions flip

# The breast-cancer stream: which columns become inputs, and which become codes.
_BC_NUMERIC = (
    "mean radius",
    "mean texture",
    "mean smoothness",
    "worst area",
    "worst concavity",
    "mean symmetry",
)
_BC_CODED = (("mean compactness", 4), ("worst texture", 3), ("mean fractal dimension", 5))
_JITTER = 0.05


@dataclass(frozen=True)
class Stream:
    """A labelled stream of batches with one change point.

    Attributes:
        change: What changes at ``change_at`` (see the module docstring).
        change_at: Index of the first batch of the new regime.
        rows: Rows per batch.
        seed: Base seed; each batch mixes in its index.
        noise: Synthetic source: sd of the label noise, in units of the score's sd
            (0: the label is a function of the inputs, and a good model's ROC AUC is ~1).
        source: ``synthetic`` or ``breast_cancer``.
    """

    change: ChangeKind = "none"
    change_at: int = 10
    rows: int = 1000
    seed: int = 0
    noise: float = 0.0
    source: Source = "synthetic"

    def __post_init__(self) -> None:
        if self.change not in CHANGES:
            raise ValueError(f"change is {self.change!r}; use one of {', '.join(CHANGES)}")
        if self.source == "breast_cancer" and self.change == "threshold":
            raise ValueError(
                "the breast_cancer stream has no threshold shift (its labels are observed, "
                "not drawn from a score); use none, covariate or concept"
            )
        if self.rows < 1 or self.change_at < 0 or self.noise < 0:
            raise ValueError("rows must be positive, change_at and noise not negative")

    @property
    def name(self) -> str:
        """``source/change``, e.g. ``synthetic/threshold``."""
        return f"{self.source}/{self.change}"

    def changed(self, i: int) -> bool:
        """Whether batch ``i`` belongs to the new regime."""
        return self.change != "none" and i >= self.change_at

    def batch(self, i: int) -> pd.DataFrame:
        """Batch ``i``: an id, a timestamp, the six numeric and three coded inputs, the label."""
        rng = np.random.default_rng([self.seed, i])
        after = self.changed(i)
        if self.source == "synthetic":
            frame = _synthetic(rng, self.rows, self.change if after else "none", self.noise)
        else:
            frame = _breast_cancer(rng, self.rows, self.change if after else "none")
        seconds = np.sort(rng.uniform(0, 86_400, self.rows))
        ts = pd.to_datetime(EPOCH + timedelta(days=i)) + pd.to_timedelta(seconds, unit="s")
        ids = pd.Series(i * 1_000_000 + np.arange(self.rows, dtype=np.int64), name=ID)
        return pd.concat([ids, pd.Series(ts, name=TIMESTAMP), frame], axis=1)


def _synthetic(rng: np.random.Generator, n: int, change: str, noise: float) -> pd.DataFrame:
    shift = change == "covariate"
    x = {
        "x0": rng.normal(0.6 if shift else 0.0, 1.0, n),
        "x1": rng.normal(-0.6 if shift else 0.0, 1.0, n),
        "x2": rng.lognormal(0.0, 0.5, n),
        "x3": rng.uniform(0.3 if shift else 0.0, 1.3 if shift else 1.0, n),
        "x4": rng.poisson(3.0, n).astype(np.int64),
        "x5": rng.gamma(2.0, 1.0, n),
    }
    codes = []
    for j, p in enumerate(_LEVELS):
        probs = _SHIFTED_LEVELS if shift and j == 1 else p
        codes.append(rng.choice(len(p), n, p=probs).astype(np.int64))
    standard = np.column_stack(
        [
            x["x0"],
            x["x1"],
            2.0 * np.log(x["x2"]),
            (x["x3"] - 0.5) * np.sqrt(12.0),
            (x["x4"] - 3.0) / np.sqrt(3.0),
            (x["x5"] - 2.0) / np.sqrt(2.0),
        ]
    )
    weights = _CHANGED_WEIGHTS if change == "concept" else _WEIGHTS
    score = standard @ weights + sum(e[c] for e, c in zip(_EFFECTS, codes, strict=True))
    sd = _score_sd()
    threshold = _POSITIVE_QUANTILE * sd + (_THRESHOLD_SHIFT * sd if change == "threshold" else 0)
    label = (score + rng.normal(0.0, noise * sd, n) > threshold).astype(np.int64)
    out = pd.DataFrame(x)
    for name, c in zip(CATEGORICAL, codes, strict=True):
        out[name] = c
    out[TARGET] = label
    return out


@functools.cache
def _score_sd() -> float:
    """The reference score's standard deviation (inputs standardised, codes' effects added)."""
    between = sum(
        float(np.dot(p, e**2) - np.dot(p, e) ** 2) for p, e in zip(_LEVELS, _EFFECTS, strict=True)
    )
    return float(np.sqrt(np.sum(_WEIGHTS**2) + between))


@functools.cache
def _breast_cancer_data() -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    return bunch.data, bunch.target.to_numpy(dtype=np.int64)


def _breast_cancer(rng: np.random.Generator, n: int, change: str) -> pd.DataFrame:
    data, target = _breast_cancer_data()
    if change == "covariate":  # large tumours arrive more often; P(label | inputs) is unchanged
        size = data["mean radius"].to_numpy()
        weights = np.exp(1.2 * (size - size.mean()) / size.std())
        rows = rng.choice(len(data), n, p=weights / weights.sum())
    else:
        rows = rng.integers(0, len(data), n)
    out: dict[str, np.ndarray] = {}
    for name, column in zip(NUMERIC, _BC_NUMERIC, strict=True):
        values = data[column].to_numpy()
        jitter = rng.normal(0.0, _JITTER * values.std(), n)
        out[name] = np.abs(values[rows] + jitter)  # every source column is positive
    for name, (column, k) in zip(CATEGORICAL, _BC_CODED, strict=True):
        values = data[column].to_numpy()
        edges = np.quantile(values, np.linspace(0, 1, k + 1)[1:-1])
        jittered = values[rows] + rng.normal(0.0, _JITTER * values.std(), n)
        out[name] = np.searchsorted(edges, jittered).astype(np.int64)
    label = target[rows].copy()
    if change == "concept":  # the rows of one code change their meaning
        flip = out["c1"] == 2
        label[flip] = 1 - label[flip]
    frame = pd.DataFrame(out)
    frame[TARGET] = label
    return frame
