"""The prediction log's SQL: what queued rows become in a transaction, and the bulk columnar write.

:func:`write_rows` is what the writer thread of ``challenger.online.log_writer`` does with
a group of submissions: one ``BEGIN IMMEDIATE`` transaction in which every row becomes its
``INSERT`` (the rows of one statement go in together through ``executemany``) and every
label is written first-wins: a label that contradicts the recorded one is not written but
reported (:class:`LabelConflict`), an identical one is a duplicate, and one sent with
``overwrite`` replaces it (:class:`LabelTally` counts them per submission).

:func:`write_columns` is a batch job's write (``challenger.online.batch_shadow``): many rows
given column by column, one ``INSERT ... SELECT ... FROM json_each(?)`` per table, in one
transaction on the caller's thread (no writer thread, no per-row objects).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Final

import orjson

from challenger.online.log import (
    INSERT_EVENT,
    AssignmentRow,
    EventRow,
    FeedbackRow,
    LogStore,
    PredictionRow,
    Row,
    ShadowRow,
    fingerprint_record,
)


def _insert(table: str, row_type: type, column: Mapping[str, str]) -> str:
    """``INSERT OR REPLACE`` of one row type: its fields in order (``column`` renames some)."""
    names = [column.get(f.name, f.name) for f in dataclasses.fields(row_type)]
    marks = ",".join("?" * len(names))
    return f"INSERT OR REPLACE INTO {table} ({', '.join(names)}) VALUES ({marks})"


# A row's parameters are its fields in order; a prediction's record is stored as its fingerprint.
_INSERT_PREDICTION: Final = _insert("predictions", PredictionRow, {"record": "fingerprint"})
_INSERT_SHADOW: Final = _insert("shadows", ShadowRow, {})
_PREDICTION_VALUES = attrgetter(*(f.name for f in dataclasses.fields(PredictionRow)))
_SHADOW_VALUES = attrgetter(*(f.name for f in dataclasses.fields(ShadowRow)))
_RECORD = [f.name for f in dataclasses.fields(PredictionRow)].index("record")
_ATTRIBUTES = [f.name for f in dataclasses.fields(PredictionRow)].index("attributes")
_INSERT_FEEDBACK: Final = (
    "INSERT {verb} INTO feedback (request_id, idx, label, value, ts) VALUES (?,?,?,?,?)"
)
_COMPLETE_FEEDBACK: Final = (
    "UPDATE feedback SET label = COALESCE(label, ?), value = COALESCE(value, ?), ts = ? "
    "WHERE request_id = ? AND idx = ?"
)
_INSERT_ASSIGNMENT: Final = (
    "INSERT OR IGNORE INTO assignments (experiment, user_id, arm, stratum, ts) VALUES (?,?,?,?,?)"
)


@dataclass(frozen=True)
class LabelConflict:
    """A label that contradicts the one already recorded for the same record (not written).

    Attributes:
        request_id: The answered request.
        idx: The record within it.
        label: The label recorded first (it stays).
        value: The business value recorded first.
    """

    request_id: str
    idx: int
    label: float | None
    value: float | None


@dataclass
class LabelTally:
    """What became of one submission's labels beyond being written."""

    conflicts: list[LabelConflict] = dataclasses.field(default_factory=list)
    duplicates: int = 0
    replaced: int = 0


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``; rolled back (and raised again) on any failure."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise


def _params(row: Row) -> tuple[str, tuple[Any, ...]]:
    """The statement and parameters of one row (raises on a value SQLite cannot take)."""
    if isinstance(row, PredictionRow):
        values = list(_PREDICTION_VALUES(row))
        values[_RECORD] = fingerprint_record(row.record)
        values[_ATTRIBUTES] = orjson.dumps(row.attributes).decode() if row.attributes else None
        return _INSERT_PREDICTION, tuple(values)
    if isinstance(row, ShadowRow):
        return _INSERT_SHADOW, _SHADOW_VALUES(row)
    if isinstance(row, AssignmentRow):
        return _INSERT_ASSIGNMENT, (row.experiment, row.user_id, row.arm, row.stratum, row.ts)
    if isinstance(row, EventRow):
        return INSERT_EVENT, (row.ts, row.kind, json.dumps(dict(row.detail), default=str))
    raise TypeError(f"not a prediction-log row: {type(row).__name__}")


