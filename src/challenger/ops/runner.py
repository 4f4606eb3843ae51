"""The warm runner of ``challenger up``: a single step without a fresh interpreter's start-up.

A fresh ``challenger monitor`` spends most of its time before it reads a row: importing
Great Expectations, Evidently, MLflow and Prefect and connecting to the store, about 8 s
against about 2 s for the check of a 1,000-row batch. ``challenger up`` therefore starts
one more process, the runner. It loads those libraries once, listens on loopback
(``service.runner_port``) and runs the monitor step for the command line: the same monitor
flow, against ``up``'s Prefect server, so its run is in the Prefect UI like any other.

``challenger monitor --batch`` hands its batch to the runner when the runner of the same
project (same ``challenger.yaml``) answers, and runs in its own process otherwise or with
``--local``. The runner takes one step at a time. A request must carry the token ``up``
wrote to ``state_dir/run/runner.json`` (mode 0600, readable by this user only).

    python -m challenger.ops.runner    # started by `challenger up`, stopped by `challenger down`
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from challenger import errors

__all__ = ["RUNNER_FILE", "create_app", "hand_over", "new_token", "runner_file"]

RUNNER_FILE = "runner.json"
TOKEN_ENV = "CHALLENGER_RUNNER_TOKEN"
ROOT_ENV = "CHALLENGER_RUNNER_ROOT"
_HEALTH_TIMEOUT = 1.0  # a runner that does not answer this fast is not used


def runner_file(state: Path) -> Path:
    """Where ``up`` records the runner's address and token."""
    return state / "run" / RUNNER_FILE


def new_token(state: Path, url: str, config: Path | None, root: Path) -> str:
    """A fresh token for the runner, recorded with its address, configuration and project
    root in ``runner.json`` (0600)."""
    token = secrets.token_urlsafe(24)
    path = runner_file(state)
    path.unlink(missing_ok=True)  # created anew with its mode, never widened
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(_identity(url, config, root) | {"token": token}, f)
    return token


def _identity(url: str, config: Path | None, root: Path) -> dict[str, Any]:
    return {
        "url": url,
        "config": None if config is None else str(config.resolve()),
        "root": str(root.resolve()),
    }


# --- the server -----------------------------------------------------------------------------


class MonitorRequest(BaseModel):
    """``POST /monitor``: what ``challenger monitor --batch`` was asked."""

    batch: str
    reason: str = "scheduled"
    retrain: bool = True
    fast: bool = False


_WARM_MODULES = (
    "flows.monitor",
    "flows.retrain",
    "mlflow",
    "mlflow.sklearn",
    "great_expectations",
    "great_expectations.expectations.core",
    "evidently.metrics",
    "evidently.presets",
    "evidently.legacy.calculations.stattests.registry",
    "scipy.stats",
)


def _warm_up() -> None:
    """Import what a monitor step needs (seconds, once): the flows and Prefect, MLflow,
    Great Expectations, Evidently. The first step then starts with them loaded."""
    import importlib

    for name in _WARM_MODULES:
        importlib.import_module(name)


def create_app(config: str | None, token: str, *, warm_up: bool = True) -> Any:
    """The runner's FastAPI app: ``GET /health`` and ``POST /monitor``; ``warm_up`` imports
    the step's libraries on a background thread as it starts."""
    from fastapi import FastAPI, Header, HTTPException
    from fastapi.responses import JSONResponse

    from challenger import api

    app = FastAPI(title="challenger runner", docs_url=None, redoc_url=None)
    one_at_a_time = threading.Lock()
    warm = threading.Event()

    def warm_in_background() -> None:
        _warm_up()
        warm.set()

    if warm_up:
        threading.Thread(target=warm_in_background, name="warm-up", daemon=True).start()

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "warm": warm.is_set(), "config": config, "pid": os.getpid()}

    @app.post("/monitor")
    def monitor(body: MonitorRequest, authorization: str = Header("")) -> Any:
        if not hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
            raise HTTPException(401, "a runner request needs the token in runner.json")
        with one_at_a_time:
            try:
                result = api.monitor(
                    body.batch,
                    config=config,
                    reason=body.reason,
                    retrain=body.retrain,
                    fast=body.fast,
                )
            except errors.ChallengerError as exc:
                return JSONResponse(_error(exc), status_code=422)
            except Exception as exc:
                return JSONResponse(_error(exc), status_code=500)
        return {"result": result.to_dict()}

    return app


