"""How far apart two score distributions are: the population stability index (PSI).

The online shadow comparison reads the PSI of a shadow's scores against the champion's on the
same requests (< 0.1 fine, 0.1–0.25 watch, > 0.25 alarm, by ``rollout.shadow``'s thresholds).
A pure function of numpy arrays.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

__all__ = ["psi"]


def psi(expected: FloatArray, actual: FloatArray, bins: int = 10, eps: float = 1e-4) -> float:
    """Population stability index of ``actual`` against ``expected`` (quantile bins).

    Bins are the quantiles of ``expected``; empty bins get ``eps`` so the log is defined.

    Raises:
        ValueError: Either sample is empty.
    """
    e = np.asarray(expected, dtype=float)
    a = np.asarray(actual, dtype=float)
    if e.size == 0 or a.size == 0:
        raise ValueError("PSI needs two non-empty samples")
    edges = np.unique(np.quantile(e, np.linspace(0.0, 1.0, bins + 1)))
    if edges.size < 2:  # a constant reference: one bin around it
        edges = np.array([e[0] - 0.5, e[0] + 0.5])
    inner = edges[1:-1]
    pe = np.bincount(np.searchsorted(inner, e, side="right"), minlength=inner.size + 1) / e.size
    pa = np.bincount(np.searchsorted(inner, a, side="right"), minlength=inner.size + 1) / a.size
    pe = np.clip(pe, eps, None)
    pa = np.clip(pa, eps, None)
    return float(np.sum((pa - pe) * np.log(pa / pe)))
