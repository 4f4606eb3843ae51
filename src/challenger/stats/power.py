"""How many holdout rows would decide an inconclusive comparison."""

from __future__ import annotations

import math
from typing import Literal

from scipy.special import ndtri

from challenger.stats.bootstrap import PairedBootstrap


def rows_needed(
    result: PairedBootstrap,
    threshold: float,
    *,
    bound: Literal["lower", "upper"] = "lower",
) -> int | None:
    """Rough number of holdout rows for a one-sided bound to clear ``threshold``.

    Normal approximation: the lower bound is about Δ − z·se with z = Φ⁻¹(confidence), and
    the standard error of a mean-like statistic scales as 1/√n, so with n′ rows and the
    same Δ and per-row variance the bound is Δ − z·se·√(n/n′). It clears the threshold t
    when √(n/n′) < (Δ − t)/(z·se), i.e. for

        n′ > n · (z·se / (Δ − t))².

    For ``bound="upper"`` (showing the challenger is *not* better than t) the same
    argument with t − Δ gives n · (z·se / (t − Δ))². With a cluster bootstrap the
    extrapolation assumes the groups keep their average size. A result at or below
    ``result.n_rows`` means the current holdout should already suffice.

    Args:
        result: A paired bootstrap.
        threshold: The value the bound must clear (e.g. ``min_improvement`` or ``-margin``).
        bound: "lower" (bound must exceed the threshold) or "upper" (must fall below it).

    Returns:
        Rows needed (at least 1), or None when the observed Δ is on the wrong side of the
        threshold or equal to it: then no amount of similar data would clear it.
    """
    gap = result.delta - threshold if bound == "lower" else threshold - result.delta
    if not gap > 0.0:
        return None
    z = float(ndtri(result.confidence))
    needed = result.n_rows * (z * result.se / gap) ** 2
    return max(1, math.ceil(needed))
