"""ROC AUC under resampling: each model's scores sorted once, a weighted Mann-Whitney statistic per resample, DeLong placements for the jackknife; one-vs-rest macro AUC for multiclass."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from challenger.stats.inputs import FloatArray, IntArray
from challenger.stats.resample import INT32_LIMIT, Comparison, count_batches


@dataclass(frozen=True)
class _AucLayout:
    """Precomputed order for the weighted Mann–Whitney statistic of both models.

    Rows are laid out as [cumulated class sorted by champion score, probed class sorted by
    champion score]. The cumulated class is the larger one (its weights are summed
    cumulatively); for each probed row, ``lt``/``le`` index the cumulative sums at the
    number of cumulated rows scoring strictly below / at most its score, so
    ``cum[lt] + cum[le]`` is twice its weighted half-credit placement count. ``le`` is None
    when no probed score ties a cumulated one (then ``le == lt``), saving one gather.
    """

    n_cum: int
    order: IntArray  # layout position -> original row
    perm1: IntArray  # cumulated block: champion order -> challenger order
    lt0: IntArray
    le0: IntArray | None
    lt1: IntArray
    le1: IntArray | None


def _below(sorted_scores: FloatArray, probes: FloatArray) -> tuple[IntArray, IntArray | None]:
    lt = np.searchsorted(sorted_scores, probes, side="left")
    le = np.searchsorted(sorted_scores, probes, side="right")
    return lt, None if np.array_equal(lt, le) else le


def _auc_layout(y: FloatArray, s0: FloatArray, s1: FloatArray) -> _AucLayout:
    probe_label = 1.0 if (y == 1.0).sum() <= (y == 0.0).sum() else 0.0
    # AUC(y, s) == AUC(1 - y, -s) exactly, so swapping classes only changes the work.
    sign = 1.0 if probe_label == 1.0 else -1.0
    a0, a1 = sign * s0, sign * s1
    cum_rows = np.flatnonzero(y != probe_label)
    probe_rows = np.flatnonzero(y == probe_label)
    cum_rows = cum_rows[np.argsort(a0[cum_rows], kind="stable")]
    probe_rows = probe_rows[np.argsort(a0[probe_rows], kind="stable")]
    perm1 = np.argsort(a1[cum_rows], kind="stable")
    lt0, le0 = _below(a0[cum_rows], a0[probe_rows])
    lt1, le1 = _below(a1[cum_rows][perm1], a1[probe_rows])
    return _AucLayout(
        n_cum=int(cum_rows.size),
        order=np.concatenate([cum_rows, probe_rows]),
        perm1=perm1,
        lt0=lt0,
        le0=le0,
        lt1=lt1,
        le1=le1,
    )


def _twice_u(
    cumsum: NDArray[np.signedinteger[Any]],
    probe_w: NDArray[np.signedinteger[Any]],
    lt: IntArray,
    le: IntArray | None,
) -> IntArray:
    """Σ over probed rows of weight × (cum[lt] + cum[le]): twice the weighted U statistic."""
    twice = np.take(cumsum, lt, axis=1)
    if le is None:
        return np.asarray(2 * (probe_w * twice).sum(axis=1, dtype=np.int64), dtype=np.int64)
    twice += np.take(cumsum, le, axis=1)
    return np.asarray((probe_w * twice).sum(axis=1, dtype=np.int64), dtype=np.int64)


def _auc_batch(
    layout: _AucLayout, weights: NDArray[np.signedinteger[Any]]
) -> tuple[FloatArray, FloatArray]:
    """Weighted ROC AUC of both models for a batch of row weights in layout order."""
    n_cum = layout.n_cum
    cum_w, probe_w = weights[:, :n_cum], weights[:, n_cum:]
    cumsum = np.zeros((weights.shape[0], n_cum + 1), dtype=weights.dtype)
    np.cumsum(cum_w, axis=1, out=cumsum[:, 1:])
    u0 = _twice_u(cumsum, probe_w, layout.lt0, layout.le0)
    np.cumsum(np.take(cum_w, layout.perm1, axis=1), axis=1, out=cumsum[:, 1:])
    u1 = _twice_u(cumsum, probe_w, layout.lt1, layout.le1)
    pairs = 2.0 * probe_w.sum(axis=1, dtype=np.int64) * cumsum[:, -1].astype(np.int64)
    return u0 / pairs, u1 / pairs


def _auc_jackknife(y: FloatArray, score: FloatArray, codes: IntArray | None) -> FloatArray:
    """ROC AUC with each unit (row or group) left out, from placement values.

    With unit weights, positive row i places above ``a_i`` negatives and negative row j
    below ``b_j`` positives (ties count half; stored doubled as integers). These are
    DeLong's structural components times n0 and n1. Leaving out a set of rows removes
    their placements and adds back the pairs formed inside the set (counted twice):
    ``2U_(-g) = 2U - A_g - B_g + C_g``.
    """
    pos, neg = y == 1.0, y == 0.0
    sp, sn = score[pos], score[neg]
    sorted_n, sorted_p = np.sort(sn), np.sort(sp)
    a = np.searchsorted(sorted_n, sp, side="left") + np.searchsorted(sorted_n, sp, side="right")
    n_pos, n_neg = sp.size, sn.size
    b = 2 * n_pos - np.searchsorted(sorted_p, sn, side="left")
    b -= np.searchsorted(sorted_p, sn, side="right")
    twice_u = int(a.sum(dtype=np.int64))
    if codes is None:
        out = np.empty(y.size, dtype=np.float64)
        out[pos] = (twice_u - a) / (2.0 * (n_pos - 1) * n_neg)
        out[neg] = (twice_u - b) / (2.0 * n_pos * (n_neg - 1))
        return out
    n_groups = int(codes.max()) + 1
    gp, gn = codes[pos], codes[neg]
    # Pairs inside a group: search positives among negatives keyed by (group, score rank).
    _, rank = np.unique(score, return_inverse=True)
    width = int(rank.max()) + 1
    key = codes * width + np.asarray(rank, dtype=np.int64).reshape(-1)
    neg_keys = np.sort(key[neg])
    pos_keys = key[pos]
    start = np.searchsorted(neg_keys, gp * width, side="left")
    inside = np.searchsorted(neg_keys, pos_keys, side="left") - start
    inside += np.searchsorted(neg_keys, pos_keys, side="right") - start
    twice_u_left = (
        twice_u
        - np.bincount(gp, weights=a, minlength=n_groups)
        - np.bincount(gn, weights=b, minlength=n_groups)
        + np.bincount(gp, weights=inside, minlength=n_groups)
    )
    pos_left = n_pos - np.bincount(gp, minlength=n_groups)
    neg_left = n_neg - np.bincount(gn, minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(twice_u_left / (2.0 * pos_left * neg_left), dtype=np.float64)


def auc_comparison(
    y: FloatArray,
    s0: FloatArray,
    s1: FloatArray,
    codes: IntArray | None,
    n_units: int,
    rng: np.random.Generator,
    n_resamples: int,
    batch_size: int,
    by_row: bool = False,
) -> Comparison:
    """Bootstrap and jackknife of the ROC AUC difference of two binary scores.

    With ``by_row`` (and no groups), resample counts index the original rows instead of
    the layout positions: the draws of an identically seeded generator then weight the
    same rows whatever the layout, which the one-vs-rest multiclass AUC relies on. It costs
    one gather per batch, so the binary path leaves it off.
    """
    layout = _auc_layout(y, s0, s1)
    ones = np.ones((1, y.size), dtype=np.int64)
    full0, full1 = _auc_batch(layout, ones)
    champion, challenger = float(full0[0]), float(full1[0])
    if codes is None:
        unit_of_position = layout.order if by_row else None
        sizes = None
    else:
        unit_of_position = codes[layout.order]
        sizes = np.bincount(codes, minlength=n_units)
    deltas = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for counts in count_batches(rng, n_units, n_resamples, batch_size):
            # Row counts in layout order: for rows the units *are* the layout positions
            # (a uniform resample does not care how rows are numbered) unless ``by_row``;
            # for groups every row takes its group's count.
            total = y.size if sizes is None else int((counts @ sizes).max())
            # int32 halves memory traffic; products weight · 2·cumsum must not overflow.
            small = 2 * int(counts.max()) * total < INT32_LIMIT
            weights: NDArray[np.signedinteger[Any]] = counts.astype(np.int32 if small else np.int64)
            if unit_of_position is not None:
                weights = np.take(weights, unit_of_position, axis=1)
            auc0, auc1 = _auc_batch(layout, weights)
            deltas.append(auc1 - auc0)
    jack = _auc_jackknife(y, s1, codes) - _auc_jackknife(y, s0, codes)
    return Comparison(
        champion=champion,
        challenger=challenger,
        delta=challenger - champion,
        bootstrap=np.concatenate(deltas),
        jackknife=jack,
    )


def ovr_auc_comparison(
    y: FloatArray,
    s0: FloatArray,
    s1: FloatArray,
    codes: IntArray | None,
    n_units: int,
    seed: int,
    n_resamples: int,
    batch_size: int,
) -> Comparison:
    """One-vs-rest macro ROC AUC: the binary comparison per class, averaged.

    Every class runs ``auc_comparison`` with a generator seeded identically, and the
    resample counts depend only on the seed, ``n_units``, ``n_resamples`` and the batch
    size (all shared), and index original rows (``by_row``) or groups, so resample b weights
    the same rows for every class. The mean of the per-class Δs of resample b is then the
    macro-AUC Δ of that resample, and the mean of the per-class leave-one-unit-out values
    is the macro-AUC jackknife, so BCa applies unchanged. A resample missing a class has a
    NaN AUC for it and hence a NaN macro Δ: it counts as degenerate.
    """
    parts = [
        auc_comparison(
            (y == label).astype(np.float64),
            np.ascontiguousarray(s0[:, label]),
            np.ascontiguousarray(s1[:, label]),
            codes,
            n_units,
            np.random.default_rng(seed),
            n_resamples,
            batch_size,
            by_row=True,
        )
        for label in range(s0.shape[1])
    ]
    champion = float(np.mean([part.champion for part in parts]))
    challenger = float(np.mean([part.challenger for part in parts]))
    return Comparison(
        champion=champion,
        challenger=challenger,
        delta=challenger - champion,
        bootstrap=np.asarray(np.mean([part.bootstrap for part in parts], axis=0)),
        jackknife=np.asarray(np.mean([part.jackknife for part in parts], axis=0)),
    )
