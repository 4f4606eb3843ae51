"""The monitor decides a batch's drift from the champion's stored sketch, as the rows would.

Real sqlite MLflow store in a temporary project, the session's Prefect harness. The library's
drift entry points are wrapped by spies that call through (nothing of MLflow or Prefect is
replaced): after a retrain, the monitor's drift decision goes through the sketch and never
through the reference-rows decision, and reaches the verdicts the rows give.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from challenger.config import load_config
from challenger.demo.simulator import Period, simulate_batch
from challenger.monitor import assess
from challenger.monitor.drift import DriftResult
from challenger.monitor.intake import read_incoming
from challenger.store.batches import write_table
from challenger.store.registry import Registry
from challenger.store.tracking import Tracking

pytestmark = pytest.mark.integration


class Spy:
    """Calls through to ``func`` and records each call's result."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        self.results: list[Any] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result = self.func(*args, **kwargs)
        self.results.append(result)
        return result


@pytest.fixture(scope="module", autouse=True)
def own_store() -> Iterator[None]:
    """This module's store, none left behind (see tests/integration/test_monitor.py)."""
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    yield
    os.environ.pop("MLFLOW_TRACKING_URI", None)


@pytest.fixture(scope="module")
def project(make_project: Callable[..., Path]) -> Path:
    """The small configuration with Evidently's report on: this module checks it is drawn."""
    return make_project("sketch", {"drift": {"report": True}})


@pytest.fixture(scope="module")
def champion(own_store: None, project: Path) -> Path:
    """The project with a first champion, registered (with its sketch) by a retrain."""
    from flows.monitor import monitor_flow

    first = write_table(simulate_batch(0, 2000, 7), project.parent / "seed" / "day-000.parquet")
    out = monitor_flow(batch=str(first), config=str(project)).to_dict()
    assert out["retrain"]["promoted"] is True
    return project


@pytest.fixture
def spies(monkeypatch: pytest.MonkeyPatch) -> dict[str, Spy]:
    """Spies on the two drift decisions the monitor's drift step can take."""
    out = {
        "rows": Spy(assess.measure_drift),
        "sketch": Spy(assess.measure_drift_from_sketch),
    }
    monkeypatch.setattr(assess, "measure_drift", out["rows"])
    monkeypatch.setattr(assess, "measure_drift_from_sketch", out["sketch"])
    return out


def _batch(project: Path, day: int, period: Period) -> Path:
    s = load_config(project)
    frame = simulate_batch(day, s.simulator.rows_per_batch, s.project.seed + day, period)
    return write_table(frame, project.parent / "named" / f"day-{day:03d}.parquet")


def _from_rows(project: Path, path: Path) -> DriftResult | None:
    """The batch's drift measured against the champion's reference rows (the exact path)."""
    settings = load_config(project)
    registry, tracking = Registry.from_settings(settings), Tracking.from_settings(settings)
    champion = registry.champion()
    assert champion is not None
    model = registry.load_model(champion.version)
    reference = tracking.load_reference(champion.run_id)
    assert reference is not None
    d = settings.data
    frame = read_incoming(path, settings).frame
    return assess.batch_drift(
        assess.with_prediction(reference, model, d.features, d.task),
        assess.with_prediction(frame, model, d.features, d.task),
        settings,
        None,
    )


def _verdicts(drift: dict[str, Any]) -> dict[str, tuple[str, bool, bool]]:
    return {c["column"]: (c["method"], c["drifted"], c["alarm"]) for c in drift["columns"]}


def test_a_batch_after_a_retrain_is_decided_from_the_sketch(
    champion: Path, spies: dict[str, Spy]
) -> None:
    from flows.monitor import monitor_flow

    path = _batch(champion, 1, Period(covariate_drift=1.0))
    out = monitor_flow(batch=str(path), config=str(champion), retrain=False).to_dict()

    assert spies["rows"].results == []  # the reference-rows decision was never taken
    assert len(spies["sketch"].results) == 1
    drift = out["drift"]
    assert drift["engine"] == "sketch"
    # the Evidently report is still drawn, apart from the decision, on a bounded sample
    assert drift["report_rows"] is not None
    html = (
        load_config(champion).path(load_config(champion).data.reports_dir)
        / f"{path.stem}-drift.html"
    )
    assert html.exists()

    exact = _from_rows(champion, path)
    assert exact is not None and exact.engine == "fast"
    assert _verdicts(drift) == _verdicts(exact.to_dict())
    assert drift["drifted_columns"] == list(exact.drifted_columns())
    assert exact.drifted_columns()  # the planted covariate shift alarms
    assert drift["drift_share"] == exact.drift_share
    assert drift["dataset_drift"] == exact.dataset_drift
    # The sketch holds the columns drift is decided on, not the id or the timestamp.
    settings = load_config(champion)
    champ = Registry.from_settings(settings).champion()
    assert champ is not None
    payload = Tracking.from_settings(settings).load_sketch(champ.run_id)
    assert payload is not None
    d = settings.data
    assert set(payload["columns"]) == {*d.features, d.target}
    assert exact.prediction is not None and exact.target is not None
    assert drift["prediction"]["drifted"] == exact.prediction.drifted
    assert drift["target"]["score"] == pytest.approx(exact.target.score, rel=1e-9)
    assert drift["n_reference"] == exact.n_reference
    # the trigger read the same drift
    assert out["trigger"]["evidence"]["drifted_columns"] == list(exact.drifted_columns())


def test_a_champion_without_a_sketch_is_decided_from_the_rows(
    champion: Path, spies: dict[str, Spy], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.monitor import monitor_flow

    # a version registered before sketches has no reference/sketch.json
    monkeypatch.setattr(Tracking, "load_sketch", lambda self, run_id: None)
    path = _batch(champion, 2, Period())
    out = monitor_flow(batch=str(path), config=str(champion), retrain=False).to_dict()

    assert spies["sketch"].results == []
    assert len(spies["rows"].results) == 1
    assert out["drift"]["engine"] == "fast"
    assert out["drift"]["report_rows"] is not None


def test_without_the_report_the_decision_is_the_same_and_no_html_is_drawn(
    champion: Path, spies: dict[str, Spy]
) -> None:
    import yaml
    from flows.monitor import monitor_flow

    cfg = yaml.safe_load(champion.read_text(encoding="utf-8"))
    cfg.setdefault("drift", {})["report"] = False
    quiet = champion.with_name("no-report.yaml")
    quiet.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    path = _batch(champion, 3, Period(covariate_drift=1.0))
    out = monitor_flow(batch=str(path), config=str(quiet), retrain=False).to_dict()

    drift = out["drift"]
    assert drift["engine"] == "sketch" and drift["report_rows"] is None
    settings = load_config(quiet)
    assert not (settings.path(settings.data.reports_dir) / f"{path.stem}-drift.html").exists()
    exact = _from_rows(champion, path)
    assert exact is not None
    assert _verdicts(drift) == _verdicts(exact.to_dict()) and exact.drifted_columns()
