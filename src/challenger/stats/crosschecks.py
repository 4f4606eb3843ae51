"""Cross-checks reported beside the bootstrap: McNemar mid-p, DeLong, the Nadeau-Bengio corrected resampled t-test."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr
from scipy.stats import binom, rankdata

from challenger.errors import StatisticsInputError
from challenger.stats.inputs import (
    as_float_vector,
    validate_classes,
    validate_pair,
)


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's mid-p test on per-row correctness of two classifiers.

    Attributes:
        b: Rows the champion got right and the challenger wrong.
        c: Rows the champion got wrong and the challenger right.
        p_value: Two-sided mid-p value (1.0 when there is no discordant row).
    """

    b: int
    c: int
    p_value: float


@dataclass(frozen=True)
class DeLongResult:
    """DeLong's test for the difference of two correlated ROC AUCs.

    Attributes:
        auc_champion: ROC AUC of the champion.
        auc_challenger: ROC AUC of the challenger.
        delta: ``auc_challenger - auc_champion``.
        se: Standard error of ``delta`` from the DeLong covariance.
        z: ``delta / se`` (0 when both are 0).
        p_value: Two-sided p-value of H0: equal AUCs.
    """

    auc_champion: float
    auc_challenger: float
    delta: float
    se: float
    z: float
    p_value: float


def mcnemar_midp(correct_champion: ArrayLike, correct_challenger: ArrayLike) -> McNemarResult:
    """McNemar's mid-p test (Fagerland, Lydersen & Laake 2013) on paired correctness.

    Under H0 the discordant rows split Binomial(b + c, 1/2). The exact two-sided p-value is
    2·P(X ≤ min(b, c)) (capped at 1); the mid-p value counts the observed outcome half:
    2·P(X ≤ min(b, c)) − P(X = min(b, c)). It keeps close to the nominal level while the
    exact test is conservative.

    Args:
        correct_champion: Per-row booleans, True where the champion is correct.
        correct_challenger: The same for the challenger, same rows and order.

    Returns:
        The discordant counts and the two-sided mid-p value.

    Raises:
        StatisticsInputError: Arrays that are not one-dimensional, differ in length or hold
            values other than booleans / 0 / 1.
    """
    champ = as_float_vector("correct_champion", correct_champion)
    chal = as_float_vector("correct_challenger", correct_challenger)
    if champ.size != chal.size:
        raise StatisticsInputError(
            f"`correct_champion` and `correct_challenger` must have the same length; got "
            f"{champ.size} and {chal.size}."
        )
    if not (np.isin(champ, (0.0, 1.0)).all() and np.isin(chal, (0.0, 1.0)).all()):
        raise StatisticsInputError(
            "`correct_champion` and `correct_challenger` must be booleans (True = correct)."
        )
    b = int(np.count_nonzero((champ == 1.0) & (chal == 0.0)))
    c = int(np.count_nonzero((champ == 0.0) & (chal == 1.0)))
    n = b + c
    if n == 0:
        return McNemarResult(b=b, c=c, p_value=1.0)
    if b == c:  # the observed split is the median: exactly 1, without rounding error
        return McNemarResult(b=b, c=c, p_value=1.0)
    k = min(b, c)
    p = 2.0 * float(binom.cdf(k, n, 0.5)) - float(binom.pmf(k, n, 0.5))
    return McNemarResult(b=b, c=c, p_value=min(1.0, max(0.0, p)))


