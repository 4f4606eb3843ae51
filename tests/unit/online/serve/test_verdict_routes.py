"""What Flagger is answered for each verdict, and the request bodies both tools send."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from challenger.online.serve.verdict_routes import (
    FlaggerPayload,
    VerdictQuery,
    flagger_status,
)


def test_flagger_passes_a_gate_only_on_pass_and_rolls_back_only_on_fail() -> None:
    # Flagger: a status above 202 is "not passed"; a rollback hook's 2xx rolls back.
    gate = {v: flagger_status(v, "gate") for v in ("pass", "fail", "inconclusive")}
    assert gate == {"pass": 200, "fail": 412, "inconclusive": 425}
    rollback = {v: flagger_status(v, "rollback") for v in ("pass", "fail", "inconclusive")}
    assert rollback == {"pass": 409, "fail": 200, "inconclusive": 409}
    # Neither "hold" answer is a 5xx, which Flagger's retrying client would repeat at once.
    assert all(s < 500 for s in (*gate.values(), *rollback.values()))


def test_flagger_payloads_of_old_and_new_releases_are_read() -> None:
    new = FlaggerPayload.model_validate(
        {
            "name": "loan-scorer",
            "namespace": "ml",
            "phase": "Progressing",
            "checksum": "5c8b7dd694",
            "metadata": {"challenger_version": "7"},
            "a_field_of_a_future_release": True,
        }
    )
    assert (new.name, new.phase, new.metadata) == (
        "loan-scorer",
        "Progressing",
        {"challenger_version": "7"},
    )
    old = FlaggerPayload.model_validate({"name": "loan-scorer", "namespace": "ml"})
    assert old.checksum == "" and old.metadata == {}
    with pytest.raises(ValidationError):
        FlaggerPayload.model_validate({"namespace": "ml"})


def test_an_argo_json_body_may_carry_the_version_as_a_string() -> None:
    # AnalysisTemplate args are strings: jsonBody {"challenger_version": "{{args.v}}"}.
    assert VerdictQuery.model_validate({"challenger_version": "7"}).challenger_version == 7
    assert VerdictQuery.model_validate({}).challenger_version is None
    for bad in ({"challenger_version": "seven"}, {"challenger_version": 0}, {"version": 7}):
        with pytest.raises(ValidationError):
            VerdictQuery.model_validate(bad)
