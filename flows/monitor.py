"""The monitor flow: validate a batch, measure drift, score the champion, decide whether to retrain.

Orchestration only: every computation is a call into ``challenger``. Given a ``batch`` it
checks that file; without one (the scheduled deployment) it checks every new file in
``data.incoming_dir``. A file holding only ids and labels is a label file: its labels are
joined to the accepted rows they belong to. A file the caller named is never moved: a copy of
a failing one goes to quarantine and a copy of an applied label file is archived; the scan
takes its own files out of the incoming folder (and skips named ones it has already seen).

When a trigger fires, the retrain either runs here as a subflow (``retrain_via="subflow"``,
the command line and the demo) or is requested with a Prefect event
(``retrain_via="event"``, the deployment): ``challenger.drift.detected`` for a data change,
``challenger.performance.degraded`` for a performance drop, ``challenger.retrain.requested``
otherwise. ``prefect.yaml``'s ``retrain/on-trigger`` deployment starts on those events with
the decision and its evidence as parameters.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from challenger.config import Settings, load_config
from challenger.errors import BatchQuarantined, ConfigError
from challenger.monitor import assess, report
from challenger.monitor.check import Steps, check_file, incoming_files
from challenger.monitor.concept import watch_concept
from challenger.monitor.intake import check_batch
from challenger.monitor.report import quarantine_artifact
from challenger.monitor.triggers import TriggerDecision, retrain_event
from challenger.online import batch_shadow
from challenger.ops.service import mlflow_ui_base
from challenger.results import FileCheck, MonitorResult, RetrainRequest, RetrainResult, ScanResult
from flows.common import (
    claim_flow_run,
    crash_dead_flow_runs,
    freeze_heap,
    publish_artifacts,
    stores,
)
from flows.retrain import retrain_flow

STEPS = Steps(
    validate=task(name="validate", cache_policy=NO_CACHE)(check_batch),
    drift=task(name="measure-drift", cache_policy=NO_CACHE)(assess.batch_drift),
    concept=task(name="watch-concept", cache_policy=NO_CACHE)(watch_concept),
    batch_shadow=task(name="batch-shadow", cache_policy=NO_CACHE)(batch_shadow.shadow_accepted),
)


@flow(name="monitor", log_prints=False)
def monitor_flow(
    batch: str | None = None,
    reason: str = "scheduled",
    config: str | None = None,
    retrain: bool = True,
    retrain_via: str = "subflow",
) -> MonitorResult | ScanResult:
    """Check a batch (or every new file in the incoming folder) and retrain if a trigger fires.

    Args:
        batch: Path of a CSV/Parquet batch or label file; None checks every new file in
            ``data.incoming_dir`` (what the scheduled deployment does).
        reason: Why the monitor runs: ``scheduled``, or ``manual`` to force a retrain.
        config: Path to challenger.yaml.
        retrain: Start a retrain when a trigger fires (False: only report).
        retrain_via: ``subflow`` runs the retrain inside this run; ``event`` emits the
            trigger's event for the ``retrain/on-trigger`` deployment instead.

    Raises:
        BatchQuarantined: A file failed validation; a copy went to quarantine with its
            report and the named file stayed where it is (a scanned file leaves the
            incoming folder); when scanning, after the other files were checked.
    """
    freeze_heap()
    settings = load_config(config)
    if retrain_via not in ("subflow", "event"):
        raise ConfigError(f"retrain_via is {retrain_via!r}; use subflow or event")
    claim_flow_run()
    crashed = crash_dead_flow_runs()
    if crashed:
        get_run_logger().warning("Closed runs of killed processes: %s", "; ".join(crashed))
    if batch is not None:
        checked = _check(Path(batch), settings, reason, owned=False)
        if not retrain:
            return MonitorResult(checked)
        run, request = _dispatch(checked.decision, settings, config, retrain_via, [checked.batch])
        return MonitorResult(checked, run, request)

    paths = incoming_files(settings)
    get_run_logger().info("%d new file(s) in %s", len(paths), settings.data.incoming_dir)
    results: list[FileCheck] = []
    failed: list[BatchQuarantined] = []
    for path in paths:
        try:
            results.append(_check(path, settings, reason, owned=True))
        except BatchQuarantined as exc:
            failed.append(exc)
    firing = [(r.batch, r.decision) for r in results if r.decision.retrain]
    run, request = None, None
    if retrain and firing:  # one retrain for the whole scan: it trains on the newest batches
        merged = assess.merge_decisions(firing)
        run, request = _dispatch(merged, settings, config, retrain_via, [b for b, _ in firing])
    if failed:
        raise BatchQuarantined(
            f"{len(failed)} of {len(paths)} file(s) failed validation and were quarantined "
            f"(the other {len(results)} were checked): {'; '.join(str(e) for e in failed)}",
            failed[0].quarantine_path,
        )
    return ScanResult(tuple(results), run, request)


def _check(path: Path, settings: Settings, reason: str, *, owned: bool) -> FileCheck:
    """Check one file (challenger.monitor.check) and publish what it found as artifacts."""
    registry, tracking = stores(settings)
    log = get_run_logger()
    try:
        checked = check_file(
            path, settings, (registry, tracking), reason, owned=owned, log=log, steps=STEPS
        )
    except BatchQuarantined as exc:
        publish_artifacts([quarantine_artifact(path.name, exc.report)])
        raise
    log.info(
        "Trigger: %s (%s)", checked.file.decision.trigger, "; ".join(checked.file.decision.reasons)
    )
    publish_artifacts(
        report.monitor_artifacts(checked, mlflow_ui_base(settings), tracking.experiment_id)
    )
    return checked.file


def _dispatch(
    decision: TriggerDecision,
    settings: Settings,
    config: str | None,
    retrain_via: str,
    batches: list[str],
) -> tuple[RetrainResult | None, RetrainRequest | None]:
    """Start the retrain the decision asks for: as a subflow, or by emitting its event."""
    if not decision.retrain:
        return None, None
    if retrain_via == "subflow":
        run = retrain_flow(
            reason=decision.trigger, config=config, trigger_evidence=decision.to_dict()
        )
        return run, None
    ask = retrain_event(decision, settings.project.model_name, batches, config)
    event = emit_event(event=ask.event, resource=ask.resource, payload=ask.payload)
    get_run_logger().info("Emitted %s: %s", ask.event, "; ".join(decision.reasons))
    return None, RetrainRequest(ask.event, None if event is None else str(event.id))
