"""Request bodies: JSON the app cannot carry is refused at the edge, naming the field."""

from __future__ import annotations

import pytest
from fastapi import HTTPException

from challenger.errors import InputError
from challenger.online.serve.body import Unrepresentable, is_json, parse_json
from challenger.online.serve.models import ColumnSpec, InputSchema


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b'{"age": 20000000000000000000}', "beyond 64 bits"),
        (b'{"age": 9223372036854775808}', "beyond 64 bits"),
        (b'{"age": -9223372036854775809}', "beyond 64 bits"),
        (b'{"age": 1' + b"0" * 400 + b"}", "beyond 64 bits"),
        (b'{"age": NaN}', "not a finite number"),
        (b'{"age": -Infinity}', "not a finite number"),
        (b'{"age": 1e400}', "too large for a double"),
    ],
)
def test_numbers_the_app_cannot_carry_become_markers_that_name_their_field(
    raw: bytes, why: str
) -> None:
    value = parse_json(raw)["age"]
    assert isinstance(value, Unrepresentable) and why in value.why
    assert len(repr(value)) < 80, "a 401-digit literal is shown shortened"
    schema = InputSchema((ColumnSpec("age", "double"),))
    with pytest.raises(InputError, match=r"record\.age: expected a finite number") as exc:
        schema.validate([{"age": value}], "record")
    assert why in str(exc.value)


def test_the_widest_64_bit_integers_and_plain_values_pass() -> None:
    body = parse_json(
        b'{"a": 9223372036854775807, "b": -9223372036854775808, "c": 1.5, "d": "\\ud83d\\ude00"}'
    )
    assert body == {"a": 2**63 - 1, "b": -(2**63), "c": 1.5, "d": "\U0001f600"}


@pytest.mark.parametrize(
    ("raw", "msg"),
    [
        (b'{"user_id": "\xff\xfe"}', "not UTF-8"),
        (b'{"user_id": "\\ud800"}', "surrogate"),
        (b'{"record": {"\\udfff": 1}}', "surrogate"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"record": ', "not valid JSON"),
        (b"", "not valid JSON"),
    ],
)
def test_bodies_that_are_not_json_the_app_can_carry_get_422(raw: bytes, msg: str) -> None:
    with pytest.raises(HTTPException) as exc:
        parse_json(raw)
    assert exc.value.status_code == 422
    assert msg in exc.value.detail[0]["msg"]


def test_only_json_content_types_are_json() -> None:
    assert is_json("application/json") and is_json("application/json; charset=utf-8")
    assert is_json("application/problem+json")
    for other in (None, "", "text/plain", "application/x-www-form-urlencoded", "text/json"):
        assert not is_json(other), other
