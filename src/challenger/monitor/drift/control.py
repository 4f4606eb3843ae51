"""Drift alarms with a stated error rate: multiplicity control across columns and an effect size.

Each column's own test (Evidently's choice or the configured one) is reported as it is, but
on its own it is no alarm: with nine columns each tested at 5 %, an unchanged batch flags
some column a third of the time, and Evidently's chi-square treats the reference's category
shares as exact, so on a few hundred reference rows it flags unchanged categorical columns
most of the time. A column *alarms* only when

1. a two-sample test of reference against current — K-S for numeric columns, the chi-square
   test of homogeneity for categorical ones (and numeric columns with at most five values),
   rare categories pooled — is significant after Holm's (family-wise error) or
   Benjamini-Hochberg's (false discovery rate) adjustment over every feature column; and
2. the difference is large enough to matter: the column's own test fired (for a distance,
   at or above its threshold: an effect-size rule that large batches cannot inflate), and
   for p-value tests the distributions also differ by at least ``min_effect`` — the K-S
   statistic (the largest gap between the two CDFs) or the total variation distance
   (the share of the mass that moved).

With ``holm`` the chance that an unchanged batch alarms on any column is at most ``rate``
whatever the dependence between columns; with ``bh`` at most a share ``rate`` of the
alarmed columns are false on average (independent or positively dependent columns). The
data-change trigger counts alarms, so its false-alarm rate per batch is at most ``rate``.
``none`` reproduces the old rule: every column's own verdict counts.

The adjustments are computed here (:func:`adjust`, a few lines of numpy, checked against
``statsmodels.stats.multitest.multipletests`` in the tests): statsmodels' Holm runs a full
garbage collection on every call, which costs a third of a second in a process holding a
fitted model and the MLflow client.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from challenger.monitor.drift.methods import METHODS
from challenger.monitor.drift.result import ColumnDrift

Control = Literal["holm", "bh", "none"]
CONTROLS: tuple[Control, ...] = ("holm", "bh", "none")

_P_VALUE_NAMES = frozenset(m.display_name for m in METHODS.values() if m.p_value)


@dataclass(frozen=True)
class AlarmControl:
    """How a batch's column alarms were decided, and the error rate they carry.

    Attributes:
        method: ``holm`` (family-wise error), ``bh`` (false discovery rate) or ``none``.
        rate: The family-wise error or false discovery rate across the feature columns.
        min_effect: Smallest K-S statistic or total variation distance for a p-value test
            to alarm (None: no minimum).
        n_tests: Feature columns in the family.
    """

    method: Control
    rate: float
    min_effect: float | None
    n_tests: int

    @property
    def error(self) -> str:
        """The error rate the alarms control, in words."""
        return {
            "holm": "family-wise error rate",
            "bh": "false discovery rate",
            "none": "no control (each test at its own threshold)",
        }[self.method]

    def statement(self) -> str:
        """One sentence a person can check the alarms against."""
        if self.method == "none":
            return (
                f"No multiplicity control: each of the {self.n_tests} feature columns alarms at "
                "its own test's threshold, so an unchanged batch alarms on some column far more "
                "often than any one test's level."
            )
        effect = (
            f", and a p-value test also needs a K-S statistic or total variation distance of at "
            f"least {self.min_effect:g}"
            if self.min_effect is not None
            else ""
        )
        if self.method == "holm":
            head = (
                f"Holm over {self.n_tests} feature columns: an unchanged batch alarms on any "
                f"column with probability at most {self.rate:.0%}"
            )
        else:
            head = (
                f"Benjamini-Hochberg over {self.n_tests} feature columns: on average at most "
                f"{self.rate:.0%} of the alarmed columns are false alarms"
            )
        return (
            f"{head} (two-sample K-S or chi-square homogeneity p-values); a column alarms only "
            f"if its own test fired too (a distance at or above its threshold){effect}."
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form, with the statement."""
        return {
            "method": self.method,
            "error": self.error,
            "rate": self.rate,
            "min_effect": self.min_effect,
            "n_tests": self.n_tests,
            "statement": self.statement(),
        }


def is_p_value(column: ColumnDrift) -> bool:
    """Whether a column's own test reports a p-value (drift below its threshold).

    Tests the fast engine knows are looked up by name; any other Evidently test is read
    from its verdict: a drifted score below its threshold, or a quiet one at or above it, is
    a p-value.
    """
    if column.method in _P_VALUE_NAMES:
        return True
    if any(column.method == m.display_name for m in METHODS.values()):
        return False
    return (column.score < column.threshold) == column.drifted


def control_alarms(
    columns: Sequence[ColumnDrift],
    method: Control = "holm",
    rate: float = 0.05,
    min_effect: float | None = 0.05,
) -> tuple[tuple[ColumnDrift, ...], AlarmControl]:
    """Decide each feature column's alarm under the control (see the module docstring).

    Args:
        columns: The feature columns' drifts, each with its two-sample ``p_value`` and
            ``effect`` filled in by the engine.
        method: ``holm``, ``bh`` or ``none``.
        rate: The family-wise error (``holm``) or false discovery rate (``bh``).
        min_effect: Smallest effect for a p-value test to alarm; None for no minimum.

    Returns:
        The columns with ``adjusted_p`` and ``alarm`` set, and the control's description.

    Raises:
        ValueError: An unknown method, a rate outside (0, 1), or a column without a p-value.
    """
    if method not in CONTROLS:
        raise ValueError(f"drift control is {method!r}; use one of {', '.join(CONTROLS)}")
    if not 0 < rate < 1:
        raise ValueError(f"the alarm rate is {rate}; use a rate between 0 and 1")
    control = AlarmControl(method, rate, None if method == "none" else min_effect, len(columns))
    if method == "none" or not columns:
        return tuple(dataclasses.replace(c, alarm=c.drifted) for c in columns), control
    missing = [c.column for c in columns if c.p_value is None]
    if missing:
        raise ValueError(f"columns {missing} have no two-sample p-value to adjust")
    adjusted = adjust([float(c.p_value) for c in columns if c.p_value is not None], method)
    reject = adjusted <= rate
    out = []
    for c, significant, adj in zip(columns, reject, adjusted, strict=True):
        large = c.drifted
        if large and is_p_value(c) and min_effect is not None:
            large = c.effect is not None and c.effect >= min_effect
        out.append(dataclasses.replace(c, adjusted_p=float(adj), alarm=bool(significant) and large))
    return tuple(out), control


def adjust(p_values: Sequence[float], method: Literal["holm", "bh"]) -> np.ndarray:
    """Holm's or Benjamini-Hochberg's adjusted p-values, in the order given.

    A hypothesis is rejected at level ``rate`` exactly when its adjusted p-value is at most
    ``rate`` (the same decisions as ``statsmodels.stats.multitest.multipletests``).
    """
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "holm":  # step-down: (m - i + 1) p_(i), made non-decreasing
        stepped = np.maximum.accumulate(ranked * np.arange(m, 0, -1))
    else:  # step-up: m p_(i) / i, made non-increasing from the largest down
        stepped = np.minimum.accumulate((ranked * m / np.arange(1, m + 1))[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out