def _error(exc: BaseException) -> dict[str, Any]:
    out: dict[str, Any] = {"error": str(exc), "kind": type(exc).__name__}
    if isinstance(exc, errors.BatchQuarantined):
        out["quarantine_path"], out["report"] = exc.quarantine_path, exc.report
    return out


def _raise_reported(body: dict[str, Any]) -> None:
    """Raise in the command the error the runner reported (the same class and sentence)."""
    kind, message = str(body.get("kind", "")), str(body.get("error", ""))
    if kind == "BatchQuarantined":
        raise errors.BatchQuarantined(
            message, str(body.get("quarantine_path", "")), str(body.get("report", ""))
        )
    cls = getattr(errors, kind, None)
    if isinstance(cls, type) and issubclass(cls, errors.ChallengerError):
        try:
            exc = cls(message)
        except TypeError:
            exc = errors.ChallengerError(message)
        raise exc
    raise RuntimeError(f"{kind}: {message}" if kind else message)


# --- the client -----------------------------------------------------------------------------


def hand_over(
    state: Path,
    config: Path | None,
    root: Path,
    batch: Path,
    *,
    reason: str,
    retrain: bool,
    fast: bool,
) -> dict[str, Any] | None:
    """The monitor step's JSON result from this project's warm runner, or None when no
    runner of this project answers (the command then runs the step itself).

    Raises:
        ChallengerError: The step's own expected outcome (a quarantined batch, bad input),
            the same class and sentence as in the command's own process.
    """
    try:
        record = json.loads(runner_file(state).read_text(encoding="utf-8"))
        url, token = str(record["url"]), str(record["token"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if {k: record.get(k) for k in ("url", "config", "root")} != _identity(url, config, root):
        return None  # another project's runner (or defaults against a file)
    try:
        health = httpx.get(f"{url}/health", timeout=_HEALTH_TIMEOUT)
        if health.status_code != 200 or not health.json().get("ok"):
            return None
    except (httpx.HTTPError, ValueError):
        return None
    body = {"batch": str(batch), "reason": reason, "retrain": retrain, "fast": fast}
    # No read timeout: a trigger that fires runs the whole retrain before the answer.
    response = httpx.post(
        f"{url}/monitor",
        json=body,
        headers={"authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(10.0, read=None),
    )
    if response.status_code == 200:
        result: dict[str, Any] = response.json()["result"]
        return result
    try:
        reported = response.json()
    except ValueError:
        reported = {"error": response.text[:500], "kind": f"HTTP {response.status_code}"}
    if response.status_code == 401:
        raise errors.ServiceError(
            f"the warm runner at {url} refused the token in {runner_file(state)}; run "
            "`challenger up` again, or use --local"
        )
    _raise_reported(reported)
    return None  # unreachable: _raise_reported raises


def main() -> None:
    """Serve the runner (``challenger up`` starts it with its environment)."""
    import uvicorn

    from challenger.config import load_config
    from challenger.ops.deploy import CONFIG_ENV

    os.chdir(os.environ.pop(ROOT_ENV))  # the project's root: relative paths as in the CLI
    config = os.environ.get(CONFIG_ENV) or None
    settings = load_config(config)
    token = os.environ.pop(TOKEN_ENV)
    app = create_app(config, token)
    uvicorn.run(
        app, host=settings.service.host, port=settings.service.runner_port, log_level="warning"
    )


if __name__ == "__main__":
    main()
