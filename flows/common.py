"""The Prefect pieces the flows share: the promotion lock, the judgement as a task, the artifacts,
and the repair of what killed runs left behind.

No business logic: the judgement is ``challenger.gate.judge``, the move of ``champion`` is
``challenger.gate.promotion``; this module only gives them Prefect's lock and a task run
in the UI. Each flow run is tagged with the process that runs it (:func:`claim_flow_run`),
so that a later run can tell a run in progress from one whose process was killed, which
Prefect would otherwise show RUNNING forever (:func:`crash_dead_flow_runs`).
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from prefect import task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.concurrency.sync import concurrency
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

from challenger.artifact import Artifact
from challenger.config import Settings
from challenger.gate import report
from challenger.gate.judge import judge
from challenger.gate.promotion import Lock, recover
from challenger.store.lock import promotion_lock as store_lock
from challenger.store.registry import Registry
from challenger.store.tracking import Tracking, process_alive, this_process
from flows import temporary_server

temporary_server.install()  # a kill -9 of the command must not orphan Prefect's temporary server

PROMOTION_LIMIT = "challenger-promotion"
LOCK_TIMEOUT_SECONDS = 600
RUN_TAG = "challenger"  # every flow run of challenger's flows (a filter for the repair)
PROCESS_TAG = "challenger.process:"  # + host:pid:start time of the process running it
OUTCOME_TAG = "gate:"  # + PROMOTE / REJECT / INCONCLUSIVE, the judged run's outcome

judge_task = task(name="evaluate", cache_policy=NO_CACHE)(judge)
"""The judgement as a Prefect task (one task run per judgement in the UI)."""


_heap_frozen = False


def freeze_heap() -> None:
    """Leave what this process has loaded so far out of later garbage collections (once).

    Every flow calls this first. By then the process holds the objects of its imports
    (Prefect, MLflow, Great Expectations, Evidently, scikit-learn): about 780,000 in a
    retrain. A full cycle collection walks all of them, and one took 0.48 s in the middle
    of a retrain. ``gc.freeze`` moves them to the permanent generation; the same
    collection then took 0.02 s. Reference counting still frees those objects; only the
    cycle collector skips them. So the cost is a cycle among them that becomes garbage
    later, which is not collected. The serving app does the same at start and at a swap
    (``challenger.online.serve.runtime.freeze_heap``), after a full collection: a server
    lives long enough to pay for one, a command's single flow run would not gain from it.
    """
    global _heap_frozen
    if not _heap_frozen:
        gc.freeze()
        _heap_frozen = True


@contextlib.contextmanager
def without_heartbeats() -> Iterator[None]:
    """Flow runs started inside emit no Prefect heartbeats (unless the user set
    ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``).

    Prefect 3.9 sends heartbeats from a thread that sleeps in one-second steps and joins
    it at the end of every flow run: 0 to 1 s (0.6 s measured on average) added to every
    command. Heartbeats feed Prefect's zombie-run automation; a run started in a command's
    process dies with it, and the next flow run marks it Crashed (:func:`repair_at_start`,
    :func:`crash_dead_flow_runs`), so there they only cost time. The commands and
    ``challenger.api`` run their flows inside this; deployment runs (``challenger up``)
    keep Prefect's heartbeats.
    """
    if "PREFECT_FLOWS_HEARTBEAT_FREQUENCY" in os.environ:
        yield
        return
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def stores(settings: Settings) -> tuple[Registry, Tracking]:
    """The registered model and the experiment the configuration names."""
    return Registry.from_settings(settings), Tracking.from_settings(settings)


def ensure_promotion_limit() -> None:
    """Create the global concurrency limit that serialises promotions (one at a time)."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectAlreadyExists

    # Another run may create it at the same moment: that is fine.
    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.upsert_global_concurrency_limit_by_name(PROMOTION_LIMIT, 1)


@contextlib.contextmanager
def prefect_lock() -> Iterator[None]:
    """Prefect's global concurrency limit of one slot (its slots are leased).

    ``strict=True``: a missing limit is an error, not a warning.
    """
    ensure_promotion_limit()
    with concurrency(PROMOTION_LIMIT, occupy=1, strict=True, timeout_seconds=LOCK_TIMEOUT_SECONDS):
        yield


