"""The monitor flow on bad input, label files, the incoming scan and quarantine release.

Real sqlite MLflow store in a temporary project, the session's Prefect harness. Every bad
file is quarantined with a message naming the column, the expectation and the count of
bad rows, and nothing is lost: the file and its evidence sit in the quarantine folder until
it is fixed and released.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from challenger.cli import app
from challenger.config import load_config
from challenger.demo.simulator import Period, corrupt, simulate_batch, split_labels
from challenger.errors import BatchQuarantined
from challenger.store.batches import write_table
from challenger.store.registry import Registry

pytestmark = pytest.mark.integration
ROWS = 600


@pytest.fixture(scope="module", autouse=True)
def own_store() -> Iterator[None]:
    """Use this module's store, and leave none behind: mlflow.set_tracking_uri exports
    MLFLOW_TRACKING_URI, which the configuration prefers over its own store."""
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    yield
    os.environ.pop("MLFLOW_TRACKING_URI", None)


@pytest.fixture(scope="module")
def champion(own_store: None, project: Path) -> Path:
    """The project with a first champion, trained from the first monitored batch."""
    from flows.monitor import monitor_flow

    first = write_table(simulate_batch(0, 2000, 7), project.parent / "seed" / "day-000.parquet")
    out = monitor_flow(batch=str(first), config=str(project)).to_dict()
    assert out["retrain"]["promoted"] is True
    return project


def incoming(project: Path) -> Path:
    return load_config(project).path(Path("data/incoming"))


def _all_null(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(income=np.nan)


def _empty(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.iloc[:0]


BAD: list[tuple[str, Callable[[pd.DataFrame], pd.DataFrame], str | None, str, int | None]] = [
    (
        "missing-column",
        lambda f: corrupt(f, "missing_column", seed=1),
        "credit_score",
        "expect_column_to_exist",
        0,
    ),
    (
        "new-category",
        lambda f: corrupt(f, "new_category", seed=1),
        "channel",
        "expect_column_values_to_be_in_set",
        None,  # counted below
    ),
    ("all-null", _all_null, "income", "expect_column_values_to_not_be_null", ROWS),
    (
        "wrong-type",
        lambda f: corrupt(f, "wrong_type", seed=1),
        "credit_score",
        "expect_column_values_to_be_in_type_list",
        ROWS,
    ),
    ("empty-file", _empty, None, "expect_table_row_count_to_be_between", 0),
]


@pytest.mark.parametrize(
    ("name", "damage", "column", "expectation", "count"), BAD, ids=[b[0] for b in BAD]
)
def test_bad_batches_are_quarantined_with_column_expectation_and_count(
    champion: Path,
    name: str,
    damage: Callable[[pd.DataFrame], pd.DataFrame],
    column: str | None,
    expectation: str,
    count: int | None,
) -> None:
    from flows.monitor import monitor_flow

    frame = damage(simulate_batch(10, ROWS, 7))
    if count is None:
        count = int((frame["channel"] == "crypto_exchange").sum())
    path = incoming(champion) / f"bad-{name}.csv"
    if name == "empty-file":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")  # a zero-byte file, as a failed export leaves it
    else:
        write_table(frame, path)
    original = path.read_bytes()
    registry = Registry.from_settings(load_config(champion))
    versions = [v.version for v in registry.versions()]

    with pytest.raises(BatchQuarantined) as caught:
        monitor_flow(batch=str(path), config=str(champion))

    message = str(caught.value)
    assert expectation in message and f"{count} " in message
    if column is not None:
        assert f"'{column}'" in message
    folder = Path(caught.value.quarantine_path)
    assert (folder / path.name).read_bytes() == original  # nothing lost: a copy in quarantine
    assert path.read_bytes() == original  # and the file the user named stays where it was
    record = json.loads((folder / "validation.json").read_text())
    assert record["source"] == str(path.resolve()) and record["kind"] == "batch"
    assert any(
        (f["column"], f["expectation"], f["unexpected_count"]) == (column, expectation, count)
        for f in record["failures"]
    )
    assert [v.version for v in registry.versions()] == versions  # no model trained on it


def test_labels_that_do_not_join_are_quarantined(champion: Path) -> None:
    from flows.monitor import monitor_flow

    labels = pd.DataFrame(
        {"application_id": [9_000_001, 9_000_002, 9_000_003], "default": [0, 1, 0]}
    )
    path = write_table(labels, incoming(champion) / "labels-unknown.csv")

    with pytest.raises(BatchQuarantined) as caught:
        monitor_flow(batch=str(path), config=str(champion))

    assert "'application_id'" in str(caught.value)
    assert "expect_labels_to_join_accepted_rows on 3 of 3 rows" in str(caught.value)
    record = json.loads((Path(caught.value.quarantine_path) / "validation.json").read_text())
    assert record["kind"] == "labels"


def test_status_lists_every_quarantined_file(champion: Path) -> None:
    result = CliRunner().invoke(app, ["status", "--config", str(champion), "--json"])
    assert result.exit_code == 0, result.stderr
    listed = {q["batch"]: q for q in json.loads(result.stdout)["quarantined"]}
    assert {f"bad-{b[0]}.csv" for b in BAD} | {"labels-unknown.csv"} <= set(listed)
    assert "'credit_score'" in listed["bad-missing-column.csv"]["summary"]
    assert listed["labels-unknown.csv"]["kind"] == "labels"


def test_a_fixed_batch_is_released_and_then_accepted(champion: Path) -> None:
    from flows.monitor import monitor_flow

    runner = CliRunner()
    listed = json.loads(runner.invoke(app, ["status", "--config", str(champion), "--json"]).stdout)[
        "quarantined"
    ]
    entry = next(q for q in listed if q["batch"] == "bad-new-category.csv")

    refused = runner.invoke(app, ["release", entry["name"], "--config", str(champion), "--json"])
    assert refused.exit_code == 2  # not fixed yet: it stays in quarantine
    assert "still fails validation" in json.loads(refused.stdout)["error"]
    assert Path(entry["file"]).is_file()

    fixed = pd.read_csv(entry["file"])
    fixed["channel"] = fixed["channel"].replace("crypto_exchange", "web")
    fixed.to_csv(entry["file"], index=False)
    done = runner.invoke(app, ["release", entry["name"], "--config", str(champion), "--json"])
    assert done.exit_code == 0, done.stderr
    released = json.loads(done.stdout)
    assert released["released_to"] == entry["source"]
    assert Path(entry["source"]).is_file() and not Path(entry["path"]).exists()

    # the scheduled monitor (no batch given) picks it up from the incoming folder
    scan = monitor_flow(config=str(champion), retrain=False).to_dict()
    assert [b["batch"] for b in scan["batches"]] == ["bad-new-category"]
    assert scan["batches"][0]["status"] == "accepted"


def test_late_labels_are_joined_and_drift_requests_a_retrain_by_event(champion: Path) -> None:
    from flows.monitor import monitor_flow

    settings = load_config(champion)
    registry = Registry.from_settings(settings)
    versions = [v.version for v in registry.versions()]
    drifted, labels = split_labels(
        simulate_batch(11, 2000, 7, Period(1.0, 1.0)), "default", "application_id"
    )
    write_table(drifted, incoming(champion) / "day-011.parquet")

    seen = monitor_flow(config=str(champion), retrain_via="event").to_dict()

    [batch] = seen["batches"]
    assert batch["drift"]["dataset_drift"] is True and batch["drift"]["engine"] == "sketch"
    assert batch["drift"]["prediction"]["drifted"] is True
    assert batch["drift"]["target"] is None  # no labels yet
    assert seen["retrain_request"]["event"] == "challenger.drift.detected"
    assert seen["retrain"] is None
    assert [v.version for v in registry.versions()] == versions  # the deployment retrains

    label_file = write_table(labels, incoming(champion) / "labels-011.csv")
    joined: dict[str, Any] = monitor_flow(
        batch=str(label_file), config=str(champion), retrain=False
    ).to_dict()

    assert joined["kind"] == "labels" and joined["rows"] == 2000
    assert joined["labelled_batches"] == ["day-011"]
    kept = settings.path(settings.data.accepted_dir) / "labels" / "labels-011.csv"
    assert label_file.is_file() and kept.read_bytes() == label_file.read_bytes()  # a copy
    performance = joined["trigger"]["evidence"]["performance"]
    assert len(performance["windows"]) == settings.triggers.performance.windows
    assert joined["trigger"]["evidence"]["new_labelled_rows"] >= 2000
    accepted = pd.read_parquet(settings.path(settings.data.accepted_dir) / "day-011.parquet")
    assert accepted["default"].notna().all()
