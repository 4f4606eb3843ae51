"""Files and import paths from the configuration or a record cannot reach outside their place.

Through the real command line: ``release --to`` a folder outside the configured data folders
(or a quarantine record edited to point elsewhere) is refused and writes nothing; an estimator
path outside the allow-list is refused when the configuration loads, before its module is
imported (the module here writes a file when it is imported) and before any training.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.faults.kit import cli_env, run_cli, write_config


def _pythonpath() -> list[str]:
    return [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]


def _quarantined(project: Path, source: Path | None = None) -> Path:
    """A batch the scheduled monitor took from its incoming folder into quarantine.

    Written as the record is on disk (a user can edit it), not through the library.
    """
    folder = project / "data" / "quarantine" / "day-9-20260101T000000000000Z"
    folder.mkdir(parents=True)
    (folder / "day-9.csv").write_text("age\n500\n", encoding="utf-8")
    failure = {
        "column": "age",
        "expectation": "expect_column_values_to_be_between",
        "unexpected_count": 1,
        "message": "Column 'age' failed expect_column_values_to_be_between on 1 of 1 rows.",
    }
    record = {
        "success": False,
        "failures": [failure],
        "source": str(source or project / "data" / "incoming" / "day-9.csv"),
        "kind": "batch",
        "quarantined_at": "2026-01-01T00:00:00+00:00",
    }
    (folder / "validation.json").write_text(json.dumps(record), encoding="utf-8")
    return folder


def test_release_to_a_folder_outside_the_data_folders_is_refused(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "project")
    folder = _quarantined(tmp_path / "project")
    elsewhere = tmp_path / "elsewhere"

    code, out, err = run_cli(
        "release", folder.name, "--config", str(cfg), "--to", str(elsewhere), "--force"
    )

    assert code == 2, err[-2000:]
    assert "releases go only into the configured data folders" in out["error"]
    assert str(elsewhere) in out["error"]
    assert not elsewhere.exists(), "the release wrote outside the data folders"
    assert (folder / "day-9.csv").is_file()  # still waiting in quarantine


def test_an_edited_quarantine_record_cannot_send_a_file_elsewhere(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "project")
    inside = tmp_path / "project" / "data" / "incoming"
    edited = inside / ".." / ".." / ".." / "outside" / "x.csv"  # traversal through the name
    folder = _quarantined(tmp_path / "project", source=edited)

    code, out, err = run_cli("release", folder.name, "--config", str(cfg), "--force")

    assert code == 2, err[-2000:]
    assert "outside the configured data folders" in out["error"]
    assert not (tmp_path / "outside").exists()


def test_an_estimator_outside_the_allow_list_is_refused_unimported_at_load(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "imported"
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "rogue_models.py").write_text(
        f"open({str(marker)!r}, 'w').close()  # top-level code: runs on import\n"
        "from sklearn.linear_model import LogisticRegression as Model\n",
        encoding="utf-8",
    )
    candidate = {"name": "rogue", "estimator": "rogue_models.Model"}
    cfg = write_config(tmp_path / "project", {"training": {"candidates": [candidate]}})
    data = tmp_path / "train.csv"
    from challenger.demo.simulator import simulate_batch

    simulate_batch(1, 400, seed=2).to_csv(data, index=False)

    code, out, err = run_cli(
        "retrain",
        "--config",
        str(cfg),
        "--data",
        str(data),
        env=cli_env(PYTHONPATH=os.pathsep.join([str(tmp_path / "mods"), *_pythonpath()])),
    )

    assert code == 2, err[-2000:]
    assert out["kind"] == "ConfigError"
    assert "training.candidates[rogue].estimator 'rogue_models.Model'" in out["error"]
    assert "outside the allowed estimator modules (sklearn)" in out["error"]
    assert "training.allowed_modules" in out["error"]
    assert not marker.exists(), "the module outside the allow-list was imported"
    assert not (tmp_path / "project" / "mlflow").exists()  # refused before any work
