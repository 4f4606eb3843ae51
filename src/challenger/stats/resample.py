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


def bca_bounds(
    observed: float, boot: FloatArray, jack: FloatArray, alpha: float
) -> tuple[float, float, str]:
    """One-sided BCa bounds at levels α (lower) and 1 − α (upper), as scipy computes them.

    z0 = Φ⁻¹(share of resamples below the observed value, ties counting half);
    a = Σd³ / (6 (Σd²)^{3/2}) with d the jackknife deviations from their mean;
    the bound at level β is the bootstrap quantile at Φ(z0 + (z0 + z_β)/(1 − a (z0 + z_β))),
    with linear interpolation between order statistics.
    """

    def percentile(level: float) -> float:
        return float(np.percentile(boot, 100.0 * level))

    if boot.min() == boot.max():
        value = float(boot[0])
        return value, value, "percentile"
    share = (np.count_nonzero(boot < observed) + np.count_nonzero(boot <= observed)) / (
        2.0 * boot.size
    )
    deviation = jack.mean() - jack
    spread = float((deviation**2).sum())
    # Infinite z0, or a jackknife that is constant or undefined: no acceleration to use.
    degenerate = share in (0.0, 1.0) or not math.isfinite(spread) or spread == 0.0
    if not degenerate:
        z0 = float(ndtri(share))
        accel = float((deviation**3).sum()) / (6.0 * spread**1.5)
        levels = []
        for z in (float(ndtri(alpha)), float(ndtri(1.0 - alpha))):
            shifted = z0 + z
            denominator = 1.0 - accel * shifted
            if denominator <= 0.0:
                degenerate = True
                break
            levels.append(float(ndtr(z0 + shifted / denominator)))
        if not degenerate:
            return percentile(levels[0]), percentile(levels[1]), "BCa"
    return percentile(alpha), percentile(1.0 - alpha), "percentile"
