"""The champion history: one readable line per move of ``champion``, kept as registered-model tags.

Each move is the tag ``challenger.history.<n>`` (``n`` zero-padded, so the MLflow UI lists
them in order) whose value a person reads on the registered model's page::

    2026-12-02 17:10:05 UTC promote v3 (was v2): gate PROMOTE, roc_auc +0.0211: the lower bound … · run 4f1c…
    2026-12-02 18:02:41 UTC rollback v2 (was v3): partner fraud model misbehaves · run 9a0b…
    2026-12-02 18:30:00 UTC promote v5 (was v2) [abandoned: champion is v2: the move never happened]: …

The same line is the machine-readable entry: :func:`parse` gives back the dictionary every
reader uses (``n``, ``at``, ``kind``, ``from``, ``to``, ``reason``, ``run_id``, ``status`` and,
when there is one, ``note``); :func:`line` writes it. A status other than ``done`` (a move in
flight, or one an interrupted run never finished) is shown in brackets. Entries written as
JSON by older versions of challenger are read as they were.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from challenger.store.record import TAG

HISTORY = f"{TAG}history."
"""Prefix of the registered-model tags holding the history, one per move of champion."""
STARTED, DONE, ABANDONED_MOVE = "started", "done", "abandoned"
"""A history entry's status: written ``started`` before the move, ``done`` after it."""

_REASON_LIMIT = 1500
_AT = "%Y-%m-%d %H:%M:%S"
_LINE = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC (?P<kind>\S+) v(?P<to>\d+) "
    r"\((?:was v(?P<from>\d+)|first champion)\)"
    r"(?: \[(?P<status>[a-z]+)(?:: (?P<note>[^\]]*))?\])?"
    r": (?P<reason>.*?)(?: · run (?P<run_id>[0-9A-Za-z_-]+))?$",
    re.DOTALL,
)


def key(n: int) -> str:
    """The tag of the ``n``-th move."""
    return f"{HISTORY}{n:05d}"


def number(tag: str) -> int | None:
    """The move's number of a history tag (None for any other tag)."""
    if not tag.startswith(HISTORY):
        return None
    rest = tag[len(HISTORY) :]
    return int(rest) if rest.isdigit() else None


def _when(at: str) -> str:
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        return at
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment:{_AT}} UTC"


def line(entry: Mapping[str, Any]) -> str:
    """The readable line of a history entry (what the tag holds)."""
    was = "first champion" if entry.get("from") is None else f"was v{entry['from']}"
    status = str(entry.get("status") or DONE)
    shown = ""
    if status != DONE or entry.get("note"):
        shown = f" [{status}: {entry['note']}]" if entry.get("note") else f" [{status}]"
    reason = str(entry.get("reason") or "")[:_REASON_LIMIT]
    run = f" · run {entry['run_id']}" if entry.get("run_id") else ""
    return f"{_when(str(entry['at']))} {entry['kind']} v{entry['to']} ({was}){shown}: {reason}{run}"


def parse(tag: str, value: str) -> dict[str, Any]:
    """A history tag's entry as a dictionary (a line, or an older version's JSON).

    A value that is neither comes back as ``{"n": n, "raw": value}``: shown, never guessed at.
    """
    n = number(tag)
    m = _LINE.match(value)
    if m is not None:
        at = datetime.strptime(m["at"], _AT).replace(tzinfo=UTC)
        entry: dict[str, Any] = {
            "n": n,
            "at": at.isoformat(timespec="seconds"),
            "kind": m["kind"],
            "from": int(m["from"]) if m["from"] else None,
            "to": int(m["to"]),
            "reason": m["reason"],
            "run_id": m["run_id"],
            "status": m["status"] or DONE,
        }
        if m["note"]:
            entry["note"] = m["note"]
        return entry
    try:
        old = json.loads(value)
    except ValueError:
        old = None
    if isinstance(old, dict):
        return old
    return {"n": n, "raw": value}


def entries(tags: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
    """Every history entry among a registered model's tags, oldest first."""
    numbered = sorted((n, k, v) for k, v in tags if (n := number(k)) is not None)
    return [parse(k, v) for _, k, v in numbered]
