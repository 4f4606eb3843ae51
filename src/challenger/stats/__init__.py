"""Statistics comparing champion and challenger: paired on a holdout, sequential on live traffic.

The gate decides on Δ = metric(challenger) − metric(champion), oriented so that a positive
Δ always means "the challenger is better" (losses are negated), and on a one-sided
confidence bound of Δ from a paired BCa bootstrap. Everything here is a pure function of
numpy arrays: no I/O, no logging, no global random state.

Modules: ``bootstrap`` (the paired bootstrap), ``sums`` and ``auc`` (the metrics under
resampling), ``resample`` (count batches, BCa), ``inputs`` (validation, against the metric
catalogue :mod:`challenger.metrics`), ``crosschecks`` (McNemar, DeLong, corrected t-test),
``power`` (rows needed: a statsmodels power calculation), ``multiple`` (Holm), ``small`` (the studentized
jackknife bounds the gate decides on below ``gate.small_sample_rows`` units: why that
method, in its docstring), ``calibration`` (ECE), ``sequential`` (sample-ratio mismatch, the
always-valid mSPRT) and ``distribution`` (PSI) for the online judges.

Speed. A 100,000-row holdout with 2,000 resamples must take seconds, not minutes, so no
resample is handed to a metric function one at a time:

* each resample is a vector of integer weights (multinomial counts over rows, or over
  groups for a cluster bootstrap), generated in batches whose size bounds the memory;
* metrics that are functions of sums of per-row quantities (accuracy, log loss, Brier,
  MSE, MAE, RMSE, R², balanced accuracy, macro F1) are one matrix product per batch;
* ROC AUC sorts each model's scores once; each resample's weighted Mann–Whitney
  statistic is then a cumulative sum of one class's weights in that order, read at
  precomputed positions of the other class (ties get half credit, as in
  ``sklearn.metrics.roc_auc_score``);
* the BCa acceleration uses a closed-form jackknife (leave-one-out sums for sum metrics,
  DeLong's placement values for AUC) instead of n metric evaluations.

The results agree with ``scipy.stats.bootstrap(..., paired=True, method="BCa")`` up to
Monte-Carlo error (see ``tests/unit/stats/test_bootstrap.py`` and, for multiclass inputs,
``tests/unit/stats/test_bootstrap_multiclass.py``).

Three input conventions, told apart by the shape of the scores:

* **binary** — ``y_true`` holds 0/1 and each score is one-dimensional, the probability of
  class 1 (any monotone score for ROC AUC); an (n, 2) ``predict_proba`` matrix is accepted
  and reduced to its column 1;
* **multiclass** — ``y_true`` holds integer class codes 0..k−1 and each score is an (n, k)
  matrix of class probabilities (columns in code order, rows summing to 1, k ≥ 3); hard
  predictions are the argmax of a row and ``threshold`` is not used. Sum metrics use
  per-class sums (2k of them for balanced accuracy, 3k for macro F1); ROC AUC is the
  one-vs-rest macro average, bootstrapped class by class on identical resamples;
* **regression** — ``y_true`` and the predictions are one-dimensional.
"""

from challenger.errors import StatisticsInputError
from challenger.stats.bootstrap import PairedBootstrap, paired_bootstrap, paired_bootstraps
from challenger.stats.calibration import expected_calibration_error
from challenger.stats.crosschecks import (
    CorrectedTTest,
    DeLongResult,
    McNemarResult,
    corrected_resampled_ttest,
    delong_test,
    mcnemar_midp,
)
from challenger.stats.distribution import psi
from challenger.stats.inputs import metric_task_support
from challenger.stats.multiple import holm
from challenger.stats.power import rows_needed, units_for_power
from challenger.stats.sequential import SequentialResult, SRMResult, msprt, srm_test
from challenger.stats.small import SMALL_SAMPLE_UNITS, Studentized, studentized_bounds
from challenger.stats.sums import metric_value

__all__ = [
    "SMALL_SAMPLE_UNITS",
    "CorrectedTTest",
    "DeLongResult",
    "McNemarResult",
    "PairedBootstrap",
    "SRMResult",
    "SequentialResult",
    "StatisticsInputError",
    "Studentized",
    "corrected_resampled_ttest",
    "delong_test",
    "expected_calibration_error",
    "holm",
    "mcnemar_midp",
    "metric_task_support",
    "metric_value",
    "msprt",
    "paired_bootstrap",
    "paired_bootstraps",
    "psi",
    "rows_needed",
    "srm_test",
    "studentized_bounds",
    "units_for_power",
]
