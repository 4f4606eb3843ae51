"""Resampling machinery: batches of multinomial row (or group) counts, a comparison's bootstrap and jackknife, BCa bounds."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import numpy as np
from scipy.special import ndtr, ndtri

from challenger.stats.inputs import FloatArray, IntArray

#: Fewest bootstrap resamples accepted; a one-sided 95 % bound needs far more to be stable.
MIN_RESAMPLES: Final = 100


#: Largest share of resamples allowed to be degenerate (e.g. no positive row drawn).
MAX_DEGENERATE_SHARE: Final = 0.1


#: Weight-matrix elements per batch. Batches that stay in the CPU cache are faster than large
#: ones (measured: 2 resamples × 100,000 rows beat 16 by ~1.5×) and bound the memory: at most
#: ~40 bytes per element are in flight, ~10 MB.
BATCH_ELEMENTS: Final = 1 << 18


INT32_LIMIT: Final = 2**31


def count_batches(
    rng: np.random.Generator, n_units: int, n_resamples: int, batch_size: int
) -> Iterator[IntArray]:
    """Yield multinomial resample counts, ``batch_size`` resamples (rows) at a time.

    Each resample draws ``n_units`` unit indices uniformly with replacement and counts them
    (one ``bincount`` per batch). The draws come from one stream, so the resamples do not
    depend on the batch size.
    """
    done = 0
    while done < n_resamples:
        size = min(batch_size, n_resamples - done)
        draws = rng.integers(0, n_units, size=(size, n_units))
        draws += (np.arange(size, dtype=np.int64) * n_units)[:, None]
        counts = np.bincount(draws.reshape(-1), minlength=size * n_units)
        yield counts.reshape(size, n_units)
        done += size


@dataclass(frozen=True)
class Comparison:
    """Observed values, bootstrap and jackknife distributions of the oriented Δ."""

    champion: float
    challenger: float
    delta: float
    bootstrap: FloatArray
    jackknife: FloatArray


def bca_parameters(
    observed: float, boot: FloatArray, jack: FloatArray
) -> tuple[float, float] | None:
    """BCa's bias correction z0 and acceleration a, or None when they are undefined.

    z0 = Φ⁻¹(share of resamples below the observed value, ties counting half);
    a = Σd³ / (6 (Σd²)^{3/2}) with d the jackknife deviations from their mean. None when z0
    is infinite (the observed value lies outside the bootstrap distribution) or the
    jackknife is constant or undefined (no acceleration to use).
    """
    share = (np.count_nonzero(boot < observed) + np.count_nonzero(boot <= observed)) / (
        2.0 * boot.size
    )
    deviation = jack.mean() - jack
    spread = float((deviation**2).sum())
    if share in (0.0, 1.0) or not math.isfinite(spread) or spread == 0.0:
        return None
    return float(ndtri(share)), float((deviation**3).sum()) / (6.0 * spread**1.5)


def bca_bounds(
    observed: float, boot: FloatArray, jack: FloatArray, alpha: float
) -> tuple[float, float, str]:
    """One-sided BCa bounds at levels α (lower) and 1 − α (upper), as scipy computes them.

    With z0 and a from :func:`bca_parameters`, the bound at level β is the bootstrap
    quantile at Φ(z0 + (z0 + z_β)/(1 − a (z0 + z_β))), with linear interpolation between
    order statistics. Degenerate cases fall back to the plain percentile bounds.
    """

    def percentile(level: float) -> float:
        return float(np.percentile(boot, 100.0 * level))

    if boot.min() == boot.max():
        value = float(boot[0])
        return value, value, "percentile"
    params = bca_parameters(observed, boot, jack)
    if params is not None:
        z0, accel = params
        levels = []
        for z in (float(ndtri(alpha)), float(ndtri(1.0 - alpha))):
            shifted = z0 + z
            denominator = 1.0 - accel * shifted
            if denominator <= 0.0:
                break
            levels.append(float(ndtr(z0 + shifted / denominator)))
        if len(levels) == 2:
            return percentile(levels[0]), percentile(levels[1]), "BCa"
    return percentile(alpha), percentile(1.0 - alpha), "percentile"


def bootstrap_p_value(threshold: float, boot: FloatArray, bca: tuple[float, float] | None) -> float:
    """One-sided p-value of H0: Δ ≤ ``threshold`` against Δ > ``threshold``, by inverting the bounds.

    The p-value is the level β at which the lower bound equals the threshold, so that
    ``p < α`` exactly when the lower bound at confidence 1 − α clears it. With q the
    bootstrap share at or below the threshold (ties half) and w = Φ⁻¹(q) − z0, the BCa
    level formula inverts to β = Φ(w / (1 + a w) − z0); without BCa parameters (or where
    1 + a w ≤ 0) the percentile p-value q is used. A constant bootstrap gives 0 or 1.
    """
    if boot.min() == boot.max():
        return 0.0 if boot[0] > threshold else 1.0
    q = (np.count_nonzero(boot < threshold) + np.count_nonzero(boot <= threshold)) / (
        2.0 * boot.size
    )
    if bca is None or q in (0.0, 1.0):
        return float(q)
    z0, accel = bca
    w = float(ndtri(q)) - z0
    if 1.0 + accel * w <= 0.0:
        return float(q)
    return float(ndtr(w / (1.0 + accel * w) - z0))
