"""The serving app: FastAPI routes over a ``ServingRuntime``.

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

Admin endpoints need ``Authorization: Bearer <serving.admin_token>``; without a configured
token they are disabled (403). Request bodies above ``serving.max_body_bytes`` get 413.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from starlette.background import BackgroundTask
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from threadpoolctl import threadpool_limits

from challenger.config import Settings
from challenger.errors import ChallengerError, ConfigError, InputError
from challenger.online.analysis import judge_canary
from challenger.online.log import (
    AssignmentRow,
    EventRow,
    FeedbackRow,
    LogStore,
    LogWriter,
    PredictionRow,
)
from challenger.online.serve.flags import FlagsFile
from challenger.online.serve.models import (
    ModelHub,
    positive_scores,
    require_binary_task,
)
from challenger.online.serve.prometheus import PROMETHEUS_CONTENT_TYPE, ServingMetrics
from challenger.online.serve.router import (
    CHALLENGER,
    Assigner,
    RequestContext,
    RolloutState,
    route,
)
from challenger.online.serve.shadow_worker import ShadowRunner, ShadowSpec, ShadowStats
from challenger.store.registry import Registry

log = logging.getLogger(__name__)

ROLLOUT_KEY = "rollout"
_RECENT_IDS = 500_000

Str64 = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Str128 = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class PredictRequest(BaseModel):
    """A prediction request: one ``record`` or a batch of ``records``, plus routing context."""

    model_config = ConfigDict(extra="forbid")

    user_id: Str128 | None = Field(None, description="Sticky unit of A/B and canary assignment.")
    attributes: dict[Str64, Str128] = Field(
        default_factory=dict, max_length=32, description="e.g. {country: DE, device: mobile}"
    )
    segments: list[Str64] = Field(
        default_factory=list, max_length=32, description="e.g. [internal] or [beta]"
    )
    record: dict[Str64, Any] | None = None
    records: list[dict[Str64, Any]] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_of(self) -> PredictRequest:
        if (self.record is None) == (self.records is None):
            raise ValueError("send exactly one of 'record' (one input) or 'records' (a batch)")
        return self


class FeedbackItem(BaseModel):
    """The label of one answered record."""

    model_config = ConfigDict(extra="forbid")

    request_id: Str64
    index: int = Field(0, ge=0, description="Record index within a batch request.")
    label: int | None = Field(None, ge=0, le=1, description="The true class (0 or 1).")
    value: float | None = Field(None, description="A business value of the outcome.")

    @model_validator(mode="after")
    def _something(self) -> FeedbackItem:
        if self.label is None and self.value is None:
            raise ValueError("send a 'label', a 'value' or both")
        return self


class FeedbackBatch(BaseModel):
    """Several labels at once."""

    model_config = ConfigDict(extra="forbid")

    items: list[FeedbackItem] = Field(min_length=1, max_length=10_000)


class RollbackRequest(BaseModel):
    """Why the operator stops the rollout."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field("forced by an operator", min_length=1, max_length=500)


def _json(
    data: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
    background: BackgroundTask | None = None,
) -> Response:
    return Response(
        orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY, default=str),
        status_code=status,
        media_type="application/json",
        headers=headers,
        background=background,
    )


