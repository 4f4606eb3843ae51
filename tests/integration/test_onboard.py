"""A user's first hour: `challenger init` then `retrain` on public CSVs decides at the first attempt.

scikit-learn's bundled sets, written to CSV as a user would find them: breast cancer (binary),
diabetes (regression, the case the old 0.6 first-champion floor refused), wine (multiclass).
The configuration is the one `init` writes, untouched; only the cheapest proposed candidate is
named on the command line to keep the test short.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from challenger.cli import app
from challenger.config import load_config

DATASETS = {
    "breast_cancer": ("load_breast_cancer", "binary", "logistic_regression"),
    "diabetes": ("load_diabetes", "regression", "ridge"),
    "wine": ("load_wine", "multiclass", "logistic_regression"),
}


@pytest.mark.parametrize("name", DATASETS)
def test_init_then_retrain_decides_at_the_first_attempt(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sklearn.datasets
    from flows.retrain import retrain_flow

    loader, task, candidate = DATASETS[name]
    monkeypatch.chdir(tmp_path)
    getattr(sklearn.datasets, loader)(as_frame=True).frame.to_csv(f"{name}.csv", index=False)

    out = CliRunner().invoke(app, ["init", f"{name}.csv", "--target", "target", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert (doc["task"], doc["next"]) == (task, f"challenger retrain --data {name}.csv")
    assert candidate in doc["candidates"]
    settings = load_config(tmp_path / "challenger.yaml")
    assert settings.project.model_name == name.replace("_", "-")

    result = retrain_flow(
        reason="manual", data=str(tmp_path / f"{name}.csv"), candidates=[candidate]
    ).to_dict()
    assert result["promoted"] and result["challenger_version"] == 1, result["decision"]


def test_retrain_names_declared_columns_the_file_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sklearn.datasets

    monkeypatch.chdir(tmp_path)
    frame = sklearn.datasets.load_wine(as_frame=True).frame
    frame.to_csv("wine.csv", index=False)
    assert CliRunner().invoke(app, ["init", "wine.csv", "--target", "target"]).exit_code == 0
    frame.drop(columns=["alcohol"]).to_csv("wine.csv", index=False)
    out = CliRunner().invoke(app, ["retrain", "--data", "wine.csv", "--json"])
    assert out.exit_code == 2
    error = json.loads(out.stdout)
    assert error["kind"] == "DataError" and "data.numeric 'alcohol'" in error["error"]
    assert not (tmp_path / "mlflow").exists()  # refused before any store or flow started
