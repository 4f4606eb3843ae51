"""The demo's production-stream simulator.

It produces a realistic loan-default stream in daily batches: numeric and categorical
applicant features, a timestamp and a binary target drawn from a logistic model with
non-linear terms. It can inject covariate drift (who applies changes), concept drift (what
makes a loan default changes), delayed labels and corrupt batches. Everything is
deterministic under the seed; nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd

CorruptionKind = Literal["missing_column", "nulls", "out_of_range", "wrong_type", "new_category"]

REGIONS = ("north", "south", "east", "west", "central")
HOME = ("rent", "own", "mortgage")
PURPOSES = ("car", "home", "education", "business", "personal")
CHANNELS = ("web", "branch", "partner")
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Period:
    """What one simulated day looks like.

    Attributes:
        covariate_drift: 0 (reference population) to 1 (fully shifted population).
        concept_drift: 0 (reference risk model) to 1 (fully changed risk model).
    """

    covariate_drift: float = 0.0
    concept_drift: float = 0.0


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-z)), dtype=float)


def simulate_batch(
    day: int,
    n_rows: int,
    seed: int,
    period: Period = Period(),
    *,
    target: str = "default",
    timestamp: str = "ts",
    id_column: str = "application_id",
    label_noise: float = 0.0,
    task: str = "binary",
) -> pd.DataFrame:
    """Simulate one day of loan applications with their default outcome.

    The same latent risk drives every task: ``binary`` draws default (0/1) from it,
    ``multiclass`` an ordinal risk grade (``low``, ``medium``, ``high``) and
    ``regression`` a continuous risk score (the latent risk × 10 plus noise).

    Args:
        day: Day number since the simulation's epoch (sets timestamps and ids).
        n_rows: Applications in the batch.
        seed: Base seed; the day is mixed in so every day differs but repeats exactly.
        period: How drifted the population and the risk model are.
        target, timestamp, id_column: Column names.
        label_noise: Share of labels flipped at random (binary only).
        task: binary, multiclass or regression: the kind of target drawn.

    Returns:
        A frame with the configured columns, sorted by timestamp.
    """
    rng = np.random.default_rng([seed, day])
    cov = float(np.clip(period.covariate_drift, 0, 1))
    con = float(np.clip(period.concept_drift, 0, 1))

    def mix(p0: Sequence[float], p1: Sequence[float]) -> np.ndarray:
        p = (1 - cov) * np.asarray(p0) + cov * np.asarray(p1)
        return np.asarray(p / p.sum(), dtype=float)

    region = rng.choice(
        REGIONS, n_rows, p=mix([0.25, 0.2, 0.2, 0.2, 0.15], [0.15, 0.35, 0.15, 0.1, 0.25])
    )
    home = rng.choice(HOME, n_rows, p=mix([0.4, 0.2, 0.4], [0.55, 0.15, 0.3]))
    purpose = rng.choice(
        PURPOSES, n_rows, p=mix([0.25, 0.15, 0.15, 0.15, 0.3], [0.2, 0.1, 0.15, 0.25, 0.3])
    )
    channel = rng.choice(CHANNELS, n_rows, p=mix([0.5, 0.3, 0.2], [0.3, 0.15, 0.55]))

    age = np.clip(18 + rng.gamma(shape=2.2 - 0.6 * cov, scale=9.0, size=n_rows), 18, 90).round()
    income = np.round(rng.lognormal(mean=np.log(55_000) - 0.25 * cov, sigma=0.5, size=n_rows), -2)
    employment = np.minimum(age - 18, rng.exponential(6.0 - 2.0 * cov, n_rows)).round(1)
    credit = np.clip(rng.normal(680 - 45 * cov, 60, n_rows), 300, 850).round()
    loan = np.round(income * rng.uniform(0.1, 0.6 + 0.2 * cov, n_rows), -2)
    dti = np.clip(rng.beta(2, 5, n_rows) * 1.2 + 0.12 * cov, 0, 3).round(3)
    accounts = rng.poisson(5 + 1.5 * cov, n_rows)
    late = rng.poisson(np.clip(0.4 + (680 - credit) / 150, 0.05, None))

    log_inc = np.log(income / 55_000)
    ratio = loan / income
    # Reference risk model: credit history and debt drive default; young and renting add risk.
    z_a = (
        -1.9
        + 2.6 * (dti - 0.35)
        - 0.012 * (credit - 680)
        + 0.45 * late
        - 0.45 * log_inc
        + 1.2 * (ratio - 0.35)
        + 0.3 * (purpose == "business")
        + 0.25 * (home == "rent")
        - 0.03 * (employment - 5)
        + 0.7 * (age < 25)
        + 0.9 * ((dti > 0.5) & (late > 0))
    )
    # Changed risk model: partner-channel fraud and regional stress dominate, late payments
    # and debt matter less, and a new low-income x partner interaction appears.
    z_b = (
        -2.0
        + 0.6 * (dti - 0.35)
        - 0.005 * (credit - 680)
        + 0.1 * late
        - 0.9 * log_inc
        + 1.4 * (channel == "partner")
        + 0.9 * (region == "south")
        - 0.5 * (region == "north")
        + 0.6 * (purpose == "education")
        + 1.1 * ((income < 40_000) & (channel == "partner"))
        + 0.5 * (accounts > 7)
    )
    z = (1 - con) * z_a + con * z_b
    p = _sigmoid(z)
    u = rng.random(n_rows)
    y: np.ndarray = (u < p).astype(np.int64)
    if label_noise > 0:
        flip = rng.random(n_rows) < label_noise
        y = np.where(flip, 1 - y, y)
    if task == "multiclass":  # cumulative-logit grades: P(>= medium) > P(high)
        y = np.where(
            u < _sigmoid(z - 0.5), "high", np.where(u < _sigmoid(z + 2.0), "medium", "low")
        )
    elif task == "regression":
        y = np.round(10.0 * z + rng.normal(0.0, 2.0, n_rows), 3)
    elif task != "binary":
        raise ValueError(f"task must be binary, multiclass or regression; got {task!r}")

    seconds = np.sort(rng.uniform(0, 86_400, n_rows))
    start = EPOCH + timedelta(days=day)
    ts = pd.to_datetime(start) + pd.to_timedelta(seconds, unit="s")
    return pd.DataFrame(
        {
            id_column: day * 1_000_000 + np.arange(n_rows, dtype=np.int64),
            timestamp: ts,
            "age": age,
            "income": income,
            "loan_amount": loan,
            "credit_score": credit,
            "debt_to_income": dti,
            "employment_years": employment,
            "open_accounts": accounts.astype(np.int64),
            "late_payments_12m": late.astype(np.int64),
            "region": region,
            "home_ownership": home,
            "loan_purpose": purpose,
            "channel": channel,
            target: y,
        }
    )


def corrupt(
    df: pd.DataFrame, kind: CorruptionKind, seed: int, column: str = "credit_score"
) -> pd.DataFrame:
    """Return a damaged copy of a batch, as real pipelines deliver them.

    Args:
        df: A clean batch.
        kind: ``missing_column`` drops the column; ``nulls`` blanks 30 % of it;
            ``out_of_range`` writes impossible values into 5 % of it; ``wrong_type`` turns it
            into text; ``new_category`` puts an unseen category into 10 % of ``channel``.
        seed: Seed for which rows are damaged.
        column: The column to damage (``new_category`` always uses ``channel``).
    """
    rng = np.random.default_rng(seed)
    out = df.copy()
    n = len(out)
    if kind == "missing_column":
        return out.drop(columns=[column])
    if kind == "nulls":
        rows = rng.random(n) < 0.3
        out[column] = out[column].astype("float64").mask(rows)
        return out
    if kind == "out_of_range":
        rows = rng.random(n) < 0.05
        out[column] = out[column].astype("float64").where(~rows, -999.0)
        return out
    if kind == "wrong_type":
        out[column] = out[column].map(lambda v: f"{v:.0f} pts")
        return out
    if kind == "new_category":
        rows = rng.random(n) < 0.1
        out["channel"] = out["channel"].where(~rows, "crypto_exchange")
        return out
    raise ValueError(f"unknown corruption kind {kind!r}")


def split_labels(
    df: pd.DataFrame, target: str, id_column: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Delayed labels: the batch without its target, and the labels to join later by id."""
    return df.drop(columns=[target]), df[[id_column, target]].copy()
