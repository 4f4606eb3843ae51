"""The command line against a real store: JSON-clean stdout, exit codes, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from challenger.cli import app
from challenger.config import load_config
from challenger.demo.simulator import simulate_batch
from challenger.store.batches import write_table
from challenger.store.registry import Registry
from challenger.store.tracking import Tracking

pytestmark = pytest.mark.integration
runner = CliRunner()


def _invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def trained(project: Path) -> Path:
    """A project whose first model was trained through `challenger retrain --data`."""
    data = write_table(simulate_batch(0, 2000, seed=7), project.parent / "day0.csv")
    code, out, err = _invoke("retrain", "--config", str(project), "--data", str(data), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["decision"]["outcome"] == "PROMOTE"
    return project


def test_retrain_json_carries_the_whole_decision(trained: Path) -> None:
    data = write_table(simulate_batch(1, 2000, seed=7), trained.parent / "day1.csv")
    code, out, _ = _invoke(
        "retrain",
        "--config",
        str(trained),
        "--data",
        str(data),
        "--candidate",
        "shallow_tree",
        "--json",
    )
    assert code == 0  # a refused challenger is a success
    result = json.loads(out)  # stdout is exactly one JSON document
    assert result["decision"]["outcome"] in ("REJECT", "INCONCLUSIVE")
    assert result["champion_before"] == result["champion_after"] == 1
    assert result["challenger_version"] == 2
    boot = result["evidence"]["bootstrap"]
    assert boot["metric"] == "roc_auc" and boot["lower"] <= boot["delta"] <= boot["upper"]
    assert result["evidence"]["secondary"]["roc_auc"]["champion"] > 0.5
    for check in result["decision"]["checks"]:
        assert check["reason"] and isinstance(check["passed"], bool)


def test_status_json_reports_the_registry(trained: Path) -> None:
    code, out, _ = _invoke("status", "--config", str(trained), "--json")
    assert code == 0
    status = json.loads(out)
    assert status["champion"] == 1
    assert status["aliases"]["champion"] == 1
    v1 = next(v for v in status["versions"] if v["version"] == 1)
    assert v1["stage"] == "Production" and v1["tags"]["challenger.gate_decision"] == "PROMOTE"


def test_status_human_output(trained: Path) -> None:
    code, out, _ = _invoke("status", "--config", str(trained))
    assert code == 0
    assert "champion: v1" in out


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (lambda d: d / "missing.csv", "does not exist"),
        (
            lambda d: write_table(
                simulate_batch(0, 300, seed=1).drop(columns=["default"]), d / "nolabel.csv"
            ),
            "data.target 'default'",
        ),
        (
            lambda d: write_table(simulate_batch(0, 300, seed=1).iloc[0:0], d / "empty.parquet"),
            "empty",
        ),
        (
            lambda d: (
                (d / "garbage.parquet").write_bytes(b"not a parquet file") and d / "garbage.parquet"
            ),
            "cannot be read",
        ),
    ],
    ids=["missing", "no-target", "empty", "unreadable"],
)
def test_bad_training_data_exits_2_and_registers_nothing(
    trained: Path, tmp_path: Path, make_input, message: str
) -> None:
    registry = Registry.from_settings(load_config(trained))
    before = [v.version for v in registry.versions()]
    path = make_input(tmp_path)
    code, out, err = _invoke("retrain", "--config", str(trained), "--data", str(path), "--json")
    assert code == 2
    assert message in json.loads(out)["error"]
    assert message in err
    assert [v.version for v in registry.versions()] == before
    champion = registry.champion()
    assert champion is not None and champion.version == 1


def test_monitor_quarantines_a_batch_with_an_unknown_column(trained: Path) -> None:
    batch = simulate_batch(2, 500, seed=7).assign(favourite_colour="blue")
    path = write_table(batch, trained.parent / "incoming" / "day-unknown.parquet")
    code, out, _err = _invoke("monitor", "--config", str(trained), "--batch", str(path), "--json")
    assert code == 2
    assert "favourite_colour" in json.loads(out)["error"]
    assert path.exists()  # a file the user named stays where it is; a copy is in quarantine
    code, out, _ = _invoke("status", "--config", str(trained), "--json")
    assert any(q["batch"] == "day-unknown.parquet" for q in json.loads(out)["quarantined"])


def test_monitor_fast_checks_without_a_flow_and_says_the_same(trained: Path) -> None:
    """``--fast``: the same check as the flow (library call), its MLflow monitor run, exit 2 on a
    bad batch; the same JSON document as without it."""
    good = write_table(simulate_batch(1, 600, seed=8), trained.parent / "day-fast.csv")
    code, out, err = _invoke(
        "monitor",
        "--config",
        str(trained),
        "--batch",
        str(good),
        "--no-retrain",
        "--fast",
        "--json",
    )
    assert code == 0, err
    fast = json.loads(out)
    assert fast["status"] == "accepted" and fast["rows"] == 600 and fast["retrain"] is None
    assert fast["drift"] is not None and fast["drift"]["engine"] == "sketch"
    tracking = Tracking.from_settings(load_config(trained))
    runs = tracking.client.search_runs(
        [tracking.experiment_id], "tags.`challenger.batch` = 'day-fast'"
    )
    assert len(runs) == 1 and runs[0].data.metrics["rows"] == 600
    bad = simulate_batch(2, 300, seed=9).assign(favourite_colour="blue")
    path = write_table(bad, trained.parent / "day-fast-bad.parquet")
    code, out, _ = _invoke(
        "monitor", "--config", str(trained), "--batch", str(path), "--fast", "--json"
    )
    assert code == 2 and "favourite_colour" in json.loads(out)["error"]
    assert "Traceback" not in out


def test_broken_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "challenger.yaml"
    cfg.write_text("gate:\n  confidence: 2\n")
    code, out, _err = _invoke("status", "--config", str(cfg), "--json")
    assert code == 2
    assert "gate.confidence" in json.loads(out)["error"]


def test_unreachable_store_fails_fast_with_its_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # discard port: nothing listens
    cfg = tmp_path / "challenger.yaml"
    cfg.write_text("{}\n")
    code, out, _ = _invoke("status", "--config", str(cfg), "--json")
    assert code == 2
    assert "http://127.0.0.1:9" in json.loads(out)["error"]


def test_help_explains_every_command() -> None:
    code, out, _ = _invoke("--help")
    assert code == 0
    for command in ("demo", "monitor", "retrain", "status"):
        assert command in out
