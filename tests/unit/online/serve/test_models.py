"""Input validation against a model's signature: clear, complete, typed errors."""

from __future__ import annotations

import pytest

from challenger.errors import InputError
from challenger.online.serve.models import ColumnSpec, InputSchema

SCHEMA = InputSchema(
    (
        ColumnSpec("age", "double"),
        ColumnSpec("open_accounts", "long"),
        ColumnSpec("region", "string"),
    )
)


def test_prepare_builds_typed_frame() -> None:
    frame = SCHEMA.prepare([{"age": 30, "open_accounts": 2.0, "region": "north"}])
    assert list(frame.columns) == ["age", "open_accounts", "region"]
    assert str(frame["age"].dtype) == "float64" and str(frame["open_accounts"].dtype) == "int64"


@pytest.mark.parametrize(
    ("record", "loc", "msg"),
    [
        ({"open_accounts": 1, "region": "n"}, ["records", 0, "age"], "field required"),
        ({"age": "old", "open_accounts": 1, "region": "n"}, ["records", 0, "age"], "finite number"),
        ({"age": True, "open_accounts": 1, "region": "n"}, ["records", 0, "age"], "finite number"),
        ({"age": float("nan"), "open_accounts": 1, "region": "n"}, ["records", 0, "age"], "finite"),
        (
            {"age": 1, "open_accounts": 1.5, "region": "n"},
            ["records", 0, "open_accounts"],
            "integer",
        ),
        ({"age": 1, "open_accounts": 1, "region": 7}, ["records", 0, "region"], "string"),
        ({"age": 1, "open_accounts": 1, "region": "x" * 2000}, ["records", 0, "region"], "string"),
        (
            {"age": 1, "open_accounts": 1, "region": "n", "x": 1},
            ["records", 0, "x"],
            "unknown field",
        ),
    ],
)
def test_prepare_names_the_bad_field(
    record: dict[str, object], loc: list[object], msg: str
) -> None:
    with pytest.raises(InputError) as exc:
        SCHEMA.prepare([record])
    assert exc.value.errors[0]["loc"] == loc
    assert msg in exc.value.errors[0]["msg"]


def test_every_error_is_listed_and_single_records_have_no_index() -> None:
    with pytest.raises(InputError) as exc:
        SCHEMA.prepare([{"age": "a", "open_accounts": "b"}], loc="record")
    locs = [e["loc"] for e in exc.value.errors]
    assert locs == [["record", "age"], ["record", "open_accounts"], ["record", "region"]]
