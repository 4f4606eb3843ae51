"""A broken MLflow store fails the command in one sentence naming it, and nothing is created.

Through the real command line (``python -m challenger.cli ... --json`` as a subprocess): a
0-byte file, a mistyped path, a non-SQLite file, a corrupt and a read-only store each exit 2
with the store's URI in the error, leave the files as they were and create no new store; a
read-only store fails before any training; ``status`` of a project without a store says so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.faults.kit import embedded_store, read_only, run_cli, write_config


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _empty(path: Path, template: Path) -> None:
    path.write_bytes(b"")


def _not_sqlite(path: Path, template: Path) -> None:
    path.write_text("experiment,run\n1,2\n", encoding="utf-8")  # e.g. a CSV named by mistake


def _truncated(path: Path, template: Path) -> None:
    data = template.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # an interrupted copy


def _scrambled(path: Path, template: Path) -> None:
    data = bytearray(template.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the schema page, after a valid header
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "says", "where"),
    [
        (_empty, "is an empty (0-byte) file, not an MLflow store", "explicit"),
        (_empty, "is an empty (0-byte) file, not an MLflow store", "embedded"),
        (_not_sqlite, "is not a SQLite database", "explicit"),
        (_truncated, "is corrupt", "embedded"),
        (_scrambled, "is corrupt", "explicit"),
    ],
    ids=["zero-bytes", "zero-bytes-embedded", "not-sqlite", "truncated", "scrambled"],
)
def test_a_broken_store_fails_with_its_uri_and_is_left_alone(
    tmp_path: Path,
    store_template: Path,
    damage: Callable[[Path, Path], None],
    says: str,
    where: str,
) -> None:
    if where == "explicit":
        db = tmp_path / "stores" / "registry.db"
        cfg = write_config(tmp_path / "project", {"mlflow": {"tracking_uri": f"sqlite:///{db}"}})
    else:  # the embedded default is created on first use, but never over a broken file
        cfg = write_config(tmp_path / "project")
        db = tmp_path / "project" / "mlflow" / "mlflow.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    damage(db, store_template)
    before = _files(tmp_path)

    code, out, err = run_cli("status", "--config", str(cfg))

    assert code == 2, err[-2000:]
    assert out["kind"] == "RegistryUnavailable"
    assert f"sqlite:///{db}" in out["error"] and says in out["error"]
    assert says in " ".join(err.split())  # the same sentence on stderr
    assert _files(tmp_path) == before, "a broken store was changed or a new one created"


def test_a_mistyped_store_path_is_an_error_not_a_new_registry(tmp_path: Path) -> None:
    typo = tmp_path / "stoers" / "mlflow.db"
    cfg = write_config(tmp_path / "project", {"mlflow": {"tracking_uri": f"sqlite:///{typo}"}})

    code, out, err = run_cli("status", "--config", str(cfg))

    assert code == 2, err[-2000:]
    assert f"sqlite:///{typo}" in out["error"] and "does not exist" in out["error"]
    assert "correct mlflow.tracking_uri or MLFLOW_TRACKING_URI" in out["error"]
    assert not typo.parent.exists(), "the mistyped path was created"
    assert not (tmp_path / "project" / "mlflow").exists()


def test_status_without_a_store_says_so_and_creates_none(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "project")

    code, out, err = run_cli("status", "--config", str(cfg))

    assert code == 2, err[-2000:]
    assert "there is no MLflow store at sqlite:///" in out["error"] and "yet" in out["error"]
    assert sorted(p.name for p in (tmp_path / "project").iterdir()) == ["challenger.yaml"]


def test_a_read_only_store_fails_before_any_training(tmp_path: Path, store_template: Path) -> None:
    from challenger.demo.simulator import simulate_batch

    project = tmp_path / "project"
    cfg = write_config(project)
    db = embedded_store(project, store_template)
    data = tmp_path / "day-001.csv"
    simulate_batch(1, 400, seed=3).to_csv(data, index=False)
    before = _files(tmp_path)

    with read_only(db):
        code, out, err = run_cli("retrain", "--config", str(cfg), "--data", str(data))

    assert code == 2, err[-2000:]
    assert f"sqlite:///{db}" in out["error"] and "is not writable" in out["error"]
    assert "Training" not in err and "CV " not in err, "work started on a read-only store"
    assert _files(tmp_path) == before
