"""What a request body may be, checked before any endpoint sees it.

``BodyLimit`` refuses bodies above ``serving.max_body_bytes`` (413) before anything reads
them; ``StrictJSONRoute`` refuses bodies that are not JSON (415) and parses the rest with
``parse_json``, which keeps every value the app could not carry safely from being a
number or a string:

- ``NaN``, ``Infinity``, a number that overflows a double, and an integer literal beyond
  64 bits become an ``Unrepresentable`` value, which fails validation where it stands, so
  the 422 names the field (``record.age: expected a finite number, got NaN``);
- a body that is not UTF-8, holds an unpaired surrogate escape (``"\\ud800"``, which no
  database or UTF-8 writer takes), is nested deeper than the parser's recursion limit, or is
  not JSON at all gets a 422 that says so.
"""

from __future__ import annotations

import email.message
import json
import math
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Final

import orjson
from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: Integer literals wider than this many digits are never within 64 bits (sign aside).
_MAX_INT_DIGITS: Final = 19
_INT64: Final = (-(2**63), 2**63 - 1)
_SURROGATE_ESCAPE: Final = re.compile(rb"\\u[dD][89a-fA-F]")
_BODY_METHODS: Final = ("POST", "PUT", "PATCH")


@dataclass(frozen=True)
class Unrepresentable:
    """A JSON number the app refuses to carry: validation names the field it stands in.

    Attributes:
        literal: The number as it was written (shortened).
        why: What is wrong with it, e.g. "not a finite number".
    """

    literal: str
    why: str

    def __repr__(self) -> str:
        return f"{self.literal} ({self.why})"


def _int(text: str) -> int | Unrepresentable:
    digits = len(text) - text.startswith("-")
    if digits <= _MAX_INT_DIGITS - 1:
        return int(text)
    if digits <= _MAX_INT_DIGITS:
        value = int(text)
        if _INT64[0] <= value <= _INT64[1]:
            return value
    return Unrepresentable(_short(text), "an integer beyond 64 bits")


def _float(text: str) -> float | Unrepresentable:
    value = float(text)
    if math.isfinite(value):
        return value
    return Unrepresentable(_short(text), "a number too large for a double")


def _constant(text: str) -> Unrepresentable:
    return Unrepresentable(text, "not a finite number")


def _short(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:12]}...{text[-6:]} ({len(text)} characters)"


_DECODER: Final = json.JSONDecoder(parse_int=_int, parse_float=_float, parse_constant=_constant)


def _has_unpaired_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(
            _has_unpaired_surrogate(k) or _has_unpaired_surrogate(v) for k, v in value.items()
        )
    if isinstance(value, list):
        return any(_has_unpaired_surrogate(v) for v in value)
    return False


def _invalid(msg: str) -> HTTPException:
    return HTTPException(422, [{"loc": ["body"], "msg": msg, "type": "json_invalid"}])


def parse_json(raw: bytes) -> Any:
    """Parse a request body strictly (see the module docstring).

    Raises:
        HTTPException: 422 when the body is not UTF-8 JSON the app can carry.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid(
            f"the body is not UTF-8 (byte {exc.start}); send JSON encoded as UTF-8"
        ) from exc
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise _invalid(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except RecursionError as exc:
        raise _invalid("the body is nested too deeply; send flat records") from exc
    if _SURROGATE_ESCAPE.search(raw) and _has_unpaired_surrogate(value):
        raise _invalid(
            "the body holds an unpaired UTF-16 surrogate escape (\\ud800-\\udfff); "
            "send text as valid Unicode"
        )
    return value


def is_json(content_type: str | None) -> bool:
    """Whether a content-type header names JSON (application/json or application/*+json)."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


class _StrictRequest(Request):
    """A request whose body was read already, and whose JSON is parsed by ``parse_json``."""

    def __init__(self, scope: Scope, receive: Receive, raw: bytes) -> None:
        super().__init__(scope, receive)
        self._raw = raw
        self._parsed: tuple[Any] | None = None

    async def body(self) -> bytes:
        return self._raw

    async def json(self) -> Any:
        if self._parsed is None:
            self._parsed = (parse_json(self._raw),)
        return self._parsed[0]


class StrictJSONRoute(APIRoute):
    """A route whose body, when it takes one, must be JSON (415 otherwise), parsed by
    ``parse_json``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        takes_body = self.body_field is not None

        async def strict(request: Request) -> Response:
            raw = await request.body()
            content_type = request.headers.get("content-type")
            if takes_body and raw and not is_json(content_type):
                raise HTTPException(
                    415,
                    "the body must be JSON (content-type: application/json), not "
                    f"{content_type or 'without a content-type'}",
                )
            return await handler(_StrictRequest(request.scope, request.receive, raw))

        return strict


class BodyLimit:
    """Refuse request bodies larger than ``max_bytes`` with 413, before anything parses them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
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
