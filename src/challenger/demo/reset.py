"""The demo's own registered model: marked as the demo's, so that a later demo may reset it."""

from __future__ import annotations

import shutil

from challenger.config import Settings
from challenger.errors import ChallengerError
from challenger.store.record import TAG
from challenger.store.registry import Registry

DEMO_TAG = f"{TAG}demo"
#: The batch id prefix of the demo's batch shadow (what :func:`clean_slate` takes out of the log).
DEMO_BATCH = "demo-"


def mark_demo(registry: Registry) -> None:
    """Tag the registered model as the demo's, so a later demo may reset it."""
    registry.client.set_registered_model_tag(registry.model_name, DEMO_TAG, "true")


def reset_demo(registry: Registry) -> None:
    """Delete the registered model if (and only if) the demo created it.

    Raises:
        ChallengerError: The model exists with versions but is not the demo's.
    """
    model = registry.client.get_registered_model(registry.model_name)
    if not registry.versions():
        return
    if (model.tags or {}).get(DEMO_TAG) != "true":
        raise ChallengerError(
            f"registered model {registry.model_name!r} in {registry.tracking_uri} was not created "
            "by the demo; run the demo with another project.model_name or --no-reset"
        )
    registry.client.delete_registered_model(registry.model_name)
    registry.ensure_model()


def clean_slate(settings: Settings, registry: Registry) -> None:
    """What ``challenger demo`` does first: its registered model deleted (only if it is the
    demo's, :func:`reset_demo`) and its data folders emptied (incoming, accepted, quarantine,
    reports) and its batch shadow's rows taken out of the prediction log, so the timeline
    starts again with no champion."""
    reset_demo(registry)
    log = settings.path(settings.serving.prediction_log)
    if log.exists():
        from challenger.online.log import LogStore

        with LogStore(log).connect() as conn:
            for table in ("predictions", "shadows", "feedback"):
                conn.execute(
                    f"DELETE FROM {table} WHERE request_id LIKE ?", (f"batch:{DEMO_BATCH}%",)
                )
    d = settings.data
    for folder in (d.incoming_dir, d.accepted_dir, d.quarantine_dir, d.reports_dir):
        shutil.rmtree(settings.path(folder), ignore_errors=True)
