"""Issue 11 through the real monitor flow: alarms that mean something, a moved threshold, the profile.

A stream of 1,000-row CSV batches with six numeric and three integer-coded categorical
columns (``challenger.demo.streams``), monitored against a champion the flow trained on the
first batch; real sqlite MLflow store, the session's Prefect harness.

* Item 4: quiet batches must not retrain. Before issue 11 every column's test counted on
  its own (and Evidently's chi-square took the reference's shares as exact): this stream
  retrained on quiet batches.
* Item 3: a labelling threshold that moves while the inputs stay put keeps ROC AUC at ~1;
  only the champion's errors show it. It must fire when the labels arrive.
* Item 5: with ``validation.ranges`` empty, values x1000 passed, and so did a batch with
  every row twice or one replaying the champion's training rows.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from challenger.config import load_config
from challenger.demo.simulator import split_labels
from challenger.demo.streams import CATEGORICAL, ID, NUMERIC, TARGET, TIMESTAMP, Stream
from challenger.errors import BatchQuarantined
from challenger.store.batches import write_table

pytestmark = pytest.mark.integration
STREAM = Stream("threshold", change_at=4, seed=17)  # its 3 quiet batches all retrained before
QUIET = range(1, STREAM.change_at)


@pytest.fixture(scope="module", autouse=True)
def own_store() -> Iterator[None]:
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    yield
    os.environ.pop("MLFLOW_TRACKING_URI", None)


@pytest.fixture(scope="module")
def project(own_store: None, make_project: Callable[..., Path]) -> Path:
    """A project for the stream, whose first champion the monitor trained on batch 0."""
    from flows.monitor import monitor_flow

    config = make_project(
        "alarms",
        {
            "data": {
                "target": TARGET, "timestamp": TIMESTAMP, "id_column": ID,
                "numeric": list(NUMERIC), "categorical": list(CATEGORICAL),
            },
            "validation": {"ranges": {}},  # learned from the champion's data
            "gate": {"slices": []},
        },
    )  # fmt: skip
    first = write_table(STREAM.batch(0), config.parent / "seed" / "b000.csv")
    out = monitor_flow(batch=str(first), config=str(config)).to_dict()
    assert out["retrain"]["promoted"] is True
    return config


def monitor(project: Path, frame: pd.DataFrame, name: str) -> dict[str, Any]:
    from flows.monitor import monitor_flow

    path = write_table(frame, project.parent / "incoming" / name)
    return monitor_flow(batch=str(path), config=str(project), retrain=False).to_dict()


@pytest.fixture(scope="module")
def quiet(project: Path) -> list[dict[str, Any]]:
    """The stationary batches, as CSV files with their labels, through the monitor."""
    return [monitor(project, STREAM.batch(i), f"b{i:03d}.csv") for i in QUIET]


def test_quiet_batches_of_coded_categories_retrain_nothing(
    quiet: list[dict[str, Any]], project: Path
) -> None:
    retrained = [r["batch"] for r in quiet if r["trigger"]["retrain"]]
    assert retrained == [], [r["trigger"]["reasons"] for r in quiet]
    for r in quiet:
        drift = r["drift"]
        assert drift["engine"] == "sketch" and drift["control"]["method"] == "holm"
        assert "at most 5%" in drift["control"]["statement"]
        assert r["trigger"]["evidence"]["drift_control"]["error"] == "family-wise error rate"
        coded = [c for c in drift["columns"] if c["column"] in CATEGORICAL]
        assert all(c["p_test"] == "chi-square homogeneity" for c in coded)
    # the unadjusted tests are still reported beside the alarms
    assert any(r["drift"]["unadjusted_columns"] for r in quiet)
    # the change detector read every quiet batch's labels, once each
    from challenger.monitor.concept import state_path

    concept = quiet[-1]["trigger"]["evidence"]["concept"]
    assert concept["rows_seen"] == 1000 * len(QUIET) and concept["alarm"] is False
    settings = load_config(project)
    saved = json.loads(state_path(settings.path(settings.data.accepted_dir), 1).read_text())
    assert sorted(saved["fed"]) == [f"b{i:03d}" for i in QUIET]


def test_the_monitor_run_records_the_alarm_rate(quiet: list[dict[str, Any]], project: Path) -> None:
    import mlflow

    settings = load_config(project)
    client = mlflow.MlflowClient(settings.tracking_uri)
    experiment = client.get_experiment_by_name(settings.project.experiment)
    [run] = client.search_runs(
        [experiment.experiment_id], "tags.`challenger.batch` = 'b001'", max_results=1
    )
    assert run.data.metrics["drift_alarm_rate"] == 0.05
    local = client.download_artifacts(run.info.run_id, "trigger.json")
    trigger = json.loads(Path(local).read_text())
    assert trigger["evidence"]["drift_control"]["method"] == "holm"
    assert "concept" in trigger["evidence"]


def test_a_moved_threshold_fires_when_its_labels_arrive(
    quiet: list[dict[str, Any]], project: Path
) -> None:
    batch, labels = split_labels(STREAM.batch(STREAM.change_at), TARGET, ID)
    unlabelled = monitor(project, batch, "b004.csv")
    assert unlabelled["trigger"]["retrain"] is False  # the inputs did not move

    labelled = monitor(project, labels, "labels-004.csv")

    trigger = labelled["trigger"]
    assert trigger["retrain"] is True, trigger["reasons"]
    assert trigger["trigger"] in ("performance", "concept")
    evidence = trigger["evidence"]
    assert evidence["performance"]["metric"] == "roc_auc"
    assert evidence["performance"]["breached"] < 2  # ROC AUC does not see it ...
    assert evidence["performance_watched"]["brier"]["breached"] >= 2  # ... the Brier score does
    assert evidence["concept"]["alarm"] is True  # and so does the change detector
    assert any("the champion's errors rose" in r for r in trigger["reasons"])


@pytest.mark.parametrize(
    ("name", "damage", "expectation", "fragment"),
    [
        (
            "scaled",
            lambda f: f.assign(x2=f["x2"] * 1000),
            "expect_column_values_to_be_between",
            "learned from the champion's training data",
        ),
        (
            "doubled",
            lambda f: pd.concat([f.iloc[:500], f.iloc[:500]], ignore_index=True).assign(
                **{ID: range(9_000_000, 9_001_000)}
            ),
            "expect_compound_columns_to_be_unique",
            "Send each row once",
        ),
        (
            "replayed",
            lambda f: STREAM.batch(0).assign(**{ID: lambda g: g[ID] + 8_000_000}),
            "expect_rows_to_be_new",
            "the champion's training data",
        ),
    ],
)
def test_the_profile_catches_what_configured_checks_did_not(
    project: Path,
    name: str,
    damage: Callable[[pd.DataFrame], pd.DataFrame],
    expectation: str,
    fragment: str,
) -> None:
    with pytest.raises(BatchQuarantined) as caught:
        monitor(project, damage(STREAM.batch(20)), f"bad-{name}.csv")
    message = str(caught.value)
    assert expectation in message and fragment in message
    record = json.loads((Path(caught.value.quarantine_path) / "validation.json").read_text())
    assert any(f["expectation"] == expectation for f in record["failures"])
