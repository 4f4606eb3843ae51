"""Unit tests for challenger.train.pipeline (small seeded data)."""

from __future__ import annotations

from pathlib import Path

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


def test_a_module_outside_the_allow_list_is_refused_without_being_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "loud_models.py").write_text(
        f"open({str(tmp_path / 'ran')!r}, 'w').close()\nclass M: pass\n", encoding="utf-8"
    )
    monkeypatch.syspath_prepend(str(tmp_path))

    with pytest.raises(ConfigError, match=r"outside the allowed estimator modules \(sklearn\)"):
        import_estimator("loud_models.M")
    assert not (tmp_path / "ran").exists()
    with pytest.raises(ConfigError, match="not a scikit-learn compatible estimator"):
        import_estimator("loud_models.M", allowed_modules=("loud_models",))
    assert (tmp_path / "ran").exists()  # allowed: imported (and refused as no estimator)