class BodyLimit:
    """Refuse request bodies larger than ``max_bytes`` with 413, before anything parses them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._too_large(send)
                return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        body = orjson.dumps(
            {"detail": f"request body is larger than {self.max_bytes} bytes; send smaller batches"}
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class ServingRuntime:
    """Everything the app holds: models, flags, router state, log, shadow worker, metrics.

    Construction loads the models (so a missing champion fails before the server listens);
    ``start`` starts the log writer and the shadow worker; ``stop`` drains both.

    Args:
        settings: The configuration.
        registry: An open registry (default: the configured one).

    Raises:
        ChallengerError: No champion, a model without a column signature, or a task or
            model other than a binary classifier (``data.task``, champion, challenger or a
            shadow).
    """

    def __init__(self, settings: Settings, registry: Registry | None = None) -> None:
        require_binary_task(settings.data.task)  # before anything loads: a clear refusal
        self.settings = settings
        self.rollout = settings.rollout
        self.strategy = settings.rollout.strategy
        self.registry = registry or Registry.from_settings(settings)
        self.metrics = ServingMetrics()
        shadow_refs = self.rollout.shadow.models if self.strategy == "shadow" else ()
        self.hub = ModelHub(
            self.registry,
            need_challenger=self.strategy in ("ab", "canary"),
            shadow_refs=shadow_refs,
        )
        self.flags = FlagsFile(settings.path(settings.serving.flags_file))
        self.store = LogStore(settings.path(settings.serving.prediction_log))
        self.assigner: Assigner | None = None
        if self.strategy == "ab":
            self.assigner = Assigner(
                self.rollout.ab, self.store.assignments(self.rollout.ab.experiment)
            )
        self.state: RolloutState | None = None
        self.writer: LogWriter | None = None
        self.shadow: ShadowRunner | None = None
        self.recent: OrderedDict[str, int] = OrderedDict()
        self.started_at = time.time()
        self._last_flags_error: str | None = None
        self._limits: threadpool_limits | None = None

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the log writer and (for shadow mode) the shadow worker; sync the rollout."""
        s = self.settings.serving
        # One thread per prediction: single requests gain nothing from OpenMP/BLAS threads,
        # and their spinning steals the CPU other requests need (restored by ``stop``).
        self._limits = threadpool_limits(limits=s.model_threads)
        self.writer = LogWriter(
            self.store, enabled=s.log_enabled, effects=s.effects, root=self.settings.root
        )
        current = self.hub.current
        if self.strategy == "shadow" and current.shadows:
            self._start_shadow(dict(current.shadows))
        self.sync_state()
        self._update_gauges()
        freeze_heap()

    def _start_shadow(self, targets: dict[str, int]) -> None:
        s = self.settings
        spec = ShadowSpec(
            tracking_uri=s.tracking_uri,
            model_name=s.project.model_name,
            experiment=s.project.experiment,
            artifact_root=s.artifact_root,
            log_path=s.path(s.serving.prediction_log),
            log_enabled=s.serving.log_enabled,
            effects=s.serving.effects,
            root=s.root,
            targets=targets,
            model_threads=s.serving.model_threads,
        )
        self.shadow = ShadowRunner(spec, self.rollout.shadow.queue_size, self._shadow_stats)

    def _shadow_stats(self, stats: ShadowStats) -> None:
        for model, seconds in stats.timed.items():
            histogram = self.metrics.shadow_latency.labels(model)
            for s in seconds:
                histogram.observe(s)
        for model, n in stats.errors.items():
            self.metrics.shadow_errors.labels(model).inc(n)

    def stop(self) -> None:
        """Drain the shadow worker and the log (nothing queued is lost)."""
        if self.shadow is not None:
            self.shadow.close()
        if self.writer is not None:
            self.writer.close()
        if self._limits is not None:
            self._limits.restore_original_limits()
            self._limits = None

    def event(self, kind: str, **detail: Any) -> None:
        """Record an event in the log (queued)."""
        log.info("%s: %s", kind, detail)
        if self.writer is not None:
            self.writer.put(EventRow(kind, detail, time.time()))

    def _update_gauges(self) -> None:
        m, cur = self.metrics, self.hub.current
        m.model_version.labels("champion").set(cur.champion.version)
        m.model_version.labels("challenger").set(cur.challenger.version if cur.challenger else 0)
        m.kill_switch.set(1 if self.flags.current.operational.kill_switch else 0)
        st = self.state
        m.rollout_stage.set(st.stage if st is not None and st.running else -1)

    # ---- background steps (blocking; the app runs them in threads) ------------------------
    def refresh_models(self) -> bool:
        """Pick up alias moves; returns True when the served models changed."""
        before = self.hub.current
        changed = self.hub.refresh()
        if changed:
            after = self.hub.current
            self.metrics.swaps.inc()
            self.event(
                "models_swapped",
                champion=[before.champion.version, after.champion.version],
                challenger=[
                    before.challenger.version if before.challenger else None,
                    after.challenger.version if after.challenger else None,
                ],
                shadows=dict(after.shadows),
                note=after.challenger_note,
            )
            if self.strategy == "shadow":
                if self.shadow is None and after.shadows:
                    self._start_shadow(dict(after.shadows))
                elif self.shadow is not None:
                    self.shadow.set_targets(dict(after.shadows))
            self.sync_state()
            freeze_heap()
        self._update_gauges()
        return changed

    def sync_state(self) -> None:
        """Read the rollout state; start a new rollout when a new challenger is served."""
        if self.strategy not in ("ab", "canary"):
            self.state = None
            return
        got = self.store.read_state(ROLLOUT_KEY)
        current = RolloutState.from_dict(got[1], got[0]) if got else None
        challenger = self.hub.current.challenger
        if challenger is None or (
            current is not None
            and current.strategy == self.strategy
            and current.challenger_version == challenger.version
        ):
            self.state = current
            return
        fresh = RolloutState(
            strategy=self.strategy,
            challenger_version=challenger.version,
            champion_version=self.hub.current.champion.version,
            stage=0,
            status="running",
            since=time.time(),
            reason=f"{self.strategy} of v{challenger.version} started by the serving app",
        )
        revision = self.store.write_state(
            ROLLOUT_KEY, fresh.to_dict(), None if current is None else current.revision
        )
        if revision < 0:  # someone else wrote first: take theirs
            got = self.store.read_state(ROLLOUT_KEY)
            self.state = RolloutState.from_dict(got[1], got[0]) if got else None
            return
        self.state = RolloutState.from_dict(fresh.to_dict(), revision)
        self.event("rollout_started", **fresh.to_dict())

    def stop_rollout(self, reason: str, by: str) -> tuple[RolloutState | None, bool]:
        """Stop the challenger's traffic now (compare-and-set on the rollout state).

        Returns:
            The rollout state after the call, and whether this call stopped it.
        """
        for _ in range(5):
            got = self.store.read_state(ROLLOUT_KEY)
            if got is None:
                return None, False
            state = RolloutState.from_dict(got[1], got[0])
            if not state.running:
                self.state = state
                return state, False
            doc = state.to_dict()
            doc["history"] = [
                *doc["history"],
                {
                    "ts": time.time(),
                    "from": state.status,
                    "to": "rolled_back",
                    "by": by,
                    "reason": reason,
                },
            ]
            doc.update(status="rolled_back", reason=f"{by}: {reason}")
            revision = self.store.write_state(ROLLOUT_KEY, doc, state.revision)
            if revision >= 0:
                self.state = RolloutState.from_dict(doc, revision)
                self.metrics.rollbacks.labels(by).inc()
                self.event(
                    "rollout_rolled_back", by=by, reason=reason, version=state.challenger_version
                )
                self._update_gauges()
                return self.state, True
        raise ChallengerError("the rollout state kept changing; try the rollback again")

    def guard(self) -> None:
        """Re-read the rollout state and roll a canary back at once if a critical metric fails."""
        self.sync_state()
        self._update_gauges()
        st = self.state
        if self.strategy != "canary" or st is None or not st.running:
            return
        if self.writer is not None:
            self.writer.flush(timeout=5.0)
        rows = self.store.predictions(since=st.since, challenger_version=st.challenger_version)
        if rows.empty:
            return
        decision = judge_canary(
            rows,
            self.rollout.canary,
            stage=st.stage,
            challenger_version=st.challenger_version,
            champion_version=st.champion_version,
            critical_only=True,
        )
        if decision.action == "rollback":
            self.stop_rollout(decision.reason, by="guard")

    def refresh_flags(self) -> None:
        """Re-read the flags file if it changed."""
        if self.flags.refresh():
            self.event("flags_changed", flags=self.flags.current.model_dump(mode="json"))
        if self.flags.error != self._last_flags_error:
            self._last_flags_error = self.flags.error
            if self.flags.error:
                self.event("flags_error", error=self.flags.error)
        self._update_gauges()

    def remember(self, request_id: str, n: int) -> None:
        """Keep recent request ids in memory so feedback can be checked without a query."""
        self.recent[request_id] = n
        if len(self.recent) > _RECENT_IDS:
            self.recent.popitem(last=False)

    def health(self) -> dict[str, Any]:
        """What /health reports."""
        cur = self.hub.current
        shadow: dict[str, Any] | None = None
        if self.strategy == "shadow":
            sh = self.shadow
            shadow = {
                "configured": list(self.rollout.shadow.models),
                "models": dict(cur.shadows),
                "ready": bool(sh and sh.ready.is_set() and sh.alive),
                "priority": sh.policy if sh else None,
                "pending": sh.pending if sh else 0,
                "submitted": sh.submitted if sh else 0,
                "dropped": sh.dropped if sh else 0,
                "error": sh.error if sh else None,
            }
        writer = self.writer
        problems = [
            p
            for p in (
                self.flags.error,
                self.hub.last_error,
                writer.last_error if writer else None,
                shadow["error"] if shadow else None,
            )
            if p
        ]
        return {
            "status": "degraded" if problems else "ok",
            "problems": problems,
            "model_name": self.registry.model_name,
            "strategy": self.strategy,
            "champion": cur.champion.version,
            "challenger": cur.challenger.version if cur.challenger else None,
            "challenger_note": cur.challenger_note,
            "input_schema": cur.schema.describe(),
            "shadow": shadow,
            "rollout": None if self.state is None else self.state.to_dict(),
            "flags": self.flags.current.model_dump(mode="json"),
            "log": {
                "enabled": self.settings.serving.log_enabled,
                "pending": writer.pending if writer else 0,
                "written": writer.written if writer else 0,
            },
            "swaps": self.hub.swaps,
            "uptime_seconds": round(time.time() - self.started_at, 1),
        }


