"""Unit tests for challenger.stats.calibration, checked against sklearn, scipy and statsmodels."""

from __future__ import annotations

import numpy as np
import pytest


def test_expected_calibration_error() -> None:
    from challenger.stats import expected_calibration_error

    y = np.array([0, 0, 1, 1])
    assert expected_calibration_error(y, np.array([0.0, 0.0, 1.0, 1.0])) == pytest.approx(0.0)
    # Everyone predicted 0.5 in one bin where half are positive: perfectly calibrated.
    assert expected_calibration_error(y, np.full(4, 0.5)) == pytest.approx(0.0)
    # Predicting 0.9 for a bin where half are positive: gap 0.4.
    assert expected_calibration_error(y, np.full(4, 0.9)) == pytest.approx(0.4)
