"""Unit tests for challenger.train.pipeline (small seeded data)."""

from __future__ import annotations

import pytest

from challenger.config import CandidateConfig, Settings
from challenger.errors import ConfigError
from challenger.train.pipeline import build_pipeline, import_estimator

S = Settings()


def test_import_errors_name_the_path() -> None:
    with pytest.raises(ConfigError, match=r"cannot import module 'sklearn\.nope'"):
        import_estimator("sklearn.nope.Model")
    with pytest.raises(ConfigError, match="has no class 'Nope'"):
        import_estimator("sklearn.linear_model.Nope")


def test_unknown_parameter_is_refused_before_training() -> None:
    bad = CandidateConfig(
        name="lr", estimator="sklearn.linear_model.LogisticRegression", params={"depth": 3}
    )
    with pytest.raises(ConfigError, match=r"does not take \['depth'\]"):
        build_pipeline(bad, S.data.numeric, S.data.categorical, seed=0)
