"""The Prefect pieces the flows share: the promotion lock, the judgement as a task, the artifacts.

No business logic: the judgement is ``challenger.gate.judge``, the move of ``champion`` is
``challenger.gate.promotion``; this module only gives them Prefect's lock and a task run
in the UI.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.concurrency.sync import concurrency

from challenger.config import Settings
from challenger.gate import report
from challenger.gate.judge import judge
from challenger.gate.promotion import Lock
from challenger.store.lock import promotion_lock as store_lock
from challenger.store.registry import Registry
from challenger.store.tracking import Tracking

PROMOTION_LIMIT = "challenger-promotion"
LOCK_TIMEOUT_SECONDS = 600

judge_task = task(name="evaluate", cache_policy=NO_CACHE)(judge)
"""The judgement as a Prefect task (one task run per judgement in the UI)."""


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


def gate_artifacts(
    model_name: str, version: int, result: Mapping[str, Any], outcome: str, text: str
) -> None:
    """The ``gate-decision`` table and the ``gate-report`` markdown of a judged version."""
    create_table_artifact(
        report.decision_table(result),
        key="gate-decision",
        description=f"{model_name} v{version}: {outcome}",
    )
    create_markdown_artifact(text, key="gate-report", description=f"Gate report of v{version}")
