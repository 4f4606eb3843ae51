"""Drift results as our own types: one verdict per column and the dataset's."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from challenger.monitor.drift.control import AlarmControl


DriftKind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class ColumnDrift:
    """Drift of one column.

    Attributes:
        column: Column name.
        kind: ``numeric`` or ``categorical``.
        method: Display name of the column's own statistical test, e.g.
            ``"Wasserstein distance (normed)"`` or ``"K-S p_value"``.
        score: The test's score: a p-value for tests named "... p_value" (drift when below
            the threshold), a distance otherwise (drift when at or above it).
        threshold: The threshold the score was compared with.
        drifted: The test's own verdict, unadjusted (what Evidently reports).
        p_value: The two-sample test the alarms use (K-S for numeric columns, chi-square
            homogeneity for categorical ones and numeric columns with few values).
        p_test: Its name.
        effect: How far apart the two distributions are: the K-S statistic (largest gap
            between the CDFs) or the total variation distance (share of the mass that moved).
        adjusted_p: ``p_value`` after the multiplicity adjustment over the feature columns
            (None when not adjusted).
        alarm: The verdict that counts (see ``challenger.monitor.drift.control``); None for
            the prediction and the target, which are reported and never counted.
    """

    column: str
    kind: DriftKind
    method: str
    score: float
    threshold: float
    drifted: bool
    p_value: float | None = None
    p_test: str | None = None
    effect: float | None = None
    adjusted_p: float | None = None
    alarm: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class DriftResult:
    """Drift of a current batch against reference data.

    Attributes:
        columns: One entry per compared feature column, numeric columns first, in the
            order given.
        n_drifted: Feature columns that alarm (after the multiplicity control).
        drift_share: ``n_drifted / len(columns)``: what the data-change trigger reads.
        share_threshold: Share of alarmed columns from which the dataset counts as drifted.
        dataset_drift: ``drift_share >= share_threshold``.
        n_reference: Reference rows the verdicts were computed on.
        n_current: Current rows the verdicts were computed on.
        engine: ``fast`` (numpy/scipy on every row), ``evidently`` (Evidently on a sample)
            or ``sketch`` (every current row against the reference's stored sketch).
        prediction: Drift of the model's scores (reference vs current), when compared.
        target: Drift of the label, when the current data has labels.
        report_rows: Rows per side in the HTML report (None when no report was drawn).
        control: How the alarms were decided and the error rate they carry.
        notes: Columns whose values were not of one kind on both sides, and how they were
            compared, one sentence each.
    """

    columns: tuple[ColumnDrift, ...]
    n_drifted: int
    drift_share: float
    share_threshold: float
    dataset_drift: bool
    n_reference: int
    n_current: int
    engine: Literal["fast", "evidently", "sketch"] = "evidently"
    prediction: ColumnDrift | None = None
    target: ColumnDrift | None = None
    report_rows: int | None = None
    control: AlarmControl | None = None
    notes: tuple[str, ...] = ()

    def drifted_columns(self) -> tuple[str, ...]:
        """Names of the feature columns that alarm, in result order."""
        return tuple(c.column for c in self.columns if c.alarm)

    def unadjusted_columns(self) -> tuple[str, ...]:
        """Names of the feature columns whose own test fired (no multiplicity control)."""
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
            "unadjusted_columns": list(self.unadjusted_columns()),
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
            "control": None if self.control is None else self.control.to_dict(),
            "notes": list(self.notes),
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
        if self.control is not None:
            lines.append(self.control.statement())
        lines.extend(self.notes)
        for c in (*self.columns, self.prediction, self.target):
            if c is None:
                continue
            if c.alarm is None:
                mark = "drift (not counted)" if c.drifted else "ok"
            elif c.alarm:
                mark = "DRIFT"
            else:
                mark = "ok (own test fired)" if c.drifted else "ok"
            tail = "" if c.adjusted_p is None else f", adjusted p {c.adjusted_p:.3g}"
            effect = "" if c.effect is None else f", effect {c.effect:.3f}"
            lines.append(
                f"- {c.column} ({c.kind}): {mark}, {c.method} {c.score:.4g} "
                f"(threshold {c.threshold:.4g}){effect}{tail}"
            )
        return "\n".join(lines)
