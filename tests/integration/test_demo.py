"""The main job, `challenger demo`, end to end on a small configuration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from challenger.cli import app
from challenger.config import load_config
from challenger.demo.reset import clean_slate
from challenger.store.registry import Registry
from challenger.store.snapshot import read_snapshot

pytestmark = pytest.mark.integration


def test_demo_tells_the_whole_story(project: Path) -> None:
    cfg = project
    runner = CliRunner()
    result = runner.invoke(app, ["demo", "--config", str(cfg), "--json"])
    assert result.exit_code == 0, result.stderr[-3000:]
    rows = json.loads(result.stdout)
    events = [(r["day"], r["event"], r["decision"]) for r in rows]
    assert events[0] == (0, "monitor → bootstrap", "PROMOTE")
    assert events[1][1] == events[2][1] == "monitor → no retrain"
    assert events[3][0] == 3 and events[3][2] == "PROMOTE"
    assert events[4][1] == "quarantined"
    assert events[-2][1] == "manual retrain" and events[-2][2] == "REJECT"
    # the rejected cheaper model shadows one more batch; the review judges it on its labels
    shadow = rows[-1]
    assert shadow["event"] == "batch shadow", shadow
    assert (shadow["challenger"], shadow["champion"]) == (
        rows[-2]["challenger"],
        rows[-2]["champion"],
    )
    assert shadow["decision"] == "rollback" and "labelled live requests" in shadow["reason"]

    status = runner.invoke(app, ["status", "--config", str(cfg), "--json"])
    snap = json.loads(status.stdout)
    champion = next(v for v in snap["versions"] if v["version"] == snap["champion"])
    assert (
        champion["stage"] == "Production"
        and champion["tags"]["challenger.gate_decision"] == "PROMOTE"
    )
    assert any(v["tags"].get("challenger.gate_decision") == "REJECT" for v in snap["versions"])
    assert len(snap["quarantined"]) == 1
    assert [h["kind"] for h in snap["history"]] == ["promote", "promote"]
    _status_reads_what_mlflow_reads(cfg)

    # A second demo starts from a clean slate (what `demo` does first, without its six days):
    # the demo's model and data are gone, so its day 0 bootstraps a first champion again.
    settings = load_config(cfg)
    clean_slate(settings, Registry.from_settings(settings))
    after = json.loads(runner.invoke(app, ["status", "--config", str(cfg), "--json"]).stdout)
    assert after["champion"] is None and after["versions"] == [] and after["quarantined"] == []
    assert not settings.path(settings.data.accepted_dir).exists()
    _status_reads_what_mlflow_reads(cfg, versions=False)  # deleted versions stay hidden


def _status_reads_what_mlflow_reads(cfg: Path, *, versions: bool = True) -> None:
    """`status` reads the SQLite registry without MLflow: the same snapshot as MLflow's."""
    settings = load_config(cfg)
    uri, model = settings.tracking_uri, settings.project.model_name
    direct = read_snapshot(uri, model)
    assert direct is not None and bool(direct["versions"]) is versions
    assert direct == Registry(uri, model).snapshot()
