"""Flows leave the objects a process imported out of later cycle collections, once."""

from __future__ import annotations

import gc

import flows.common as common
import pytest


def test_the_first_flow_freezes_the_heap_and_later_ones_do_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    frozen: list[int] = []
    monkeypatch.setattr(common, "_heap_frozen", False)
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(1))
    common.freeze_heap()
    common.freeze_heap()
    assert frozen == [1]