def promotion_lock(settings: Settings) -> Lock:
    """The promotion lock of the configured model.

    The store's own crash-safe lock (``challenger.store.lock``: a file lock for SQLite, an
    advisory lock for PostgreSQL), else Prefect's global concurrency limit (an MLflow
    tracking server over HTTP, whose database no lock of ours reaches).
    """

    def lock() -> contextlib.AbstractContextManager[object]:
        held = store_lock(settings.tracking_uri, settings.project.model_name, LOCK_TIMEOUT_SECONDS)
        return held if held is not None else prefect_lock()

    return lock


def publish_artifacts(artifacts: Iterable[Artifact]) -> None:
    """Create the Prefect artifacts a library step described (``challenger.artifact``)."""
    for a in artifacts:
        if a.table is not None:
            create_table_artifact(a.table, key=a.key, description=a.description)
        elif a.link is not None:
            create_link_artifact(
                link=a.link, link_text=a.link_text, key=a.key, description=a.description
            )
        else:
            create_markdown_artifact(a.markdown or "", key=a.key, description=a.description)


def gate_artifacts(model_name: str, version: int, result: Mapping[str, Any], text: str) -> None:
    """The gate's artifacts of a judged version, and its outcome in Prefect's run list."""
    publish_artifacts(report.gate_artifacts(model_name, version, result, text))
    label_flow_run(version, result["decision"]["outcome"])


def claim_flow_run() -> None:
    """Tag the running flow run with this process (``challenger.process:host:pid:start``)."""
    _update_flow_run(lambda name, tags: (name, [RUN_TAG, PROCESS_TAG + this_process()]))


def label_flow_run(version: int, outcome: str) -> None:
    """Show the gate's outcome in Prefect's run list: a ``gate:OUTCOME`` tag and the run's
    name prefixed with ``vN OUTCOME``."""
    _update_flow_run(lambda name, tags: (f"v{version} {outcome} · {name}", [OUTCOME_TAG + outcome]))


def _update_flow_run(change: Any) -> None:
    """Rename / add tags to the running flow run (``change(name, tags) -> (name, new tags)``);
    tags of the same prefix (up to ``:``) are replaced. Nothing outside a flow run."""
    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(context.flow_run.id)
        name, added = change(run.name, list(run.tags))
        prefixes = {t.split(":", 1)[0] + ":" for t in added if ":" in t}
        kept = [t for t in run.tags if not any(t.startswith(p) for p in prefixes)]
        tags = kept + [t for t in added if t not in kept]
        if name != run.name or tags != list(run.tags):
            client.update_flow_run(run.id, name=name, tags=tags)


def crash_dead_flow_runs() -> list[str]:
    """Mark CRASHED every RUNNING flow run (and its running task runs) whose process is dead.

    Only runs tagged by :func:`claim_flow_run` are judged, and only processes of this host
    can be checked (``challenger.store.tracking.process_alive``); returns what changed.
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
        TaskRunFilter,
        TaskRunFilterState,
        TaskRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    current = context.flow_run.id if context is not None and context.flow_run else None
    running = [StateType.RUNNING, StateType.PENDING]
    closed: list[str] = []
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=[RUN_TAG]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=running)),
            ),
            limit=200,
        )
        for run in runs:
            process = next(
                (t.removeprefix(PROCESS_TAG) for t in run.tags if t.startswith(PROCESS_TAG)), None
            )
            if run.id == current or process is None or process_alive(process):
                continue
            message = f"its process ({process}) is gone: killed or crashed"
            tasks = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])),
                task_run_filter=TaskRunFilter(
                    state=TaskRunFilterState(type=TaskRunFilterStateType(any_=running))
                ),
            )
            for task_run in tasks:
                client.set_task_run_state(task_run.id, _crashed(message), force=True)
            client.set_flow_run_state(run.id, _crashed(message), force=True)
            closed.append(f"flow run {run.name} ({run.id}): RUNNING -> CRASHED, {message}")
    return closed


def _crashed(message: str) -> Any:
    from prefect.states import Crashed

    return Crashed(message=message)


def repair_at_start(settings: Settings, registry: Registry, tracking: Tracking) -> list[str]:
    """What a flow that may move ``champion`` does first; returns what it repaired.

    It claims its flow run, marks CRASHED the flow runs of killed processes, and puts right
    what an interrupted run left in the registry (``challenger.gate.promotion.recover``).
    """
    claim_flow_run()
    return crash_dead_flow_runs() + recover(registry, tracking, promotion_lock(settings))
