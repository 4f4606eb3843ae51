"""The drift tests as Evidently 0.7.23 defines them: names, thresholds, kinds and default choice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from challenger.errors import DriftInputError
from challenger.monitor.drift.result import DriftKind

if TYPE_CHECKING:
    pass


# Evidently picks its default test from the reference size and the number of values.
SMALL_REFERENCE = 1000
FEW_VALUES = 5


@dataclass(frozen=True)
class Method:
    """One statistical test the fast engine implements, as Evidently 0.7.23 defines it."""

    display_name: str
    default_threshold: float
    kinds: frozenset[DriftKind]
    p_value: bool  # True: drift when the score is below the threshold; False: at or above
    inclusive: bool = False  # p-value tests: Evidently's K-S uses <=, the others <


BOTH: frozenset[DriftKind] = frozenset({"numeric", "categorical"})


NUMERIC: frozenset[DriftKind] = frozenset({"numeric"})


CATEGORICAL: frozenset[DriftKind] = frozenset({"categorical"})


METHODS: dict[str, Method] = {
    "ks": Method("K-S p_value", 0.05, NUMERIC, p_value=True, inclusive=True),
    "wasserstein": Method("Wasserstein distance (normed)", 0.1, NUMERIC, p_value=False),
    "psi": Method("PSI", 0.1, BOTH, p_value=False),
    "jensenshannon": Method("Jensen-Shannon distance", 0.1, BOTH, p_value=False),
    "kl_div": Method("Kullback-Leibler divergence", 0.1, BOTH, p_value=False),
    "hellinger": Method("Hellinger distance", 0.1, BOTH, p_value=False),
    "chisquare": Method("chi-square p_value", 0.05, CATEGORICAL, p_value=True),
    "z": Method("Z-test p_value", 0.05, CATEGORICAL, p_value=True),
}


FAST_METHODS: frozenset[str] = frozenset(METHODS)
"""Evidently stattest names the fast engine implements."""


def check_method(name: str, kind: DriftKind, *, column: str) -> None:
    """Check that stattest ``name`` exists and applies to a ``kind`` column.

    The fast engine's own methods are checked against its table (no Evidently import);
    any other name is looked up in Evidently's registry.

    Raises:
        DriftInputError: If there is no such test or it does not apply to ``kind``.
    """
    known = METHODS.get(name)
    if known is not None:
        if kind not in known.kinds:
            raise DriftInputError(
                f"Drift method {name!r} cannot be used for {kind} column {column!r}: it "
                f"applies to {' and '.join(sorted(known.kinds))} columns only."
            )
        return
    resolve_stattest(name, kind, column=column)


def resolve_stattest(name: str, kind: DriftKind, *, column: str) -> str:
    """Return the display name of Evidently stattest ``name`` for a ``kind`` column.

    Raises:
        DriftInputError: If Evidently has no such test or it does not apply to ``kind``.
    """
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    column_type = ColumnType.Numerical if kind == "numeric" else ColumnType.Categorical
    try:
        return str(get_registered_stattest(name, column_type).display_name)
    except ValueError as exc:
        raise DriftInputError(
            f"Drift method {name!r} cannot be used for {kind} column {column!r}: {exc}"
        ) from exc


def default_method(kind: DriftKind, n_reference: int, n_values: int) -> str:
    """Evidently 0.7.23's default stattest (``_get_default_stattest``)."""
    if n_reference <= SMALL_REFERENCE:
        if kind == "numeric" and n_values > FEW_VALUES:
            return "ks"
        return "chisquare" if n_values > 2 else "z"
    if kind == "numeric" and n_values > FEW_VALUES:
        return "wasserstein"
    return "jensenshannon"
