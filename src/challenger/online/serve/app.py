"""The serving app: FastAPI binds the endpoints (``routes``) to a ``ServingRuntime``.

Endpoints:
    POST /predict          one record (``record``) or a batch (``records``), validated against
                           the champion's signature; answers score, class, variant and version
    POST /feedback         ground-truth labels (and an optional business value) by request id
    GET  /health           models, strategy, flags, rollout state, shadow worker and log status
    GET  /metrics          Prometheus text: requests, errors and latency per variant, and more
    GET  /admin/state      (token) flags, rollout state, recent events
    PATCH /admin/flags     (token) change flags; written to the flags file, applied at once
    POST /admin/rollback   (token) stop the challenger's traffic now, with a reason
    POST /admin/reload     (token) re-read the aliases now
    /rollout/verdict, /rollout/flagger[/rollback]  the judge's verdict for Argo Rollouts and
                           Flagger (``challenger.online.serve.verdict_routes``)

Admin endpoints need ``Authorization: Bearer <serving.admin_token>`` (compared in constant
time; the configuration refuses a token shorter than 16 characters, so an empty
``Bearer`` never matches); without a configured token they are disabled (403). Request
bodies above ``serving.max_body_bytes`` get 413, bodies that are not JSON 415, and JSON
the app cannot carry (NaN, integers beyond 64 bits, bad UTF-8, deep nesting) 422
(``challenger.online.serve.body``). The OpenAPI document is served at ``/openapi.json``;
there is no ``/docs`` page, whose assets would come from a CDN.

While it serves, background steps re-read the aliases (``serving.reload_seconds``), the flags
file (``serving.flags_seconds``) and, for A/B and canary, run the canary guard
(``rollout.canary.guard_seconds``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import SecretStr

from challenger.config import Settings
from challenger.online.serve import routes, verdict_routes
from challenger.online.serve.body import BodyLimit, StrictJSONRoute
from challenger.online.serve.guard import run_guard
from challenger.online.serve.routes import (
    FeedbackBatch,
    FeedbackItem,
    PredictRequest,
    RollbackRequest,
)
from challenger.online.serve.runtime import ServingRuntime

log = logging.getLogger(__name__)


async def _every(seconds: float, step: Callable[[], Awaitable[None]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await step()
        except Exception:  # a background step must never kill the app
            log.exception("background step failed")


def _admin_check(token: SecretStr | None) -> Callable[[Request], None]:
    """The dependency of the admin endpoints: a bearer token, compared in constant time."""

    expected = None if token is None else token.get_secret_value().encode()

    def require_admin(request: Request) -> None:
        if not expected:  # no token (or, defensively, an empty one): admin is off
            raise HTTPException(
                403,
                "admin endpoints are disabled: set CHALLENGER_SERVING__ADMIN_TOKEN "
                "(or serving.admin_token) and restart the app",
            )
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        presented = given.strip().encode("utf-8", "replace")
        if (
            scheme.lower() != "bearer"
            or not presented
            or not hmac.compare_digest(presented, expected)
        ):
            raise HTTPException(
                401,
                "admin endpoints need the header 'Authorization: Bearer <admin token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return require_admin


def _lifespan(rt: ServingRuntime, settings: Settings) -> Callable[[FastAPI], Any]:
    """Start the runtime and its background steps with the server; drain both at its end."""
    serving = settings.serving

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(rt.start)

        async def models_step() -> None:
            await asyncio.to_thread(rt.refresh_models)

        async def flags_step() -> None:
            rt.refresh_flags()

        async def guard_step() -> None:
            await asyncio.to_thread(run_guard, rt)

        tasks = [
            asyncio.create_task(_every(serving.reload_seconds, models_step)),
            asyncio.create_task(_every(serving.flags_seconds, flags_step)),
        ]
        if rt.strategy in ("ab", "canary"):
            tasks.append(
                asyncio.create_task(_every(settings.rollout.canary.guard_seconds, guard_step))
            )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.to_thread(rt.stop)

    return lifespan


def create_app(settings: Settings, runtime: ServingRuntime | None = None) -> FastAPI:
    """Build the serving app (loads the models now; starts workers when it starts serving).

    Args:
        settings: The configuration.
        runtime: A runtime built beforehand (default: built here).

    Raises:
        ChallengerError: No champion, or a model without a column signature.
    """
    rt = runtime or ServingRuntime(settings)
    app = FastAPI(
        title="challenger serving",
        description="Champion/challenger serving with shadow, A/B, canary and feature flags.",
        version="1",
        lifespan=_lifespan(rt, settings),
        docs_url=None,  # Swagger UI and ReDoc load their assets from a CDN: no network here
        redoc_url=None,
    )
    app.router.route_class = StrictJSONRoute
    app.state.runtime = rt
    app.add_middleware(BodyLimit, max_bytes=settings.serving.max_body_bytes)
    admin = [Depends(_admin_check(settings.serving.admin_token))]

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return routes.invalid_input(rt, errors)

    @app.post("/predict")
    async def predict(body: PredictRequest) -> Response:
        return await routes.predict(rt, body)

    @app.post("/feedback", status_code=202)
    async def feedback(body: FeedbackItem | FeedbackBatch) -> Response:
        return await routes.feedback(rt, body)

    @app.get("/health")
    async def health() -> Response:
        return routes.json_response(rt.health())

    @app.get("/metrics")
    async def metrics() -> Response:
        return await routes.metrics(rt)

    @app.get("/admin/state", dependencies=admin)
    async def admin_state() -> Response:
        return await routes.admin_state(rt)

    @app.patch("/admin/flags", dependencies=admin)
    async def admin_flags(patch: dict[str, Any]) -> Response:
        return await routes.admin_flags(rt, patch)

    @app.post("/admin/rollback", dependencies=admin)
    async def admin_rollback(body: RollbackRequest) -> Response:
        return await routes.admin_rollback(rt, body)

    @app.post("/admin/reload", dependencies=admin)
    async def admin_reload() -> Response:
        return await routes.admin_reload(rt)

    app.include_router(verdict_routes.router)
    return app
