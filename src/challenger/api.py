"""The steps a script runs, as plain functions: monitor, retrain, promote, roll back, status.

Each runs the same Prefect flow the command line and the deployments run (imported only
when called, so ``import challenger`` stays light) and returns its typed result::

    import challenger

    result = challenger.retrain(config="challenger.yaml", reason="manual")
    if result.promoted:
        print(f"v{result.challenger_version} serves production: {result.decision.reason}")
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from challenger.results import (
        MonitorResult,
        PromotionResult,
        RetrainResult,
        RollbackResult,
        ScanResult,
    )


def _path(config: str | Path | None) -> str | None:
    return None if config is None else str(Path(config).resolve())


def monitor(
    batch: str | Path | None = None,
    *,
    config: str | Path | None = None,
    reason: str = "scheduled",
    retrain: bool = True,
    fast: bool = False,
) -> MonitorResult | ScanResult:
    """Validate a batch (or every new file in ``data.incoming_dir``), measure drift, retrain if
    a trigger fires. Raises ``BatchQuarantined`` when a file failed validation.

    ``fast`` (one named batch only) runs the same check without Prefect: no monitor flow run,
    the same MLflow monitor run, quarantine and result; a retrain it asks for still runs as
    the retrain flow.
    """
    if fast:
        if batch is None:
            raise ValueError("fast checks one named batch; give batch")
        return _monitor_fast(Path(batch).resolve(), _path(config), reason, retrain=retrain)
    from flows.common import without_heartbeats
    from flows.monitor import monitor_flow

    with without_heartbeats():
        return monitor_flow(
            batch=None if batch is None else str(Path(batch).resolve()),
            reason=reason,
            config=_path(config),
            retrain=retrain,
        )


def _monitor_fast(batch: Path, config: str | None, reason: str, *, retrain: bool) -> MonitorResult:
    """The library's check of one file (``monitor.check.check_file``, what the flow's tasks
    run), without Prefect unless a trigger fires and a retrain runs."""
    import logging

    from challenger.config import load_config
    from challenger.monitor.check import check_file
    from challenger.results import MonitorResult
    from challenger.store.registry import Registry
    from challenger.store.tracking import Tracking

    settings = load_config(config)
    stores = (Registry.from_settings(settings), Tracking.from_settings(settings))
    log = logging.getLogger("challenger.monitor")
    checked = check_file(batch, settings, stores, reason, owned=False, log=log)
    decision = checked.file.decision
    if not (retrain and decision.retrain):
        return MonitorResult(checked.file)
    from flows.common import without_heartbeats
    from flows.retrain import retrain_flow

    with without_heartbeats():
        run = retrain_flow(
            reason=decision.trigger, config=config, trigger_evidence=decision.to_dict()
        )
    return MonitorResult(checked.file, run)


def retrain(
    *,
    config: str | Path | None = None,
    reason: str = "manual",
    data: str | Path | None = None,
    candidates: list[str] | None = None,
) -> RetrainResult:
    """Train the candidates, register the best as ``challenger`` and run the gate."""
    from flows.common import without_heartbeats
    from flows.retrain import retrain_flow

    with without_heartbeats():
        return retrain_flow(
            reason=reason,
            data=None if data is None else str(Path(data).resolve()),
            candidates=candidates,
            config=_path(config),
        )


def promote(
    version: int,
    *,
    config: str | Path | None = None,
    force: bool = False,
    reason: str | None = None,
    data: str | Path | None = None,
) -> PromotionResult:
    """Judge a registered version against the champion; promote it if the gate passes (or force)."""
    from flows.promote import promote_flow

    return promote_flow(
        version=version,
        force=force,
        reason=reason,
        data=None if data is None else str(Path(data).resolve()),
        config=_path(config),
    )


def rollback(
    *, config: str | Path | None = None, to: int | None = None, reason: str = "manual rollback"
) -> RollbackResult:
    """Move ``champion`` back to ``previous-champion`` (or to ``to``)."""
    from flows.promote import rollback_flow

    return rollback_flow(to=to, reason=reason, config=_path(config))


def status(config: str | Path | None = None) -> dict[str, Any]:
    """The champion, every version with its aliases, stage and tags, the history, the batches.

    Read-only: it creates no store. Raises ``RegistryUnavailable`` when there is none yet.
    """
    from challenger.config import load_config
    from challenger.errors import RegistryUnavailable
    from challenger.monitor.lineage import assess_snapshot
    from challenger.monitor.quarantine import quarantined
    from challenger.store.batches import accepted_batches
    from challenger.store.connection import may_create, store_exists
    from challenger.store.registry import Registry
    from challenger.store.snapshot import read_snapshot

    settings = load_config(config)
    uri = settings.tracking_uri
    if may_create(settings) and not store_exists(uri):
        raise RegistryUnavailable(
            f"there is no MLflow store at {uri} yet: nothing has been trained here; "
            "`challenger demo`, `challenger monitor --batch PATH` or `challenger retrain "
            "--data PATH` creates it"
        )
    model = settings.project.model_name
    # A SQLite store is read without MLflow (1.4 s saved); anything else asks MLflow.
    snapshot = read_snapshot(uri, model) or Registry(uri, model).snapshot()  # creates nothing
    snapshot["accepted_batches"] = [
        p.stem for p in accepted_batches(settings.path(settings.data.accepted_dir))
    ]
    snapshot["quarantined"] = [
        q.to_dict() for q in quarantined(settings.path(settings.data.quarantine_dir))
    ]
    snapshot["effectiveness"] = assess_snapshot(
        snapshot, settings.training.primary_metric, settings.triggers.effectiveness
    ).to_dict()
    return snapshot
