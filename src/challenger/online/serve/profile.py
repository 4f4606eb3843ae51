"""The champion's training profile: which values a request may bring.

A signature says a column is a number; it does not say that an age of 1e300 is nonsense
(the champion scores it 1.0, and a shadow pipeline fails on it). The profile does, from the
same sources the monitor's validation uses (``challenger.monitor.schema.batch_schema``):
the configured ``validation.ranges`` and the categories of the champion's training data
(the drift reference logged with its run). It adds what a served record needs on top: the
range of each number in that training data, widened by ``serving.profile_tolerance`` of
its span on each side and kept within the range validation allows (``validation.ranges``,
or the monitor's own learned range, ``validation.range_tolerance`` spans wide). Without a
reference (a model registered by hand), the configured ranges are the profile.

``InputProfile.check`` lists the records outside it; ``serving.out_of_profile`` decides
whether they are refused (422, naming each field) or answered with the fields flagged.
The profile is computed once, when a model loads.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from challenger.config import Settings
from challenger.online.serve.models import Columns

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Range:
    """The values a number may take, and where the bounds come from."""

    lo: float
    hi: float
    source: str

    def __contains__(self, value: float) -> bool:
        return self.lo <= value <= self.hi


@dataclass(frozen=True)
class OutOfProfile:
    """One value outside the profile."""

    row: int
    column: str
    msg: str


@dataclass(frozen=True)
class InputProfile:
    """The numeric ranges and categories the champion was trained on.

    Attributes:
        ranges: Column → allowed range.
        categories: Column → the values seen in the training data.
        source: Where the profile comes from, for /health and messages.
    """

    ranges: Mapping[str, Range] = field(default_factory=dict)
    categories: Mapping[str, frozenset[str]] = field(default_factory=dict)
    source: str = "no profile"

    def check(self, columns: Columns, limit: int | None = None) -> list[OutOfProfile]:
        """Every value outside the profile, in record order (at most ``limit``).

        Args:
            columns: Validated values, column by column (``InputSchema.validate``).
            limit: Stop after this many (None: all of them).
        """
        found: list[OutOfProfile] = []
        for name, bounds in self.ranges.items():
            values = columns.get(name)
            if not values:
                continue
            for i, v in enumerate(values):
                if v is not None and v not in bounds:
                    found.append(OutOfProfile(i, name, _outside(v, bounds)))
        for name, allowed in self.categories.items():
            values = columns.get(name)
            if not values:
                continue
            for i, v in enumerate(values):
                if v is not None and str(v) not in allowed:
                    found.append(OutOfProfile(i, name, _unknown(v, allowed, self.source)))
        found.sort(key=lambda p: p.row)
        return found if limit is None else found[:limit]

    def describe(self) -> dict[str, Any]:
        """The profile for /health."""
        return {
            "source": self.source,
            "ranges": {k: [r.lo, r.hi] for k, r in self.ranges.items()},
            "categories": {k: sorted(v) for k, v in self.categories.items()},
        }


def _outside(value: float, bounds: Range) -> str:
    return (
        f"{value:g} is outside the champion's training profile [{bounds.lo:g}, {bounds.hi:g}] "
        f"({bounds.source}); send a value in that range, or set serving.out_of_profile: flag "
        "to answer such records flagged"
    )


def _unknown(value: Any, allowed: frozenset[str], source: str) -> str:
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    return (
        f"{shown} is not a category of the champion's training data ({source}; it knows "
        f"{sorted(allowed)[:10]}); send a known category, or set serving.out_of_profile: flag"
    )


def build_profile(
    settings: Settings, reference: pd.DataFrame | None, version: int, numeric: Sequence[str]
) -> InputProfile:
    """The profile of a model trained on ``reference`` (its logged training-data sample).

    Args:
        settings: The configuration (``validation``, ``serving.profile_tolerance``, ``data``).
        reference: The training-data sample logged with the model's run, or None.
        version: The model's version (for the messages).
        numeric: The columns the model takes as numbers (its signature's).
    """
    from challenger.monitor.schema import batch_schema

    tolerance = settings.serving.profile_tolerance
    schema = batch_schema(settings, reference)  # the monitor's own: configured + learned
    ranges: dict[str, Range] = {}
    categories: dict[str, frozenset[str]] = {}
    configured: dict[str, tuple[float, float]] = {}
    for spec in schema.columns:
        if spec.kind == "categorical" and spec.categories is not None:
            categories[spec.name] = frozenset(spec.categories)
        if spec.kind == "numeric":
            configured[spec.name] = (
                -math.inf if spec.min is None else float(spec.min),
                math.inf if spec.max is None else float(spec.max),
            )
    learned = 0
    for name in numeric:
        lo, hi = configured.get(name, (-math.inf, math.inf))
        source = "validation.ranges"
        seen = _seen_range(reference, name)
        if seen is not None:
            # A column constant in training still gets room: its own size, at least 1.
            span = (seen[1] - seen[0]) or max(abs(seen[0]), 1.0)
            lo = max(lo, seen[0] - tolerance * span)
            hi = min(hi, seen[1] + tolerance * span)
            source = f"v{version}'s training data ± {tolerance:g} × its range"
            learned += 1
        if math.isfinite(lo) or math.isfinite(hi):
            ranges[name] = Range(lo, hi, source)
    if reference is None:
        note = f"validation.ranges only: no training data was logged with v{version}'s run"
    else:
        note = (
            f"v{version}'s training data ({len(reference)} rows) ± {tolerance:g} × each range, "
            f"within what validation allows; {learned} numeric and {len(categories)} categorical "
            "columns"
        )
    return InputProfile(ranges, categories, note)


def _seen_range(reference: pd.DataFrame | None, name: str) -> tuple[float, float] | None:
    if reference is None or name not in reference.columns:
        return None
    values = pd.to_numeric(reference[name], errors="coerce").dropna()
    if values.empty:
        return None
    return float(values.min()), float(values.max())
