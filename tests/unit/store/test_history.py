"""The champion history: one readable line per move, parsed back into the entry readers use."""

from __future__ import annotations

import json

from challenger.store.history import entries, key, line, number, parse

RUN = "4f1c0a9be2d34c7f8e6a5b4c3d2e1f00"


def _entry(**over: object) -> dict[str, object]:
    return {
        "n": 3,
        "at": "2026-12-02T17:10:05+00:00",
        "kind": "promote",
        "from": 2,
        "to": 3,
        "reason": "gate PROMOTE, roc_auc +0.0211: the lower bound clears +0.002 (p=0.01)",
        "run_id": RUN,
        "status": "done",
    } | over


def test_a_move_reads_as_a_sentence_and_parses_back() -> None:
    entry = _entry()
    text = line(entry)
    assert text == (
        "2026-12-02 17:10:05 UTC promote v3 (was v2): gate PROMOTE, roc_auc +0.0211: the lower "
        f"bound clears +0.002 (p=0.01) · run {RUN}"
    )
    assert parse(key(3), text) == entry
    assert key(3) == "challenger.history.00003" and number(key(3)) == 3


def test_every_status_note_and_first_champion_round_trip() -> None:
    cases = [
        _entry(**{"from": None, "run_id": None, "kind": "forced", "reason": ""}),
        _entry(status="started"),
        _entry(status="abandoned", note="champion is v2: the move never happened"),
        _entry(status="done", note="completed after an interrupted run"),
        _entry(kind="online-promote", reason="online shadow: agreement 0.97\nsecond line"),
    ]
    for entry in cases:
        assert parse(key(3), line(entry)) == entry, line(entry)
    assert "[abandoned: champion is v2" in line(cases[2]) and "(first champion)" in line(cases[0])


def test_entries_written_as_json_by_older_versions_still_read() -> None:
    old = {"n": 1, "at": "2026-01-01T00:00:00+00:00", "kind": "promote", "from": None, "to": 1,
           "reason": "first", "run_id": "r", "status": "done"}  # fmt: skip
    tags = [
        (key(2), line(_entry(n=2, to=2, **{"from": 1}))),
        ("challenger.history.x", "ignored"),
        ("challenger.demo", "true"),
        (key(1), json.dumps(old)),
        (key(10), "garbled"),
    ]
    got = entries(tags)
    assert [e["n"] for e in got] == [1, 2, 10]  # by number, oldest first
    assert got[0] == old and got[1]["from"] == 1
    assert got[2] == {"n": 10, "raw": "garbled"}
