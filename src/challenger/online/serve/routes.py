"""What each endpoint of the serving app does, as plain functions of the ``ServingRuntime``.

The request bodies (pydantic models, validated by FastAPI before a handler runs) and one
handler per endpoint; ``challenger.online.serve.app`` binds them to their paths. The predict
path validates the records once against the champion's schema and its training profile,
asks the router which model answers, scores through
``challenger.online.serve.models.served_scores`` (a failing challenger falls back to the
champion), waits for its log rows to be committed (group commit; the answer says
``logged: false`` when they were not) and, after the answer is sent, hands the validated
columns to the shadow worker. Labels are committed before /feedback answers, first label
wins (see ``FeedbackItem``).
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
import uuid
from typing import Annotated, Any

import numpy as np
import orjson
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from starlette.background import BackgroundTask

from challenger.errors import ConfigError, InputError
from challenger.online.log import AssignmentRow, FeedbackRow, PredictionRow, Row
from challenger.online.serve.models import Columns, ModelSet, served_scores
from challenger.online.serve.prometheus import PROMETHEUS_CONTENT_TYPE
from challenger.online.serve.router import CHALLENGER, RequestContext, Route, route
from challenger.online.serve.runtime import ServingRuntime
from challenger.online.serve.shadow_worker import ShadowRunner

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
    index: int = Field(0, ge=0, le=1_000_000, description="Record index within a batch request.")
    label: Annotated[float, Field(allow_inf_nan=False)] | Str128 | None = Field(
        None,
        description="The truth: the class (0 or 1) of a binary model, the class label of a "
        "multiclass model, the true value of a regression (checked against data.task when it "
        "arrives).",
    )
    value: float | None = Field(
        None, allow_inf_nan=False, description="A business value of the outcome."
    )
    overwrite: bool = Field(
        False,
        description="Replace a label recorded before. Without it the first label wins: a "
        "different one is refused (409), the same one again is accepted as a duplicate.",
    )

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


def json_response(
    data: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
    background: BackgroundTask | None = None,
) -> Response:
    """A JSON response rendered with orjson (numpy values included)."""
    return Response(
        orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY, default=str),
        status_code=status,
        media_type="application/json",
        headers=headers,
        background=background,
    )


def invalid_input(rt: ServingRuntime, errors: list[dict[str, Any]]) -> Response:
    """422 with the list of what is wrong, counted as an invalid input."""
    rt.metrics.errors.labels("none", "invalid_input").inc()
    return json_response({"detail": errors}, 422)


# ------------------------------------------------------------------------------ /predict


async def predict(rt: ServingRuntime, body: PredictRequest) -> Response:
    """POST /predict: answer with the routed model, log every record, mirror to shadows."""
    t0 = time.perf_counter()
    single = body.record is not None
    records = [body.record] if body.record is not None else list(body.records or ())
    loc = "record" if single else "records"
    limit = rt.settings.serving.max_records
    if len(records) > limit:
        msg = f"{len(records)} records; at most {limit} per request"
        return invalid_input(rt, [{"loc": ["records"], "msg": msg, "type": "too_long"}])
    models = rt.hub.current  # one snapshot for the whole request: swaps never mix models
    try:
        columns = models.schema.validate(records, loc)
    except InputError as exc:
        return invalid_input(rt, exc.errors)
    flagged: dict[int, str] = {}
    if models.profile is not None:
        outside = models.profile.check(columns)
        if outside and rt.settings.serving.out_of_profile == "refuse":
            rt.metrics.out_of_profile.labels("refused").inc(len({p.row for p in outside}))
            errors = [
                {
                    "loc": [loc, p.column] if single else [loc, p.row, p.column],
                    "msg": p.msg,
                    "type": "out_of_profile",
                }
                for p in outside[:20]
            ]
            return invalid_input(rt, errors)
        for p in outside:
            flagged[p.row] = f"{flagged[p.row]},{p.column}" if p.row in flagged else p.column
        if flagged:
            rt.metrics.out_of_profile.labels("flagged").inc(len(flagged))
    frame = models.schema.build(columns)
    rt.metrics.prepared.inc()
    request_id = uuid.uuid4().hex
    ctx = RequestContext(request_id, body.user_id, body.attributes, frozenset(body.segments))
    shadow = rt.shadow
    has_shadows = shadow is not None and bool(shadow.targets) and not shadow.stopped.is_set()
    writer = rt.writer
    chosen, new_stratum = route(
        ctx,
        rt.rollout,
        rt.flags.current,
        challenger_version=models.challenger_version,
        state=rt.state,
        has_shadows=has_shadows,
        assigner=rt.assigner,
        log_healthy=writer is None or writer.healthy,
    )
    now = time.time()
    extra: list[Row] = []
    if new_stratum is not None and body.user_id is not None:
        extra.append(
            AssignmentRow(rt.rollout.ab.experiment, body.user_id, chosen.arm, new_stratum, now)
        )
    rows = functools.partial(
        PredictionRow.for_records,
        records,
        request_id=request_id,
        ts=now,
        user_id=body.user_id,
        strategy=rt.strategy,
        experiment=chosen.experiment,
        arm=chosen.arm,
        stage=chosen.stage,
        attributes=body.attributes,
        flagged=flagged,
    )
    served = (
        models.challenger if chosen.arm == CHALLENGER and models.challenger else models.champion
    )
    status, error = "ok", None
    m0 = time.thread_time()  # CPU time of the prediction, comparable with the shadows'
    try:
        scores = served_scores(served.model, frame, rt.task)
    except Exception as exc:
        error = f"v{served.version} failed: {type(exc).__name__}: {exc}"[:500]
        if served is models.champion:
            rt.metrics.errors.labels("champion", "model_error").inc()
            failed = rows(
                None,
                variant="champion",
                model_version=served.version,
                challenger_version=models.challenger_version,
                model_ms=None,
                latency_ms=(time.perf_counter() - t0) * 1000.0,
                status="error",
                error=error,
            )
            logged = await _log(rt, [*extra, *failed])
            detail = f"the champion could not predict: {error}"
            return json_response(
                {"detail": detail, "request_id": request_id, "logged": logged}, 500
            )
        # The challenger failed: the user still gets the champion's answer.
        rt.metrics.errors.labels("challenger", "fallback").inc()
        status = "fallback"
        served = models.champion
        scores = served_scores(served.model, frame, rt.task)
    model_ms = (time.thread_time() - m0) * 1000.0
    variant = "challenger" if served is models.challenger else "champion"
    handoff = _to_shadows(rt, shadow, chosen, models, request_id, columns, len(records), now)
    chal_v = models.challenger_version
    if rt.strategy == "shadow":  # the challenger under comparison is a shadow here
        chal_v = models.shadows.get(CHALLENGER)
    answered = rows(
        scores,
        variant=variant,
        model_version=served.version,
        challenger_version=chal_v,
        model_ms=model_ms,
        latency_ms=(time.perf_counter() - t0) * 1000.0,
        status=status,
        error=error,
    )
    logged = await _log(rt, [*extra, *answered])
    latency_s = time.perf_counter() - t0
    if logged:
        rt.remember(request_id, len(records))
    m = rt.metrics
    m.requests.labels(variant).inc()
    m.records.labels(variant).inc(len(records))
    m.latency.labels(variant).observe(latency_s)
    predictions = answers(scores, rt.task, rt.threshold, served.classes)
    for i, fields in flagged.items():
        predictions[i]["out_of_profile"] = fields.split(",")
    out: dict[str, Any] = {
        "request_id": request_id,
        "variant": variant,
        "model_version": served.version,
        "arm": chosen.arm,
        "fallback": status == "fallback",
        "experiment": chosen.experiment,
        "stage": chosen.stage,
        "logged": logged,
        "predictions": predictions,
    }
    if single:
        out["prediction"] = predictions[0]
    headers = {"x-request-id": request_id, "x-logged": "true" if logged else "false"}
    return json_response(out, headers=headers, background=handoff)


def answers(
    scores: Any, task: str, threshold: float, classes: tuple[Any, ...] | None = None
) -> list[dict[str, Any]]:
    """What /predict says about each record.

    Binary: ``{"score": P(class 1), "class": 0 or 1}`` (class 1 at the threshold).
    Multiclass: ``{"class": the most probable class, "probabilities": {class: p, ...}}``.
    Regression: ``{"value": the prediction}``.
    """
    if task == "regression":
        return [{"value": float(v)} for v in scores]
    if task == "multiclass":
        names = [str(c) for c in classes or ()]
        return [
            {
                "class": (classes or ())[int(np.argmax(row))],
                "probabilities": {n: float(p) for n, p in zip(names, row, strict=True)},
            }
            for row in scores
        ]
    return [{"score": float(s), "class": int(s >= threshold)} for s in scores]


def _number(label: float | str | None) -> float | None:
    """A label as a finite number, or None (text that is no number, NaN, infinity)."""
    if label is None:
        return None
    try:
        value = float(label)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def truth_codes(
    items: list[FeedbackItem], task: str, classes: tuple[Any, ...] | None
) -> tuple[list[float | None], str | None]:
    """Each label as the log keeps it (0/1, the class's code, the true value), or why some
    label does not fit ``data.task`` (a 422 detail)."""
    codes: list[float | None] = []
    wrong: list[str] = []
    index: dict[Any, int] = {}
    for i, c in enumerate(classes or ()):
        index.setdefault(c, i)
        index.setdefault(str(c), i)
    for item in items:
        label = item.label
        number = _number(label)  # "1" and 1 are the same label, as before labels were typed
        if label is None:
            codes.append(None)
        elif task == "multiclass" and label in index:
            codes.append(float(index[label]))
        elif number is not None and (
            task == "regression" or (task == "binary" and number in (0, 1))
        ):
            codes.append(number)
        else:
            wrong.append(f"{item.request_id}[{item.index}]: {label!r}")
            codes.append(None)
    if not wrong:
        return codes, None
    want = {
        "binary": "0 or 1",
        "regression": "a number",
        "multiclass": f"one of the model's classes {[str(c) for c in classes or ()]}",
    }[task]
    return codes, f"a {task} model's label is {want}; got {wrong[:3]}"


async def _log(rt: ServingRuntime, rows: list[Row]) -> bool:
    """Commit an answer's log rows before it is sent; False (counted) when they are not in."""
    writer = rt.writer
    if writer is None or not writer.enabled:
        return False
    outcome = await writer.commit(rows, rt.settings.serving.log_wait_seconds)
    if not outcome.written:
        rt.metrics.unlogged.inc()
    return outcome.written


def _to_shadows(
    rt: ServingRuntime,
    mirror: ShadowRunner | None,
    chosen: Route,
    models: ModelSet,
    request_id: str,
    columns: Columns,
    n_records: int,
    ts: float,
) -> BackgroundTask | None:
    """The hand-off of a mirrored request to the shadow worker, run after the answer is sent."""
    if not chosen.shadow or mirror is None:
        return None
    schema = models.schema

    async def to_shadows() -> None:
        # Runs on the event loop right after the answer is sent: the user never
        # waits for the hand-off (a non-blocking queue put of plain lists).
        if mirror.submit(request_id, columns, n_records, ts, schema):
            rt.metrics.shadow_submitted.inc()
        else:
            rt.metrics.shadow_dropped.inc()

    return BackgroundTask(to_shadows)


# ----------------------------------------------------------------------------- /feedback


async def feedback(rt: ServingRuntime, body: FeedbackItem | FeedbackBatch) -> Response:
    """POST /feedback: labels of answered records, checked against the log, committed first.

    202 when every label is recorded (or was already, identically); 409 naming the records
    that were labelled differently before (the others are recorded); 503 when the log
    could not record them (send them again).
    """
    writer = rt.writer
    if writer is None or not writer.enabled:
        return json_response({"detail": "the prediction log is off; labels are not kept"}, 503)
    items = body.items if isinstance(body, FeedbackBatch) else [body]
    unknown: list[str] = []
    bad_index: list[str] = []
    for item in items:
        n = rt.recent.get(item.request_id)
        if n is None:
            n = await asyncio.to_thread(rt.store.records_of, item.request_id)
            if n is None:
                unknown.append(item.request_id)
                continue
            rt.remember(item.request_id, n)
        if item.index >= n:
            bad_index.append(f"{item.request_id}[{item.index}] (it had {n} records)")
    if unknown:
        return json_response(
            {
                "detail": f"{len(unknown)} unknown request id(s), e.g. {unknown[:3]}; "
                "send the request_id that /predict returned (an answer with logged: false "
                "is not in the log)",
                "unknown": unknown[:20],
            },
            404,
        )
    if bad_index:
        return json_response({"detail": f"record index out of range: {bad_index[:3]}"}, 422)
    codes, wrong = truth_codes(items, rt.task, rt.hub.current.champion.classes)
    if wrong:
        return json_response({"detail": wrong}, 422)
    now = time.time()
    rows = [
        FeedbackRow(
            i.request_id,
            i.index,
            code,
            i.value,
            now,
            overwrite=i.overwrite,
        )
        for i, code in zip(items, codes, strict=True)
    ]
    outcome = await writer.commit(rows, rt.settings.serving.log_wait_seconds)
    if not outcome.written:
        return json_response(
            {"detail": f"the labels were not recorded ({outcome.error}); send them again"}, 503
        )
    conflicts = outcome.conflicts
    accepted = len(items) - len(conflicts) - outcome.duplicates
    rt.metrics.feedback.inc(accepted)
    counts = {"accepted": accepted, "duplicates": outcome.duplicates, "replaced": outcome.replaced}
    if conflicts:
        shown = [f"{c.request_id}[{c.idx}]" for c in conflicts[:3]]
        return json_response(
            {
                "detail": f"{len(conflicts)} record(s) were labelled differently before, e.g. "
                f"{shown}; the first label stays (send overwrite: true to replace it)",
                "conflicts": [
                    {"request_id": c.request_id, "index": c.idx, "label": c.label, "value": c.value}
                    for c in conflicts[:100]
                ],
                **counts,
            },
            409,
        )
    return json_response(counts, 202)


# ------------------------------------------------------------------------ status and admin


async def metrics(rt: ServingRuntime) -> Response:
    """GET /metrics: the Prometheus text, with the log's gauges read now."""
    rt.update_log_gauges()
    return Response(rt.metrics.render(), media_type=PROMETHEUS_CONTENT_TYPE)


async def admin_state(rt: ServingRuntime) -> Response:
    """GET /admin/state: what /health says, plus the last 50 events."""
    events = await asyncio.to_thread(rt.store.events)
    return json_response({**rt.health(), "events": events[-50:]})


async def admin_flags(rt: ServingRuntime, patch: dict[str, Any]) -> Response:
    """PATCH /admin/flags: merge, validate, write the flags file and apply it now."""
    try:
        flags = await asyncio.to_thread(rt.flags.update, patch)
    except ConfigError as exc:
        return json_response({"detail": str(exc)}, 422)
    rt.event("flags_changed", by="admin", patch=patch)
    rt.refresh_flags()
    return json_response(flags.model_dump(mode="json"))


async def admin_rollback(rt: ServingRuntime, body: RollbackRequest) -> Response:
    """POST /admin/rollback: stop the challenger's traffic now (409 when nothing runs)."""
    if rt.strategy not in ("ab", "canary"):
        return json_response(
            {
                "detail": f"strategy {rt.strategy!r} serves only the champion; nothing to roll "
                "back (use the kill switch or the release.shadow flag)"
            },
            409,
        )
    state, stopped = await asyncio.to_thread(rt.stop_rollout, body.reason, "admin")
    if state is None:
        return json_response({"detail": "no rollout has started; nothing to roll back"}, 409)
    if stopped:
        return json_response({"rollout": state.to_dict()})
    return json_response(
        {
            "detail": f"the {state.strategy} of v{state.challenger_version} is already "
            f"{state.status} ({state.reason}); nothing to roll back",
            "rollout": state.to_dict(),
        },
        409,
    )


async def admin_reload(rt: ServingRuntime) -> Response:
    """POST /admin/reload: re-read the aliases now."""
    changed = await asyncio.to_thread(rt.refresh_models)
    return json_response({"changed": changed, **rt.health()})
