from __future__ import annotations

import re
from pathlib import Path

import pytest

from challenger.config import Settings, load_config, read_yaml
from challenger.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_shipped_file_equals_the_defaults() -> None:
    shipped = load_config(REPO / "challenger.yaml")
    assert shipped == Settings(root=shipped.root)


def test_unknown_key_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("gate:\n  confidnce: 0.9\n")
    with pytest.raises(ConfigError, match=r"gate\.confidnce: unknown key"):
        load_config(cfg)


def test_bad_value_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("training:\n  cv:\n    n_splits: 1\n")
    with pytest.raises(ConfigError, match=r"training\.cv\.n_splits"):
        load_config(cfg)


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("gate: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(cfg)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("gate:\n  confidence: 0.9\n")
    monkeypatch.setenv("CHALLENGER_GATE__CONFIDENCE", "0.99")
    assert load_config(cfg).gate.confidence == 0.99


def test_paths_resolve_against_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("{}\n")
    s = load_config(cfg)
    assert s.tracking_uri == f"sqlite:///{tmp_path.resolve()}/mlflow/mlflow.db"
    assert s.path(s.data.accepted_dir) == tmp_path.resolve() / "data" / "accepted"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert s.tracking_uri == "http://127.0.0.1:5000"


def test_candidate_selection() -> None:
    s = Settings()
    assert [c.name for c in s.enabled_candidates()] == ["gradient_boosting", "logistic_regression"]
    assert [c.name for c in s.enabled_candidates(("shallow_tree",))] == ["shallow_tree"]
    with pytest.raises(ConfigError, match="unknown candidate 'nope'"):
        s.enabled_candidates(("nope",))


def test_cross_checks(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("validation:\n  ranges:\n    height: [0, 3]\n")
    with pytest.raises(ConfigError, match="height"):
        load_config(cfg)
    cfg.write_text("data:\n  target: age\n")
    with pytest.raises(ConfigError, match="also listed as a feature"):
        load_config(cfg)


def test_gate_policy_errors_name_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("gate:\n  slices:\n    - {column: favourite_colour}\n")
    with pytest.raises(ConfigError, match=r"gate\.slices\[0\]\.column: 'favourite_colour'"):
        load_config(cfg)
    cfg.write_text("training:\n  primary_metric: f2_score\n")
    with pytest.raises(ConfigError, match=r"training\.primary_metric"):
        load_config(cfg)
    cfg.write_text("gate:\n  resample: groups\n")
    with pytest.raises(ConfigError, match="group_column"):
        load_config(cfg)


def test_duplicate_keys_are_refused_with_both_lines(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "gate:\n  confidence: 0.9\ntraining:\n  holdout_fraction: 0.2\ngate:\n  margin: 0\n"
    )
    with pytest.raises(ConfigError, match=r"gate is given twice \(lines 1 and 5\)"):
        load_config(cfg)
    cfg.write_text("gate:\n  confidence: 0.9\n  confidence: 0.8\n")
    with pytest.raises(ConfigError, match=r"gate\.confidence is given twice \(lines 2 and 3\)"):
        load_config(cfg)


def test_yaml_merge_keys_still_override(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "base: &base {confidence: 0.9, margin: 0.02}\ngate:\n  <<: *base\n  confidence: 0.8\n"
    )
    # An anchor merged into a mapping and overridden there is not a duplicate key.
    assert read_yaml(cfg)["gate"] == {"confidence": 0.8, "margin": 0.02}


def test_every_problem_is_reported_in_one_pass(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "gate:\n  confidnce: 0.9\n  slices:\n    - {column: favourite_colour}\n"
        "training:\n  cv:\n    n_splits: 1\n"
        "validation:\n  ranges:\n    nowhere: [0, 1]\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(cfg)
    text = str(caught.value)
    assert "4 problems" in text
    for key in ("gate.confidnce", "training.cv.n_splits", "gate.slices[0].column",
                "validation.ranges"):  # fmt: skip
        assert f"- {key}:" in text


def test_first_champion_floor_follows_the_metric(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data:\n  task: regression\ntraining:\n  primary_metric: rmse\n")
    assert load_config(cfg).gate.first_champion_floor is None  # not 0.6 as an RMSE ceiling
    assert load_config(None).gate.first_champion_floor == 0.6  # the default metric: roc_auc
    cfg.write_text(
        "data:\n  task: regression\ntraining:\n  primary_metric: rmse\n"
        "gate:\n  first_champion_floor: 12.5\n"
    )
    assert load_config(cfg).gate.first_champion_floor == 12.5  # a ceiling in the target's units
    cfg.write_text("gate:\n  first_champion_floor: 1.5\n")
    with pytest.raises(
        ConfigError, match=r"gate\.first_champion_floor: 1\.5 is not a floor roc_auc"
    ):
        load_config(cfg)
    cfg.write_text(
        "data:\n  task: regression\ntraining:\n  primary_metric: rmse\n"
        "gate:\n  first_champion_floor: -1\n"
    )
    with pytest.raises(ConfigError, match=r"is not a ceiling rmse can meet"):
        load_config(cfg)


@pytest.mark.parametrize(
    ("estimator", "allowed", "message"),
    [
        ("sklearn.linear_model.LogisticRegresion", [], "has no class 'LogisticRegresion'"),
        ("sklearn.linar_model.LogisticRegression", [], "no module 'sklearn.linar_model'"),
        ("os.path.Model", [], r"outside the allowed estimator modules \(sklearn\)"),
        ("sklearnish.Model", [], "outside the allowed"),  # a prefix is a whole module name
        ("mypkg_absent.models.Model", ["mypkg_absent"], "no module 'mypkg_absent.models'"),
    ],
)
def test_estimator_paths_are_checked_when_the_configuration_loads(
    tmp_path: Path, estimator: str, allowed: list[str], message: str
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"training:\n  allowed_modules: {allowed}\n  candidates:\n"
        f"    - {{name: mine, estimator: {estimator}}}\n"
    )
    with pytest.raises(ConfigError, match=r"training\.candidates\[mine\]\.estimator") as err:
        load_config(cfg)
    assert re.search(message, str(err.value))


def test_allowed_modules_are_module_names(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("training:\n  allowed_modules: ['xgboost', '../evil']\n")
    with pytest.raises(ConfigError, match=r"allowed_modules must be module names"):
        load_config(cfg)


def test_a_declared_module_is_checked_from_its_source_without_running_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "acme_models"
    pkg.mkdir()
    ran = tmp_path / "ran"
    (pkg / "__init__.py").write_text(f"open({str(ran)!r}, 'w').close()\n")
    (pkg / "trees.py").write_text(f"open({str(ran)!r}, 'w').close()\nclass Forest: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "training:\n  allowed_modules: [acme_models]\n  candidates:\n"
        "    - {name: f, estimator: acme_models.trees.Forest}\n"
        "    - {name: lr, estimator: sklearn.linear_model.LogisticRegression}\n"
    )
    assert load_config(cfg).training.allowed_modules == ("acme_models",)
    assert not ran.exists()  # neither the package nor the module ran at load
    cfg.write_text(cfg.read_text().replace("trees.Forest", "trees.Forrest"))
    with pytest.raises(ConfigError, match="has no class 'Forrest'"):
        load_config(cfg)


def test_a_regression_gets_per_request_metrics_of_its_task() -> None:
    from pydantic import ValidationError

    reg = {"data": {"task": "regression", "target": "risk_score"}}
    reg["training"] = {"primary_metric": "rmse"}
    s = Settings.model_validate(reg)
    assert s.rollout.ab.metric == "mse"
    assert [m.name for m in s.rollout.canary.metrics] == ["error_rate", "latency_ms", "mae"]
    assert Settings.model_validate({}).rollout.ab.metric == "brier"  # binary keeps its defaults
    chosen = Settings.model_validate({**reg, "rollout": {"ab": {"metric": "value"}}})
    assert chosen.rollout.ab.metric == "value"
    with pytest.raises(ValidationError, match=r"rollout.ab.metric: 'brier' has no per-request"):
        Settings.model_validate({**reg, "rollout": {"ab": {"metric": "brier"}}})
    bad = {"canary": {"metrics": [{"name": "mae", "tolerance": 1.0}]}}
    with pytest.raises(ValidationError, match=r"metrics\[0\].name: 'mae' has no per-request"):
        Settings.model_validate({"rollout": bad})
