"""Batches from different files, named by the user, through the real monitor flow.

A CSV batch (timestamps as text) followed by a Parquet batch (timestamps as datetimes) used to
break every later window (``'<' not supported between Timestamp and str``), and the window
was chosen by file name. A failing batch the user named used to be moved out of their folder,
and so was a label file. Now: every batch is accepted in the schema's dtypes, the window is
the newest batches by time, and a named file stays where it is while a copy is quarantined
(or archived, for labels).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.faults.kit import embedded_store, write_config

from challenger.config import load_config
from challenger.demo.simulator import corrupt, simulate_batch, split_labels
from challenger.errors import BatchQuarantined
from challenger.store.batches import accepted_batches
from challenger.train.window import fingerprints, training_window

ROWS = 300


@pytest.fixture()
def project(tmp_path: Path, store_template: Path, prefect_api: str) -> Path:
    cfg = write_config(tmp_path / "project", {"training": {"window_batches": 2}})
    embedded_store(tmp_path / "project", store_template)
    return cfg


def test_a_csv_then_a_parquet_batch_make_one_window_chosen_by_time(
    project: Path, tmp_path: Path
) -> None:
    from flows.monitor import monitor_flow

    home = tmp_path / "home"  # the user's own folder
    home.mkdir()
    monday, labels = split_labels(simulate_batch(1, ROWS, 5), "default", "application_id")
    tuesday = simulate_batch(2, ROWS, 5)
    # By name the CSV is the newer batch; by time it is the older one.
    monday.to_csv(home / "z-monday.csv", index=False)  # timestamps and ids as text
    tuesday.to_parquet(home / "a-tuesday.parquet", index=False)
    labels.to_csv(home / "labels-monday.csv", index=False)
    named = {p: p.read_bytes() for p in home.iterdir()}

    for name in ("z-monday.csv", "a-tuesday.parquet", "labels-monday.csv"):
        monitor_flow(batch=str(home / name), config=str(project), retrain=False)

    settings = load_config(project)
    accepted = settings.path(settings.data.accepted_dir)
    assert [p.stem for p in accepted_batches(accepted)] == ["z-monday", "a-tuesday"]
    window = training_window(settings, None, None)  # the retrain's first step
    assert window.batches == ("z-monday", "a-tuesday")
    assert len(window.frame) == 2 * ROWS  # the CSV's labels arrived and joined
    assert str(window.frame["ts"].dtype) == "datetime64[ns, UTC]"
    assert window.frame["ts"].is_monotonic_increasing
    assert window.holdout["ts"].min() >= window.train["ts"].max()
    assert window.holdout["ts"].min() >= pd.Timestamp(tuesday["ts"].min())  # newest rows held out
    # The fingerprints recorded with the version are those of exactly the training rows.
    assert np.array_equal(window.train_rows, fingerprints(window.train, settings.data))
    assert {p: p.read_bytes() for p in home.iterdir()} == named  # nothing taken from the user
    archived = accepted / "labels" / "labels-monday.csv"
    assert archived.read_bytes() == named[home / "labels-monday.csv"]


def test_a_failing_batch_the_user_named_stays_and_a_copy_is_quarantined(
    project: Path, tmp_path: Path
) -> None:
    from flows.monitor import monitor_flow

    mine = tmp_path / "home" / "day-4.csv"
    mine.parent.mkdir()
    corrupt(simulate_batch(4, ROWS, 5), "out_of_range", seed=4).to_csv(mine, index=False)
    original = mine.read_bytes()

    with pytest.raises(BatchQuarantined) as caught:
        monitor_flow(batch=str(mine), config=str(project), retrain=False)

    assert mine.read_bytes() == original, "the user's file was moved or changed"
    assert f"stays in {mine.parent}" in str(caught.value)
    folder = Path(caught.value.quarantine_path)
    assert (folder / mine.name).read_bytes() == original
    record = json.loads((folder / "validation.json").read_text(encoding="utf-8"))
    assert record["source"] == str(mine.resolve()) and record["original_kept"] is True
    settings = load_config(project)
    assert accepted_batches(settings.path(settings.data.accepted_dir)) == []

    # The scheduled scan takes failing files out of its own incoming folder, as before.
    incoming = settings.path(settings.data.incoming_dir)
    incoming.mkdir(parents=True)
    scanned = incoming / "day-5.csv"
    scanned.write_bytes(original)
    with pytest.raises(BatchQuarantined):
        monitor_flow(config=str(project), retrain=False)
    assert not scanned.exists()
