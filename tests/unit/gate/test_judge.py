"""The judgement's hard check that no holdout row was seen in training by either model."""

from __future__ import annotations

import numpy as np

from challenger.config import DataConfig
from challenger.demo.simulator import simulate_batch
from challenger.gate.judge import Provenance, unseen_check
from challenger.store.registry import VersionInfo
from challenger.train.window import HoldoutDraw, fingerprints

DATA = DataConfig()
ROWS = simulate_batch(0, 400, seed=5)
TRAIN, HOLDOUT = ROWS.iloc[:300], ROWS.iloc[300:]
DRAW = HoldoutDraw("the newest 100 rows by ts", 100, 0)


def _version(n: int) -> VersionInfo:
    return VersionInfo("m", n, f"run-{n}", (), "None", {}, "", 0)


def _provenance(rows: dict[int, np.ndarray | None]) -> Provenance:
    return Provenance(DRAW, lambda v: rows[v.version])


def test_a_holdout_neither_model_trained_on_passes_with_its_counts() -> None:
    rows = {2: fingerprints(TRAIN, DATA), 1: fingerprints(TRAIN.iloc[:100], DATA)}
    check, counts = unseen_check(HOLDOUT, DATA, _version(2), _version(1), _provenance(rows))
    assert check.passed and check.hard and check.name == "holdout_unseen"
    assert counts["seen_by_challenger"] == 0 and counts["seen_by_champion"] == 0
    assert counts["challenger_training_rows"] == 300 and counts["champion_training_rows"] == 100
    assert counts["rows"] == 100 and counts["how"] == DRAW.how
    assert "none of the 100 holdout rows" in check.reason


def test_holdout_rows_the_champion_trained_on_fail_the_check() -> None:
    """Issue 11 item 1: 267 of 375 holdout rows were the champion's training rows; no check saw it."""
    leaky = ROWS.iloc[250:]  # 50 of these 150 rows are the champion's training rows
    rows = {2: fingerprints(ROWS.iloc[:10], DATA), 1: fingerprints(TRAIN, DATA)}
    check, counts = unseen_check(leaky, DATA, _version(2), _version(1), _provenance(rows))
    assert not check.passed and check.hard
    assert counts["seen_by_champion"] == 50 and counts["seen_by_challenger"] == 0
    assert check.reason.startswith("50 of the 150 holdout rows were seen in training")


def test_the_challengers_own_training_rows_fail_it_too() -> None:
    rows = {2: fingerprints(ROWS, DATA)}
    check, counts = unseen_check(HOLDOUT, DATA, _version(2), None, _provenance(rows))
    assert not check.passed and counts["seen_by_challenger"] == 100
    assert "seen_by_champion" not in counts  # the first champion has no one to compare with


def test_a_version_without_recorded_training_rows_cannot_be_shown_unseen() -> None:
    rows = {2: fingerprints(TRAIN, DATA), 1: None}
    check, counts = unseen_check(HOLDOUT, DATA, _version(2), _version(1), _provenance(rows))
    assert not check.passed and counts["seen_by_champion"] is None
    assert check.reason.startswith("v1 keeps no record of its training rows")