def delong_test(
    y_true: ArrayLike, score_champion: ArrayLike, score_challenger: ArrayLike
) -> DeLongResult:
    """DeLong, DeLong & Clarke-Pearson (1988) test of two correlated ROC AUCs.

    Uses the midrank algorithm of Sun & Xu (2014): with midranks Tz of the pooled scores,
    Tx of the positives and Ty of the negatives, the structural components are
    V10 = (Tz[pos] − Tx)/n0 and V01 = 1 − (Tz[neg] − Ty)/n1, and
    Var(Δ) = (s10₀₀ + s10₁₁ − 2 s10₀₁)/n1 + (s01₀₀ + s01₁₁ − 2 s01₀₁)/n0 with s the sample
    covariances (ddof=1) of the components across the two models.

    Args:
        y_true: Labels 0/1.
        score_champion: Champion's scores (any monotone score works, not only probabilities).
        score_challenger: Challenger's scores on the same rows.

    Returns:
        Both AUCs, Δ = challenger − champion, its standard error, z and the two-sided p.

    Raises:
        StatisticsInputError: Invalid arrays, or fewer than two rows of a class.
    """
    y, s0, s1 = validate_pair("roc_auc", y_true, score_champion, score_challenger)
    validate_classes("roc_auc", y, None, 2)
    pos, neg = y == 1.0, y == 0.0
    n_pos, n_neg = int(pos.sum()), int(neg.sum())
    v10, v01, aucs = [], [], []
    for score in (s0, s1):
        sp, sn = score[pos], score[neg]
        tx, ty = rankdata(sp), rankdata(sn)
        tz = rankdata(np.concatenate([sp, sn]))
        aucs.append(float(tz[:n_pos].sum() / (n_pos * n_neg) - (n_pos + 1.0) / (2.0 * n_neg)))
        v10.append((tz[:n_pos] - tx) / n_neg)
        v01.append(1.0 - (tz[n_pos:] - ty) / n_pos)
    s10 = np.cov(np.stack(v10))
    s01 = np.cov(np.stack(v01))
    contrast = np.array([-1.0, 1.0])
    variance = float(contrast @ s10 @ contrast / n_pos + contrast @ s01 @ contrast / n_neg)
    se = math.sqrt(max(variance, 0.0))
    delta = aucs[1] - aucs[0]
    # A zero variance means identical placement values: equal AUCs give z = 0.
    z = delta / se if se > 0.0 else (math.copysign(math.inf, delta) if delta else 0.0)
    p_value = float(2.0 * ndtr(-abs(z)))
    return DeLongResult(
        auc_champion=aucs[0],
        auc_challenger=aucs[1],
        delta=delta,
        se=se,
        z=z,
        p_value=min(1.0, p_value),
    )


@dataclass(frozen=True)
class CorrectedTTest:
    """Nadeau–Bengio corrected resampled t-test of two candidates scored on the same folds."""

    mean_difference: float  # mean over folds of score_b − score_a (oriented by the caller)
    t: float
    df: int
    p_value: float  # two-sided
    n_folds: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "mean_difference": self.mean_difference,
            "t": self.t,
            "df": self.df,
            "p_value": self.p_value,
            "n_folds": self.n_folds,
        }


def corrected_resampled_ttest(
    scores_a: ArrayLike, scores_b: ArrayLike, n_train: int, n_test: int
) -> CorrectedTTest:
    """Compare two models cross-validated on the same folds (Nadeau & Bengio 2003).

    The naive k-fold t-test treats folds as independent although their training sets
    overlap, and rejects far too often (Dietterich 1998). The corrected variance
    ``(1/k + n_test/n_train) · s²`` accounts for that overlap.

    Args:
        scores_a: Per-fold scores of model A.
        scores_b: Per-fold scores of model B, on the same folds.
        n_train: Training rows per fold.
        n_test: Validation rows per fold.

    Raises:
        StatisticsInputError: Fewer than two folds or mismatched lengths.
    """
    from scipy.stats import t as student_t

    a = as_float_vector("scores_a", scores_a)
    b = as_float_vector("scores_b", scores_b)
    if a.shape != b.shape or a.size < 2:
        raise StatisticsInputError(
            f"the corrected t-test needs two equal-length score vectors of at least 2 folds, got {a.size} and {b.size}"
        )
    if n_train <= 0 or n_test <= 0:
        raise StatisticsInputError("n_train and n_test must be positive")
    d = b - a
    k = d.size
    mean = float(d.mean())
    var = float(d.var(ddof=1))
    corrected = (1.0 / k + n_test / n_train) * var
    if corrected == 0.0:
        t_stat = 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
        p = 1.0 if mean == 0.0 else 0.0
    else:
        t_stat = mean / math.sqrt(corrected)
        p = float(2 * student_t.sf(abs(t_stat), k - 1))
    return CorrectedTTest(mean, t_stat, k - 1, p, k)
