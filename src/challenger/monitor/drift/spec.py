"""What a drift decision compares and how it decides: one value for both entry points."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from challenger.monitor.drift.control import Control
from challenger.monitor.drift.result import DriftKind


@dataclass(frozen=True)
class DriftSpec:
    """The columns, tests, thresholds and alarm control of a drift decision.

    :func:`~challenger.monitor.drift.measure_drift` (against reference rows),
    :func:`~challenger.monitor.drift.measure_drift_from_sketch` (against a stored sketch) and
    :func:`~challenger.monitor.drift.drift_report` (the HTML report, which ignores ``control``,
    ``alarm_rate`` and ``min_effect``) take it. The functions check it when called, and raise
    ``DriftInputError`` for what they cannot compare.

    Method choice follows Evidently 0.7: without a method, a reference of up to 1,000 rows
    gets the K-S p-value (numeric) and chi-square or Z-test p-values (categorical); a
    larger one gets the normed Wasserstein distance (numeric) and the Jensen-Shannon
    distance (categorical, and numeric columns with at most five values).

    Attributes:
        numeric: Numeric feature columns.
        categorical: Categorical feature columns.
        share_threshold: Share of drifted feature columns from which the dataset counts as
            drifted.
        method: Evidently stattest name for all columns (e.g. ``"ks"``, ``"wasserstein"``,
            ``"psi"``, ``"jensenshannon"``, ``"chisquare"``); None for Evidently's defaults.
        threshold: Drift threshold for all columns; None for each test's default.
        per_column_method: Stattest name per column, overriding ``method``.
        per_column_threshold: Threshold per column, overriding ``threshold``.
        prediction: A column of model outputs present on both sides; its drift is reported
            apart from the features and does not count in the share.
        target: The label column; its drift is reported when both sides hold labels (rows
            without a label are left out), apart from the features.
        prediction_kind: ``numeric`` (scores, a regression's values) or ``categorical``
            (predicted classes).
        target_kind: ``categorical`` (class labels) or ``numeric`` (a regression target).
        control: How column alarms are decided: ``holm`` (family-wise error),
            ``bh`` (false discovery rate) or ``none`` (each test's own verdict).
        alarm_rate: The family-wise error or false discovery rate across feature columns.
        min_effect: Smallest K-S statistic or total variation distance for a p-value test
            to alarm; None for no minimum.
    """

    numeric: Sequence[str]
    categorical: Sequence[str]
    share_threshold: float = 0.5
    method: str | None = None
    threshold: float | None = None
    per_column_method: Mapping[str, str] | None = None
    per_column_threshold: Mapping[str, float] | None = None
    prediction: str | None = None
    target: str | None = None
    prediction_kind: DriftKind = "numeric"
    target_kind: DriftKind = "categorical"
    control: Control = "holm"
    alarm_rate: float = 0.05
    min_effect: float | None = 0.05
