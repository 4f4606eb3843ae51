"""Data, prediction and target drift: one entry point, two engines and a stored sketch, our own result types.

:func:`measure_drift` (``measure.py``) compares a current batch with reference data column
by column, as a :class:`DriftSpec` (``spec.py``) states the columns, tests, thresholds and
alarm control, and returns a :class:`DriftResult` (``result.py``). The engines reach the same
verdicts with Evidently 0.7's methods and thresholds (``methods.py``):

* ``fast.py`` computes every column's statistic with vectorised numpy/scipy on all rows;
* ``sketch.py`` decides from a reference's per-column sketch stored at registration
  (:func:`measure_drift_from_sketch`), without the reference rows;
* ``evidently.py`` runs Evidently's ``ValueDrift`` metrics on a seeded sample, and draws
  the HTML report; it is the only module that reads Evidently output.
"""

from challenger.monitor.drift.measure import (
    Engine,
    drift_report,
    measure_drift,
    measure_drift_from_sketch,
)
from challenger.monitor.drift.methods import FAST_METHODS
from challenger.monitor.drift.result import ColumnDrift, DriftResult
from challenger.monitor.drift.spec import DriftSpec

__all__ = [
    "FAST_METHODS",
    "ColumnDrift",
    "DriftResult",
    "DriftSpec",
    "Engine",
    "drift_report",
    "measure_drift",
    "measure_drift_from_sketch",
]
