"""Δ as a person reads it: challenger − champion, in the metric's units, with its direction.

Δ is printed as challenger − champion in the metric's units, with its direction said in
words ("Δ rmse −23.5 (challenger better)"); internally it stays oriented (positive = the
challenger is better), as :mod:`challenger.stats` computes it. The gate's reasons
(``challenger.gate.decide``, ``challenger.gate.guardrails``), the model card and the report
(``challenger.gate.report``), the version's tags (``challenger.gate.publish``) and the
promotion's record (``challenger.gate.promotion``) all say Δ through these functions.
"""

from __future__ import annotations

from challenger import metrics
from challenger.stats import PairedBootstrap


def _fmt(x: float) -> str:
    return f"{x:+.4f}"


def natural(metric: str, oriented: float) -> float:
    """An oriented Δ (positive = challenger better) as challenger − champion in ``metric``'s units."""
    return metrics.sign(metric) * oriented


def natural_bounds(metric: str, lower: float, upper: float) -> tuple[float, float]:
    """Oriented bounds as bounds of challenger − champion (they swap for a loss)."""
    a, b = natural(metric, lower), natural(metric, upper)
    return (a, b) if a <= b else (b, a)


def direction(oriented: float) -> str:
    """The oriented Δ in words."""
    if oriented > 0:
        return "challenger better"
    if oriented < 0:
        return "challenger worse"
    return "no difference"


def describe_delta(metric: str, oriented: float) -> str:
    """``Δ rmse −23.4800 (challenger better)``: challenger − champion, and what it means."""
    return f"Δ {metric} {_fmt(natural(metric, oriented))} ({direction(oriented)})"


def describe_bounds(bs: PairedBootstrap) -> str:
    """The bounds of challenger − champion, their level and the method behind them."""
    lo, hi = natural_bounds(bs.metric, bs.lower, bs.upper)
    unit = "groups" if bs.n_groups is not None else "rows"
    return (
        f"challenger − champion, one-sided {bs.confidence:.0%} bounds [{_fmt(lo)}, {_fmt(hi)}] "
        f"({bs.method}, {bs.n_units} {unit})"
    )


def required(metric: str, oriented_threshold: float) -> str:
    """What a bound must clear, said as challenger − champion: ``Δ > +0.002`` or ``Δ < -0.05``."""
    cmp = ">" if metrics.info(metric).higher_is_better else "<"
    return f"Δ {cmp} {_fmt(natural(metric, oriented_threshold))}"