def _label(conn: sqlite3.Connection, row: FeedbackRow, tally: LabelTally) -> None:
    """Write one label, first-wins: a contradicting label is a conflict unless it overwrites."""
    params = (row.request_id, row.idx, row.label, row.value, row.ts)
    if row.overwrite:
        existed = conn.execute(
            "SELECT 1 FROM feedback WHERE request_id = ? AND idx = ?", (row.request_id, row.idx)
        ).fetchone()
        conn.execute(_INSERT_FEEDBACK.format(verb="OR REPLACE"), params)
        tally.replaced += existed is not None
        return
    if conn.execute(_INSERT_FEEDBACK.format(verb="OR IGNORE"), params).rowcount == 1:
        return
    old_label, old_value = conn.execute(
        "SELECT label, value FROM feedback WHERE request_id = ? AND idx = ?",
        (row.request_id, row.idx),
    ).fetchone()
    clash = (row.label is not None and old_label is not None and row.label != old_label) or (
        row.value is not None and old_value is not None and row.value != old_value
    )
    if clash:
        tally.conflicts.append(LabelConflict(row.request_id, row.idx, old_label, old_value))
    elif (row.label is not None and old_label is None) or (
        row.value is not None and old_value is None
    ):
        conn.execute(_COMPLETE_FEEDBACK, (row.label, row.value, row.ts, row.request_id, row.idx))
    else:
        tally.duplicates += 1


def write_rows(conn: sqlite3.Connection, submissions: Sequence[Sequence[Row]]) -> list[LabelTally]:
    """Every row of the submissions in one transaction; what became of each one's labels.

    Raises (after the rollback) whatever SQLite or a value it cannot take raises.
    """
    with _transaction(conn):
        results: list[LabelTally] = []
        batched: dict[str, list[tuple[Any, ...]]] = {}
        for rows in submissions:
            tally = LabelTally()
            for row in rows:
                if isinstance(row, FeedbackRow):
                    _label(conn, row, tally)
                else:
                    sql, params = _params(row)
                    batched.setdefault(sql, []).append(params)
            results.append(tally)
        for sql, many in batched.items():
            conn.executemany(sql, many)
    return results


#: Per row type :func:`write_columns` takes: its statement's verb and table, the fields it is
#: given (by name) and the columns they are stored in, in the same order.
_BULK: Final = {
    PredictionRow: (
        "INSERT OR REPLACE INTO predictions",
        [f.name for f in dataclasses.fields(PredictionRow)],
        [{"record": "fingerprint"}.get(f.name, f.name) for f in dataclasses.fields(PredictionRow)],
    ),
    ShadowRow: (
        "INSERT OR REPLACE INTO shadows",
        [f.name for f in dataclasses.fields(ShadowRow)],
        [f.name for f in dataclasses.fields(ShadowRow)],
    ),
    FeedbackRow: (  # first label wins
        "INSERT OR IGNORE INTO feedback",
        ["request_id", "idx", "label", "value", "ts"],
        ["request_id", "idx", "label", "value", "ts"],
    ),
}


def write_columns(log: LogStore, tables: Sequence[tuple[type, Mapping[str, Any]]]) -> None:
    """Write many rows given column by column, in one transaction on this thread (a batch
    job's write: no writer thread, no per-row objects).

    Each table is a row type (``PredictionRow``, ``ShadowRow`` or ``FeedbackRow``) with its
    fields as stored: a sequence with one value per row, or one value for every row.
    A prediction's ``record`` is its fingerprint and ``attributes`` its JSON text; a
    feedback row has ``request_id, idx, label, value, ts`` and the first label of a row wins.

    The columns that vary go to SQLite as one JSON array of rows, unpacked by ``json_each``
    in one ``INSERT ... SELECT`` (the per-row work in C: half the time of ``executemany``'s
    per-row binding on 100,000 rows); the others are bound once. Values come back as stored
    by ``executemany`` (floats to the last bit; NaN, which SQLite stores as NULL, as NULL).
    """
    conn = log.open_connection()
    try:
        with _transaction(conn):
            for row_type, columns in tables:
                conn.execute(*_bulk_insert(row_type, columns))
    finally:
        conn.close()


def _bulk_insert(row_type: type, columns: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
    """One ``INSERT ... SELECT ... FROM json_each(?)`` of a table given by columns."""
    verb, fields, stored = _BULK[row_type]
    varying = [k for k in fields if not _scalar(columns[k])]
    at = {k: i for i, k in enumerate(varying)}
    exprs = [f"value ->> {at[k]}" if k in at else "?" for k in fields]
    params = [columns[k] for k in fields if k not in at]
    rows = orjson.dumps(
        list(zip(*(list(columns[k]) for k in varying), strict=True)),
        option=orjson.OPT_SERIALIZE_NUMPY,
    )
    sql = f"{verb} ({', '.join(stored)}) SELECT {', '.join(exprs)} FROM json_each(?)"
    return sql, (*params, rows)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float)
