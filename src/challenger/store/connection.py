"""One connection to an MLflow store, shared by the registry and the tracking of runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from challenger.errors import RegistryUnavailable


def connect(tracking_uri: str) -> tuple[Any, Any]:
    """Point MLflow at ``tracking_uri``; returns ``(mlflow module, MlflowClient)``.

    ``mlflow.set_tracking_uri`` also exports ``MLFLOW_TRACKING_URI``, which our configuration
    reads as the user's override: it is restored, so that connecting to one project's store
    never redirects the next project loaded in this process.
    """
    import mlflow
    from mlflow import MlflowClient

    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    if tracking_uri.startswith(("http://", "https://")):
        # Fail fast instead of retrying for minutes against a store that is down.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    user_uri = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    if user_uri is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = user_uri
    return mlflow, MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def unavailable(tracking_uri: str, exc: Exception) -> RegistryUnavailable:
    """The error for a store that cannot be reached or opened."""
    return RegistryUnavailable(
        f"the MLflow store {tracking_uri} cannot be reached or opened ({type(exc).__name__}: {exc}); "
        "start it or point MLFLOW_TRACKING_URI at a working store"
    )
