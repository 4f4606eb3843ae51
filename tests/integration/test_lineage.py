"""Retraining effectiveness on a real MLflow registry: `challenger status` reads the lineage."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.helpers import log_served_model, register_logged
from typer.testing import CliRunner

from challenger.config import load_config
from challenger.demo.simulator import simulate_batch
from challenger.monitor.lineage import ALARM
from challenger.store.record import VersionRecord
from challenger.store.registry import HISTORY, Registry

pytestmark = pytest.mark.integration


def lineage_store(config: Path, levels: list[float], days: list[int], older: bool) -> None:
    """Versions retrained on the performance trigger, each promoted with its holdout level.

    ``older``: recorded as challenger used to (every field a tag, JSON history entries);
    else through the registry (record artifact, summary tags, readable history lines).
    """
    settings = load_config(config)
    registry = Registry.from_settings(settings)
    logged = log_served_model(settings, simulate_batch(0, 300, 3))
    for n, (level, day) in enumerate(zip(levels, days, strict=True), start=1):
        version = register_logged(registry, logged)
        if not older:
            registry.update_record(
                version,
                VersionRecord(
                    trigger="performance" if n > 1 else "bootstrap",
                    holdout={"roc_auc": level},
                    compared_with=f"v{version - 1}" if n > 1 else "none",
                    train_max_ts=f"2026-01-{day:02d}T00:00:00",
                ),
            )
            registry.promote(version, version - 1 or None, reason=f"level {level}")
            continue
        tags = {
            "challenger.trigger": "performance" if n > 1 else "bootstrap",
            "challenger.holdout_roc_auc": str(level),
            "challenger.train_max_ts": f"2026-01-{day:02d}T00:00:00",
        }
        for key, value in tags.items():
            registry.client.set_model_version_tag(registry.model_name, str(version), key, value)
        entry = {"n": n, "at": f"2026-01-{day:02d}T06:00:00+00:00", "kind": "promote",
                 "from": version - 1 or None, "to": version, "status": "done"}  # fmt: skip
        registry.client.set_registered_model_tag(
            registry.model_name, f"{HISTORY}{n:05d}", json.dumps(entry)
        )


@pytest.mark.parametrize("older", [True, False], ids=["older-records", "records"])
@pytest.mark.parametrize(
    ("levels", "days", "alarm"),
    [
        ([0.86, 0.85, 0.83, 0.81, 0.79, 0.78], [1, 8, 13, 17, 20, 22], True),  # less, sooner
        ([0.85, 0.86, 0.85, 0.86, 0.85, 0.86], [1, 8, 15, 22, 29, 31], False),  # holds
    ],
    ids=["degrading", "healthy"],
)
def test_status_says_when_retraining_stops_paying_off(
    make_project: Callable[..., Path],
    levels: list[float],
    days: list[int],
    alarm: bool,
    older: bool,
) -> None:
    from challenger.cli import app

    config = make_project(f"lineage-{'older' if older else 'now'}")
    lineage_store(config, levels, days, older)
    out = CliRunner().invoke(app, ["status", "--config", str(config), "--json"])
    assert out.exit_code == 0, out.output
    effect = json.loads(out.output)["effectiveness"]
    assert effect["alarm"] is alarm, effect["message"]
    assert effect["levels"] == levels[-5:]
    text = CliRunner().invoke(app, ["status", "--config", str(config)])
    assert (ALARM in text.output) is alarm
