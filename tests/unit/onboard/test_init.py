"""challenger init: profile a table, propose a sized configuration, write it commented, check it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from challenger.cli import app
from challenger.config import load_config
from challenger.errors import ConfigError, DataError
from challenger.onboard.columns import check_file_columns
from challenger.onboard.init import initialise
from challenger.onboard.profile import nice_bounds, profile_table
from challenger.onboard.propose import model_name_of, sizes


def _table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame({
        "customer_id": [f"c{i:05d}" for i in range(n)],
        "signup_date": pd.date_range("2024-01-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M:%S"),
        "income": rng.uniform(1_000, 9_000, n).round(2),
        "x": x,
        "plan": rng.choice(["basic", "plus", "pro"], n),
        "notes": [f"free text number {i}" for i in range(n)],
        "constant": 1,
        "Unnamed: 0": np.arange(n),
        "target": (x + rng.normal(scale=0.5, size=n) > 0).astype(int),
    })  # fmt: skip


def test_profile_names_every_kind_with_its_reason() -> None:
    p = profile_table(_table(), "target")
    assert (p.target.task, p.target.classes) == ("binary", (0, 1))
    assert p.names("id") == ("customer_id",)
    assert p.names("timestamp") == ("signup_date",)
    assert p.names("numeric") == ("income", "x")
    assert p.names("categorical") == ("plan",)
    reasons = {c.name: c.why for c in p.ignored}
    assert set(reasons) == {"notes", "constant", "Unnamed: 0"}
    assert "text" in reasons["notes"] and "row number" in reasons["Unnamed: 0"]


def test_profile_infers_multiclass_and_regression() -> None:
    frame = _table()
    frame["target"] = np.where(frame["x"] > 0.5, "high", np.where(frame["x"] < -0.5, "low", "mid"))
    assert profile_table(frame, "target").target.task == "multiclass"
    frame["target"] = frame["x"] * 10 + 3.3
    regression = profile_table(frame, "target").target
    assert regression.task == "regression"
    assert regression.std == pytest.approx(float(np.std(frame["target"])))


def test_a_copy_of_the_target_is_left_out() -> None:
    frame = _table()
    frame["leak"] = frame["target"] * 2.0 + 1.0
    p = profile_table(frame, "target")
    assert "leak" in {c.name for c in p.ignored}
    assert "reproduces the target" in p.column("leak").why


def test_unusable_targets_are_refused_with_a_reason() -> None:
    with pytest.raises(
        DataError, match=r"--target 'targte' is not a column.*did you mean 'target'"
    ):
        profile_table(_table(), "targte")
    with pytest.raises(DataError, match="needs at least"):
        profile_table(_table(n=40), "target")
    frame = _table()
    frame.loc[:1, "target"] = 7  # a class with two rows
    with pytest.raises(DataError, match="class 7 of target 'target' has 2 row"):
        profile_table(frame, "target")


def test_sizes_follow_the_rows_and_the_rarest_class() -> None:
    frame = _table(n=200)
    frame["target"] = 0
    frame.loc[:9, "target"] = 1  # 10 positives
    sz = sizes(profile_table(frame, "target"))
    assert (sz.holdout_rows, sz.train_rows) == (60, 140)
    assert sz.n_splits == 4  # 10 * 0.7 * 0.6 rows of the rarest class per fold set
    assert sz.min_holdout_rows == 60


def test_model_name_and_bounds() -> None:
    assert model_name_of(Path("data/Breast Cancer (2024).csv")) == "breast-cancer-2024"
    assert model_name_of(Path("___.csv")) == "model"
    assert nice_bounds(0.0, 10.0, True, 0.25) == (
        0.0,
        13.0,
    )  # never below 0 for a column that is not
    assert nice_bounds(-1.0, 1.0, False, 0.25) == (-1.5, 1.5)


def test_initialise_writes_a_config_that_loads(tmp_path: Path) -> None:
    data = tmp_path / "Churn Data.csv"
    _table().to_csv(data, index=False)
    cfg = tmp_path / "challenger.yaml"
    result = initialise(data, "target", cfg)
    settings = load_config(cfg)
    assert settings.project.model_name == "churn-data" == result.model_name
    assert (settings.data.id_column, settings.data.timestamp) == ("customer_id", "signup_date")
    assert settings.data.categorical == ("plan",)
    assert set(settings.validation.ranges) == {"income", "x"}
    assert settings.gate.first_champion_floor == 0.6
    assert settings.gate.min_holdout_rows == 90 == result.sizes.holdout_rows
    assert result.next_command.startswith("challenger retrain --data ")
    assert "# from the target: its values are 0 and 1" in cfg.read_text()
    with pytest.raises(ConfigError, match="already exists; pass --force"):
        initialise(data, "target", cfg)
    assert initialise(data, "target", cfg, force=True).config == cfg.resolve()


def test_a_regression_gets_a_ceiling_in_the_targets_units(tmp_path: Path) -> None:
    frame = _table()
    frame["target"] = frame["x"] * 40 + 150
    data = tmp_path / "d.parquet"
    frame.to_parquet(data)
    initialise(data, "target", tmp_path / "challenger.yaml")
    settings = load_config(tmp_path / "challenger.yaml")
    assert settings.training.primary_metric == "rmse"
    std = float(np.std(frame["target"]))
    floor = settings.gate.first_champion_floor
    assert floor is not None and std <= floor < std * 1.02  # predicting the mean, not 0.6
    assert 0 < settings.gate.margin < std


def test_declared_columns_missing_from_a_file_are_named(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    _table().to_csv(data, index=False)
    initialise(data, "target", tmp_path / "challenger.yaml")
    settings = load_config(tmp_path / "challenger.yaml")
    _table().drop(columns=["signup_date", "income"]).to_csv(data, index=False)
    with pytest.raises(DataError) as caught:
        check_file_columns(settings, data, "training")
    assert "data.timestamp 'signup_date', data.numeric 'income'" in str(caught.value)
    # A batch may leave the target out (labels arrive later).
    _table().drop(columns=["target"]).to_csv(data, index=False)
    check_file_columns(settings, data, "batch")
    with pytest.raises(DataError, match=r"data\.target 'target'"):
        check_file_columns(settings, data, "training")


def test_cli_init_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _table().to_csv("t.csv", index=False)
    out = CliRunner().invoke(app, ["init", "t.csv", "--target", "target", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["next"] == "challenger retrain --data t.csv"
    assert (doc["task"], doc["primary_metric"]) == ("binary", "roc_auc")
    bad = CliRunner().invoke(app, ["init", "t.csv", "--target", "nope", "--force", "--json"])
    assert bad.exit_code == 2
    assert json.loads(bad.stdout)["kind"] == "DataError"
