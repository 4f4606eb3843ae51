"""MLflow's pickle warning is dropped at registration; other MLflow warnings are not."""

from __future__ import annotations

import logging

import pytest

from challenger.store.tracking import _quiet_pickle_warning


def test_only_the_pickle_warning_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    _quiet_pickle_warning()
    _quiet_pickle_warning()  # once per process, however often a model is logged
    log = logging.getLogger("mlflow.sklearn")
    assert len(log.filters) == len({type(f) for f in log.filters})
    with caplog.at_level(logging.WARNING, logger="mlflow.sklearn"):
        log.warning("Saving scikit-learn models in the pickle or cloudpickle format requires ...")
        log.warning("some other warning")
    assert [r.getMessage() for r in caplog.records] == ["some other warning"]
