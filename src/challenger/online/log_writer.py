"""The prediction log's writer: a background thread that inserts queued rows in batches.

The request path never touches the disk: it puts a row (``challenger.online.log``) on a
queue, and the writer thread inserts in batches (one transaction per batch) and runs the
configured side effects (``serving.effects``: JSON lines per answered record; once-only
effects never run for shadow outputs). ``LogWriter.close`` drains the queue before it
returns, so nothing is lost on a clean shutdown.
"""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, TextIO

import orjson

from challenger.config import EffectConfig
from challenger.online.log import (
    INSERT_EVENT,
    AssignmentRow,
    FeedbackRow,
    LogStore,
    PredictionRow,
    Row,
    ShadowRow,
    fingerprint_record,
)

log = logging.getLogger(__name__)

_INSERT_PREDICTION: Final = (
    "INSERT OR REPLACE INTO predictions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_INSERT_SHADOW: Final = "INSERT OR REPLACE INTO shadows VALUES (?,?,?,?,?,?,?,?)"
_INSERT_FEEDBACK: Final = "INSERT OR REPLACE INTO feedback VALUES (?,?,?,?,?)"
_INSERT_ASSIGNMENT: Final = "INSERT OR IGNORE INTO assignments VALUES (?,?,?,?,?)"


class _Effects:
    """The configured side effects; once-only effects never run for shadow outputs."""

    def __init__(self, effects: Sequence[EffectConfig], root: Path) -> None:
        self._files: list[tuple[EffectConfig, TextIO]] = []
        for effect in effects:
            path = effect.path if effect.path.is_absolute() else root / effect.path
            path.parent.mkdir(parents=True, exist_ok=True)
            self._files.append((effect, path.open("a", encoding="utf-8")))

    def __bool__(self) -> bool:
        return bool(self._files)

    def run(self, rows: Sequence[PredictionRow | ShadowRow]) -> None:
        for effect, handle in self._files:
            lines = []
            for row in rows:
                if isinstance(row, ShadowRow):
                    if effect.once_only:
                        continue
                    doc = {
                        "request_id": row.request_id,
                        "index": row.idx,
                        "role": "shadow",
                        "model": row.model,
                        "version": row.model_version,
                        "score": row.score,
                    }
                else:
                    doc = {
                        "request_id": row.request_id,
                        "index": row.idx,
                        "role": "served",
                        "model": row.variant,
                        "version": row.model_version,
                        "score": row.score,
                    }
                lines.append(json.dumps(doc) + "\n")
            if lines:
                handle.write("".join(lines))
                handle.flush()

    def close(self) -> None:
        for _, handle in self._files:
            handle.close()


class LogWriter:
    """A background thread that writes queued rows in batches; ``put`` never blocks.

    Args:
        store: The database.
        enabled: False turns the log off (rows are dropped, effects still run).
        effects: Side effects to run for each written prediction (and shadow output).
        root: Folder that relative effect paths resolve against.
        max_batch: Most rows per transaction.
    """

    _STOP: Final = object()

    def __init__(
        self,
        store: LogStore,
        *,
        enabled: bool = True,
        effects: Sequence[EffectConfig] = (),
        root: Path = Path("."),
        max_batch: int = 5000,
    ) -> None:
        self.store = store
        self.enabled = enabled
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._effects = _Effects(effects, root)
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._written = 0
        self._failed = 0
        self._last_error: str | None = None
        self._closed = False
        self._thread.start()

    # ---- producer side (the request path) ------------------------------------------------
    def put(self, row: Row) -> None:
        """Queue one row (microseconds; the writer thread does the I/O)."""
        self._queue.put(row)

    def put_many(self, rows: Sequence[Row]) -> None:
        """Queue several rows."""
        for row in rows:
            self._queue.put(row)

    @property
    def pending(self) -> int:
        """Rows queued and not yet written."""
        return self._queue.qsize()

    @property
    def written(self) -> int:
        """Rows written so far."""
        return self._written

    @property
    def failed(self) -> int:
        """Rows that could not be written (see ``last_error``)."""
        return self._failed

    @property
    def last_error(self) -> str | None:
        """The last write error, if any."""
        return self._last_error

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every row queued before this call is written; False on timeout."""
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write everything still queued, then stop the thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(self._STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("the prediction log did not drain within %.0f s", timeout)
        self._effects.close()

    # ---- the writer thread ----------------------------------------------------------------
    def _run(self) -> None:
        conn = sqlite3.connect(self.store.path, timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA synchronous=NORMAL")
        try:
            while True:
                first = self._queue.get()
                batch = [first]
                while len(batch) < self.max_batch:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                stop = any(item is self._STOP for item in batch)
                rows = [item for item in batch if isinstance(item, Row)]
                if rows:
                    self._write(conn, rows)
                for item in batch:
                    if isinstance(item, threading.Event):
                        item.set()
                if stop:
                    # Rows queued after the stop marker (late producers) still get written.
                    rest = []
                    while True:
                        try:
                            item = self._queue.get_nowait()
                        except queue.Empty:
                            break
                        if isinstance(item, threading.Event):
                            item.set()
                        elif isinstance(item, Row):
                            rest.append(item)
                    if rest:
                        self._write(conn, rest)
                    return
        finally:
            conn.close()

    def _write(self, conn: sqlite3.Connection, rows: list[Row]) -> None:
        served = [r for r in rows if isinstance(r, PredictionRow | ShadowRow)]
        if self.enabled:
            try:
                self._insert(conn, rows)
                self._written += len(rows)
            except sqlite3.Error as exc:
                self._failed += len(rows)
                self._last_error = f"{type(exc).__name__}: {exc}"
                log.error("prediction log: %d rows not written: %s", len(rows), exc)
        if self._effects and served:
            try:
                self._effects.run(served)
            except OSError as exc:
                self._last_error = f"side effect failed: {exc}"
                log.error("prediction log: side effect failed: %s", exc)

    @staticmethod
    def _insert(conn: sqlite3.Connection, rows: list[Row]) -> None:
        predictions, shadows, feedback, assignments, events = [], [], [], [], []
        for r in rows:
            if isinstance(r, PredictionRow):
                predictions.append(
                    (
                        r.request_id,
                        r.idx,
                        r.ts,
                        r.user_id,
                        r.strategy,
                        r.experiment,
                        r.arm,
                        r.variant,
                        r.model_version,
                        r.challenger_version,
                        r.stage,
                        fingerprint_record(r.record),
                        r.score,
                        r.model_ms,
                        r.latency_ms,
                        r.status,
                        r.error,
                        orjson.dumps(r.attributes).decode() if r.attributes else None,
                    )
                )
            elif isinstance(r, ShadowRow):
                shadows.append(
                    (
                        r.request_id,
                        r.idx,
                        r.model,
                        r.ts,
                        r.model_version,
                        r.score,
                        r.model_ms,
                        r.error,
                    )
                )
            elif isinstance(r, FeedbackRow):
                feedback.append((r.request_id, r.idx, r.label, r.value, r.ts))
            elif isinstance(r, AssignmentRow):
                assignments.append((r.experiment, r.user_id, r.arm, r.stratum, r.ts))
            else:
                events.append((r.ts, r.kind, json.dumps(dict(r.detail), default=str)))
        conn.execute("BEGIN")
        try:
            if predictions:
                conn.executemany(_INSERT_PREDICTION, predictions)
            if shadows:
                conn.executemany(_INSERT_SHADOW, shadows)
            if feedback:
                conn.executemany(_INSERT_FEEDBACK, feedback)
            if assignments:
                conn.executemany(_INSERT_ASSIGNMENT, assignments)
            if events:
                conn.executemany(INSERT_EVENT, events)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