def freeze_heap() -> None:
    """Move every object alive now out of the garbage collector's reach (``gc.freeze``).

    The app holds a few hundred thousand long-lived objects (MLflow, scikit-learn, pandas,
    the models); a full collection walks all of them, 100-250 ms during which no request is
    answered, and it comes whenever enough request objects have piled up: the p99 of any
    strategy was a lottery of which minute a full collection fell into. Frozen objects are
    still freed by reference counting; only cycles among them would stay, and the models and
    libraries loaded at start (or at a swap) are meant to live anyway.
    """
    gc.collect()
    gc.freeze()


async def _every(seconds: float, step: Callable[[], Awaitable[None]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await step()
        except Exception:  # a background step must never kill the app
            log.exception("background step failed")


def create_app(settings: Settings, runtime: ServingRuntime | None = None) -> FastAPI:
    """Build the serving app (loads the models now; starts workers when it starts serving).

    Args:
        settings: The configuration.
        runtime: A runtime built beforehand (default: built here).

    Raises:
        ChallengerError: No champion, or a model without a column signature.
    """
    rt = runtime or ServingRuntime(settings)
    serving = settings.serving

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(rt.start)

        async def models_step() -> None:
            await asyncio.to_thread(rt.refresh_models)

        async def flags_step() -> None:
            rt.refresh_flags()

        async def guard_step() -> None:
            await asyncio.to_thread(rt.guard)

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

    app = FastAPI(
        title="challenger serving",
        description="Champion/challenger serving with shadow, A/B, canary and feature flags.",
        version="1",
        lifespan=lifespan,
    )
    app.state.runtime = rt
    app.add_middleware(BodyLimit, max_bytes=serving.max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        rt.metrics.errors.labels("none", "invalid_input").inc()
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return _json({"detail": errors}, 422)

    def require_admin(request: Request) -> None:
        token = serving.admin_token
        if token is None:
            raise HTTPException(
                403,
                "admin endpoints are disabled: set CHALLENGER_SERVING__ADMIN_TOKEN "
                "(or serving.admin_token) and restart the app",
            )
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.encode(), token.get_secret_value().encode()
        ):
            raise HTTPException(
                401,
                "admin endpoints need the header 'Authorization: Bearer <admin token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    admin = [Depends(require_admin)]

    @app.post("/predict")
    async def predict(body: PredictRequest) -> Response:
        t0 = time.perf_counter()
        single = body.record is not None
        records = [body.record] if body.record is not None else list(body.records or ())
        if len(records) > serving.max_records:
            rt.metrics.errors.labels("none", "invalid_input").inc()
            return _json(
                {
                    "detail": [
                        {
                            "loc": ["records"],
                            "msg": f"{len(records)} records; at most {serving.max_records} per request",
                            "type": "too_long",
                        }
                    ]
                },
                422,
            )
        models = rt.hub.current  # one snapshot for the whole request: swaps never mix models
        try:
            columns = models.schema.validate(records, "record" if single else "records")
        except InputError as exc:
            rt.metrics.errors.labels("none", "invalid_input").inc()
            return _json({"detail": exc.errors}, 422)
        frame = models.schema.build(columns)
        rt.metrics.prepared.inc()
        request_id = uuid.uuid4().hex
        ctx = RequestContext(request_id, body.user_id, body.attributes, frozenset(body.segments))
        shadow = rt.shadow
        has_shadows = shadow is not None and bool(shadow.targets) and not shadow.stopped.is_set()
        chosen, new_stratum = route(
            ctx,
            rt.rollout,
            rt.flags.current,
            challenger_version=models.challenger.version if models.challenger else None,
            state=rt.state,
            has_shadows=has_shadows,
            assigner=rt.assigner,
        )
        writer = rt.writer
        now = time.time()
        if new_stratum is not None and writer is not None and body.user_id is not None:
            writer.put(
                AssignmentRow(rt.rollout.ab.experiment, body.user_id, chosen.arm, new_stratum, now)
            )
        served = (
            models.challenger if chosen.arm == CHALLENGER and models.challenger else models.champion
        )
        status, error = "ok", None
        m0 = time.thread_time()  # CPU time of the prediction, comparable with the shadows'

        try:
            scores = positive_scores(served.model, frame)
        except Exception as exc:
            error = f"v{served.version} failed: {type(exc).__name__}: {exc}"[:500]
            if served is models.champion:
                rt.metrics.errors.labels("champion", "model_error").inc()
                latency = (time.perf_counter() - t0) * 1000.0
                if writer is not None:
                    writer.put_many(
                        [
                            PredictionRow(
                                request_id,
                                i,
                                now,
                                body.user_id,
                                rt.strategy,
                                chosen.experiment,
                                chosen.arm,
                                "champion",
                                served.version,
                                models.challenger.version if models.challenger else None,
                                chosen.stage,
                                rec,
                                None,
                                None,
                                latency,
                                "error",
                                error,
                                body.attributes,
                            )
                            for i, rec in enumerate(records)
                        ]
                    )
                return _json(
                    {
                        "detail": f"the champion could not predict: {error}",
                        "request_id": request_id,
                    },
                    500,
                )
            # The challenger failed: the user still gets the champion's answer.
            rt.metrics.errors.labels("challenger", "fallback").inc()
            status = "fallback"
            served = models.champion
            scores = positive_scores(served.model, frame)
        model_ms = (time.thread_time() - m0) * 1000.0
        variant = "challenger" if served is models.challenger else "champion"
        handoff: BackgroundTask | None = None
        if chosen.shadow and shadow is not None:
            mirror, schema, n_records = shadow, models.schema, len(records)

            async def to_shadows() -> None:
                # Runs on the event loop right after the answer is sent: the user never
                # waits for the hand-off (a non-blocking queue put of plain lists).
                if mirror.submit(request_id, columns, n_records, now, schema):
                    rt.metrics.shadow_submitted.inc()
                else:
                    rt.metrics.shadow_dropped.inc()

            handoff = BackgroundTask(to_shadows)
        latency_s = time.perf_counter() - t0
        if writer is not None:
            chal_v = models.challenger.version if models.challenger else None
            if rt.strategy == "shadow":  # the challenger under comparison is a shadow here
                chal_v = models.shadows.get(CHALLENGER)
            writer.put_many(
                [
                    PredictionRow(
                        request_id,
                        i,
                        now,
                        body.user_id,
                        rt.strategy,
                        chosen.experiment,
                        chosen.arm,
                        variant,
                        served.version,
                        chal_v,
                        chosen.stage,
                        rec,
                        float(scores[i]),
                        model_ms,
                        latency_s * 1000.0,
                        status,
                        error,
                        body.attributes,
                    )
                    for i, rec in enumerate(records)
                ]
            )
        rt.remember(request_id, len(records))
        m = rt.metrics
        m.requests.labels(variant).inc()
        m.records.labels(variant).inc(len(records))
        m.latency.labels(variant).observe(latency_s)
        predictions = [{"score": float(s), "class": int(s >= 0.5)} for s in scores]
        out: dict[str, Any] = {
            "request_id": request_id,
            "variant": variant,
            "model_version": served.version,
            "arm": chosen.arm,
            "fallback": status == "fallback",
            "experiment": chosen.experiment,
            "stage": chosen.stage,
            "predictions": predictions,
        }
        if single:
            out["prediction"] = predictions[0]
        return _json(out, headers={"x-request-id": request_id}, background=handoff)

    @app.post("/feedback", status_code=202)
    async def feedback(body: FeedbackItem | FeedbackBatch) -> Response:
        items = body.items if isinstance(body, FeedbackBatch) else [body]
        unknown: list[str] = []
        bad_index: list[str] = []
        for item in items:
            n = rt.recent.get(item.request_id)
            if n is None:
                if rt.writer is not None and rt.writer.pending:
                    await asyncio.to_thread(rt.writer.flush, 5.0)
                n = await asyncio.to_thread(rt.store.records_of, item.request_id)
                if n is None:
                    unknown.append(item.request_id)
                    continue
                rt.recent[item.request_id] = n
            if item.index >= n:
                bad_index.append(f"{item.request_id}[{item.index}] (it had {n} records)")
        if unknown:
            return _json(
                {
                    "detail": f"{len(unknown)} unknown request id(s), e.g. {unknown[:3]}; "
                    "send the request_id that /predict returned",
                    "unknown": unknown[:20],
                },
                404,
            )
        if bad_index:
            return _json({"detail": f"record index out of range: {bad_index[:3]}"}, 422)
        now = time.time()
        if rt.writer is not None:
            rt.writer.put_many(
                [
                    FeedbackRow(
                        i.request_id,
                        i.index,
                        None if i.label is None else float(i.label),
                        i.value,
                        now,
                    )
                    for i in items
                ]
            )
        rt.metrics.feedback.inc(len(items))
        return _json({"accepted": len(items)}, 202)

    @app.get("/health")
    async def health() -> Response:
        return _json(rt.health())

    @app.get("/metrics")
    async def metrics() -> Response:
        if rt.writer is not None:
            rt.metrics.log_pending.set(rt.writer.pending)
            rt.metrics.log_written.set(rt.writer.written)
        return Response(rt.metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)

    @app.get("/admin/state", dependencies=admin)
    async def admin_state() -> Response:
        events = await asyncio.to_thread(rt.store.events)
        return _json({**rt.health(), "events": events[-50:]})

    @app.patch("/admin/flags", dependencies=admin)
    async def admin_flags(patch: dict[str, Any]) -> Response:
        try:
            flags = await asyncio.to_thread(rt.flags.update, patch)
        except ConfigError as exc:
            return _json({"detail": str(exc)}, 422)
        rt.event("flags_changed", by="admin", patch=patch)
        rt.refresh_flags()
        return _json(flags.model_dump(mode="json"))

    @app.post("/admin/rollback", dependencies=admin)
    async def admin_rollback(body: RollbackRequest) -> Response:
        if rt.strategy not in ("ab", "canary"):
            return _json(
                {
                    "detail": f"strategy {rt.strategy!r} serves only the champion; nothing to roll "
                    "back (use the kill switch or the release.shadow flag)"
                },
                409,
            )
        state, stopped = await asyncio.to_thread(rt.stop_rollout, body.reason, "admin")
        if state is None:
            return _json({"detail": "no rollout has started; nothing to roll back"}, 409)
        if stopped:
            return _json({"rollout": state.to_dict()})
        return _json(
            {
                "detail": f"the {state.strategy} of v{state.challenger_version} is already "
                f"{state.status} ({state.reason}); nothing to roll back",
                "rollout": state.to_dict(),
            },
            409,
        )

    @app.post("/admin/reload", dependencies=admin)
    async def admin_reload() -> Response:
        changed = await asyncio.to_thread(rt.refresh_models)
        return _json({"changed": changed, **rt.health()})

    return app
