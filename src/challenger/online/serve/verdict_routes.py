"""The judge's verdict over HTTP, in the shapes Argo Rollouts and Flagger ask for it.

Endpoints (no token: they only read, like ``/health``):
    GET  /rollout/verdict          the verdict as JSON, always HTTP 200 (an Argo Rollouts
    POST /rollout/verdict          ``web`` metric: ``jsonPath: "{$.verdict}"``,
                                   ``successCondition: result == "pass"``,
                                   ``failureCondition: result == "fail"``; neither holding
                                   makes Argo's measurement Inconclusive)
    POST /rollout/flagger          a Flagger gate webhook (confirm-rollout, pre-rollout,
                                   rollout, confirm-promotion): 200 pass, 412 fail,
                                   425 inconclusive
    POST /rollout/flagger/rollback a Flagger ``rollback`` webhook: 200 (roll back) only on
                                   fail, 409 otherwise

All of them answer ``challenger.online.verdict.judge``: the online analysis's own review of the
prediction log (for a canary, ``judge_canary`` on the running stage), never a second judge.
The caller may name the challenger version it rolls out (``challenger_version``: a query
parameter, a field of the POST body, or Flagger ``metadata``); a decision about another
version is then inconclusive. When the judge cannot run (the registry is unreachable, say)
the answer is 503 with the reason: for Argo a measurement Error (counted against
``consecutiveErrorLimit``), for Flagger a failed check — an error is not a verdict.

Why Argo always gets 200: its web provider marks any non-2xx answer an Error, so the verdict
has to travel in the body for ``successCondition``/``failureCondition`` to see it, and
inconclusive (neither condition true) stays Inconclusive, which pauses the Rollout instead of
aborting it.

Why inconclusive is a non-2xx for Flagger, and which one: Flagger reads any status above 202
as "not passed" and nothing else, so an inconclusive 200 would let a canary with too little
data through a ``confirm-promotion`` gate; a non-2xx there only holds the promotion (the
metric checks go on) until the judge has enough data. It is 425 (Too Early), a 4xx, so
Flagger's retrying client (``retries`` of a webhook retries 5xx answers) does not hammer the
judge within one check. The same status under a ``rollout`` or ``pre-rollout`` hook counts
as a failed check towards ``threshold``: use those hook types only if "not enough evidence
yet" should count against the canary; the gate meant for this verdict is
``confirm-promotion`` (with ``confirm-rollout`` or ``confirm-traffic-increase`` gating
earlier steps the same way), paired with a ``rollback`` hook on ``/rollout/flagger/rollback``
so that a failing judge rolls the canary back at once rather than holding it forever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from http import HTTPStatus
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from challenger.online.serve.body import StrictJSONRoute
from challenger.online.serve.routes import invalid_input, json_response
from challenger.online.serve.runtime import ServingRuntime
from challenger.online.verdict import Verdict, VerdictValue, judge

log = logging.getLogger(__name__)

#: How long a verdict waits for queued log rows to be committed before it reads the log.
FLUSH_SECONDS = 2.0
#: Versions a caller may name (registered-model versions are small positive integers).
Version = Annotated[int, Field(ge=1, le=2**31 - 1)]
Str253 = Annotated[str, StringConstraints(max_length=253)]

FlaggerHook = Literal["gate", "rollback"]

#: The status Flagger gets for each verdict, per kind of webhook (any status above 202 is
#: "not passed" to Flagger; a rollback hook rolls back on a 2xx).
FLAGGER_STATUS: dict[FlaggerHook, dict[VerdictValue, int]] = {
    "gate": {
        "pass": HTTPStatus.OK,
        "fail": HTTPStatus.PRECONDITION_FAILED,
        "inconclusive": HTTPStatus.TOO_EARLY,
    },
    "rollback": {
        "pass": HTTPStatus.CONFLICT,
        "fail": HTTPStatus.OK,
        "inconclusive": HTTPStatus.CONFLICT,
    },
}


class VerdictQuery(BaseModel):
    """The optional body of ``POST /rollout/verdict`` (an Argo ``web`` metric's ``jsonBody``)."""

    model_config = ConfigDict(extra="forbid")

    challenger_version: Version | None = Field(
        None,
        description="The challenger version being rolled out (Argo args are strings: "
        "a numeric string is accepted).",
    )


class FlaggerPayload(BaseModel):
    """What Flagger POSTs to a webhook: the canary, its phase and the hook's metadata.

    Unknown fields are ignored, not refused: Flagger has added fields over its releases
    (``checksum`` came later than ``phase``), and upgrading the controller must not turn a
    gate into a failed check.
    """

    model_config = ConfigDict(extra="ignore")

    name: Str253
    namespace: Str253
    phase: Str253 = ""
    checksum: Str253 = ""
    metadata: dict[Str253, str] = Field(default_factory=dict, max_length=64)


class _FlaggerMetadata(BaseModel):
    challenger_version: Version | None = None


def flagger_status(verdict: VerdictValue, hook: FlaggerHook) -> int:
    """The HTTP status that makes Flagger act on ``verdict`` for this kind of webhook."""
    return int(FLAGGER_STATUS[hook][verdict])


def _judge_now(rt: ServingRuntime, expected: int | None) -> Verdict:
    """Flush what the app queued, then judge (blocking: the router runs it in a thread)."""
    if rt.writer is not None:
        rt.writer.flush(timeout=FLUSH_SECONDS)
    return judge(rt.settings, rt.registry, rt.store, expected_version=expected)


async def _answer(
    request: Request, expected: int | None, extra: dict[str, Any] | None = None
) -> tuple[Verdict | None, Response]:
    rt: ServingRuntime = request.app.state.runtime
    try:
        verdict = await asyncio.to_thread(_judge_now, rt, expected)
    except Exception as exc:  # an error is not a verdict: say why, with a non-2xx
        log.exception("the rollout verdict could not be judged")
        detail = f"the judge could not run: {type(exc).__name__}: {exc}"[:500]
        return None, json_response({"detail": detail}, HTTPStatus.SERVICE_UNAVAILABLE)
    body = {
        **verdict.to_dict(),
        "model_name": rt.registry.model_name,
        "judged_at": time.time(),
        **(extra or {}),
    }
    return verdict, json_response(body)


router = APIRouter(route_class=StrictJSONRoute, tags=["rollout verdict"])


@router.get("/rollout/verdict")
async def get_verdict(request: Request, challenger_version: Version | None = None) -> Response:
    """The judge's verdict for the running rollout (always 200 while the judge runs)."""
    return (await _answer(request, challenger_version))[1]


@router.post("/rollout/verdict")
async def post_verdict(
    request: Request,
    body: VerdictQuery | None = None,
    challenger_version: Version | None = None,
) -> Response:
    """The same verdict for callers that POST (the body may name the challenger version)."""
    expected = body.challenger_version if body is not None else None
    return (await _answer(request, expected if expected is not None else challenger_version))[1]


async def _flagger(request: Request, payload: FlaggerPayload, hook: FlaggerHook) -> Response:
    rt: ServingRuntime = request.app.state.runtime
    try:
        meta = _FlaggerMetadata.model_validate(
            {"challenger_version": payload.metadata.get("challenger_version") or None}
        )
    except ValidationError as exc:
        errors = [
            {"loc": ["metadata", *e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        return invalid_input(rt, errors)
    canary = {
        "name": payload.name,
        "namespace": payload.namespace,
        "phase": payload.phase,
        "checksum": payload.checksum,
        "hook": hook,
    }
    verdict, response = await _answer(request, meta.challenger_version, {"flagger": canary})
    if verdict is not None:
        response.status_code = flagger_status(verdict.verdict, hook)
        log.info(
            "flagger %s hook of %s.%s (%s): %s -> %d",
            hook,
            payload.name,
            payload.namespace,
            payload.phase,
            verdict.verdict,
            response.status_code,
        )
    return response


@router.post("/rollout/flagger")
async def flagger_gate(request: Request, payload: FlaggerPayload) -> Response:
    """A Flagger gate: 200 lets the canary on, 412 (fail) and 425 (inconclusive) hold it."""
    return await _flagger(request, payload, "gate")


@router.post("/rollout/flagger/rollback")
async def flagger_rollback(request: Request, payload: FlaggerPayload) -> Response:
    """A Flagger rollback hook: 200 (Flagger rolls the canary back) only when the judge fails."""
    return await _flagger(request, payload, "rollback")
