"""Drift results as our own types: one verdict per column and the dataset's."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    pass


DriftKind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class ColumnDrift:
    """Drift of one column.

    Attributes:
        column: Column name.
        kind: ``numeric`` or ``categorical``.
        method: Display name of the statistical test, e.g.
            ``"Wasserstein distance (normed)"`` or ``"K-S p_value"``.
        score: The test's score: a p-value for tests named "... p_value" (drift when below
            the threshold), a distance otherwise (drift when at or above it).
        threshold: The threshold the score was compared with.
        drifted: The verdict.
    """

    column: str
    kind: DriftKind
    method: str
    score: float
    threshold: float
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class DriftResult:
    """Drift of a current batch against reference data.

    Attributes:
        columns: One entry per compared feature column, numeric columns first, in the
            order given.
        n_drifted: Feature columns with drift.
        drift_share: ``n_drifted / len(columns)``.
        share_threshold: Share of drifted columns from which the dataset counts as drifted.
        dataset_drift: ``drift_share >= share_threshold``.
        n_reference: Reference rows the verdicts were computed on.
        n_current: Current rows the verdicts were computed on.
        engine: ``fast`` (numpy/scipy on every row) or ``evidently`` (Evidently on a sample).
        prediction: Drift of the model's scores (reference vs current), when compared.
        target: Drift of the label, when the current data has labels.
        report_rows: Rows per side in the HTML report (None when no report was drawn).
    """

    columns: tuple[ColumnDrift, ...]
    n_drifted: int
    drift_share: float
    share_threshold: float
    dataset_drift: bool
    n_reference: int
    n_current: int
    engine: Literal["fast", "evidently"] = "evidently"
    prediction: ColumnDrift | None = None
    target: ColumnDrift | None = None
    report_rows: int | None = None

    def drifted_columns(self) -> tuple[str, ...]:
        """Names of the drifted feature columns, in result order."""
        return tuple(c.column for c in self.columns if c.drifted)

    def column(self, name: str) -> ColumnDrift:
        """Return the drift of feature column ``name``.

        Raises:
            KeyError: If ``name`` was not compared.
        """
        for drift in self.columns:
            if drift.column == name:
                return drift
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {
            "columns": [c.to_dict() for c in self.columns],
            "drifted_columns": list(self.drifted_columns()),
            "n_drifted": self.n_drifted,
            "drift_share": self.drift_share,
            "share_threshold": self.share_threshold,
            "dataset_drift": self.dataset_drift,
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "engine": self.engine,
            "prediction": None if self.prediction is None else self.prediction.to_dict(),
            "target": None if self.target is None else self.target.to_dict(),
            "report_rows": self.report_rows,
        }

    def summary(self) -> str:
        """Return a short multi-line summary for people."""
        verdict = "dataset drift" if self.dataset_drift else "no dataset drift"
        head = (
            f"{self.n_drifted} of {len(self.columns)} columns drifted "
            f"(share {self.drift_share:.0%}, threshold {self.share_threshold:.0%}): {verdict}; "
            f"{self.n_current} current vs {self.n_reference} reference rows."
        )
        lines = [head]
        for c in (*self.columns, self.prediction, self.target):
            if c is None:
                continue
            mark = "DRIFT" if c.drifted else "ok"
            lines.append(
                f"- {c.column} ({c.kind}): {mark}, {c.method} {c.score:.4g} "
                f"(threshold {c.threshold:.4g})"
            )
        return "\n".join(lines)
