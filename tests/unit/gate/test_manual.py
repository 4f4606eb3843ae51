"""The promotion a person asks for: the request is checked before anything is read."""

from __future__ import annotations

import pytest

from challenger.errors import ChallengerError
from challenger.gate.manual import Request


def test_a_forced_promotion_needs_a_reason() -> None:
    for reason in (None, "", "   "):
        with pytest.raises(ChallengerError, match="--force needs --reason"):
            Request("m", 3, force=True, reason=reason)


def test_the_trigger_and_the_override_reason_follow_force() -> None:
    gated = Request("m", 3, reason="looks good")
    forced = Request("m", 3, force=True, reason="hotfix")
    assert (gated.trigger, gated.force_reason) == ("manual_promotion", None)
    assert (forced.trigger, forced.force_reason) == ("manual_promotion (forced)", "hotfix")
