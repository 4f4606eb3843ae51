"""The prediction log's writer: one thread that commits queued rows in group commits.

The request path never touches the disk. It hands its rows to the writer as one
*submission* and, for answers and labels, waits for the commit (``LogWriter.commit``): the
writer takes everything queued, writes it in one transaction and commits, then tells each
waiting request whether its rows are in. A request waits for its own commit and nothing
more (no timer: while one transaction commits, the next group collects), so many requests
share a transaction and the wait stays about one commit long; it is bounded by
``serving.log_wait_seconds``, after which the answer goes out saying it was not logged.

The thread cannot die of a bad row: any failure (SQLite, or a value that cannot be
serialised) is caught. A failed transaction is retried one submission at a time, so one
bad request never costs another its rows; a submission that still fails is counted, kept
aside (appended as a JSON line to ``<log>.rejected.jsonl``) and reported to its waiter.
``healthy`` is False while the last write failed or a commit hangs; the app reports it in
``/health`` and ``/metrics`` and routes A/B and canary traffic to the champion meanwhile.

It also runs the configured side effects (``serving.effects``: JSON lines per written
record; once-only effects never run for shadow outputs). ``LogWriter.close`` drains the
queue before it returns, so nothing is lost on a clean shutdown.

This module is the thread and its bookkeeping: the queue, group commits and their retries,
the outcomes and their waiters, the rejected rows, the side effects and the health. What a
group's rows become in SQL (each row's ``INSERT``, first-wins labels) is
``challenger.online.log_sql``, beside the bulk columnar write a batch job uses
(``write_columns``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TextIO

from challenger.config import EffectConfig
from challenger.online.log import LogStore, PredictionRow, Row, ShadowRow
from challenger.online.log_sql import LabelConflict, LabelTally, write_rows

log = logging.getLogger(__name__)

#: A commit that takes longer than this makes the log unhealthy (a hung disk, a lock).
STALL_SECONDS: Final = 5.0
#: The rejected-rows file stops growing beyond this size (rows are still counted).
MAX_REJECTED_BYTES: Final = 100 * 1024 * 1024


@dataclass(frozen=True)
class Outcome:
    """What happened to one submission's rows.

    Attributes:
        written: Every row of the submission is committed (or, for labels, every label
            that did not conflict).
        error: Why it was not, if it was not.
        conflicts: Labels refused because the record was labelled differently before.
        duplicates: Labels identical to the recorded ones (nothing to write).
        replaced: Labels that overwrote a recorded one (the sender asked to).
    """

    written: bool
    error: str | None = None
    conflicts: tuple[LabelConflict, ...] = ()
    duplicates: int = 0
    replaced: int = 0


class _Submission:
    """Rows written together (all or none), and who waits for the outcome."""

    __slots__ = ("loop", "notify", "outcome", "rows")

    def __init__(
        self,
        rows: Sequence[Row],
        notify: Callable[[Outcome], None] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.rows = rows
        self.notify = notify
        self.loop = loop
        self.outcome: Outcome | None = None


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
    """The thread that writes the prediction log; ``put`` and ``commit`` never touch the disk.

    Args:
        store: The database.
        enabled: False turns the log off (rows are dropped, effects still run).
        effects: Side effects to run for each written prediction (and shadow output).
        root: Folder that relative effect paths resolve against.
        max_batch: Most rows per transaction.
        group_seconds: How long the thread collects after a group's first row before it
            writes (0: at once, what a request that waits for its commit needs). A writer
            nobody waits for (the shadow worker's, 1 s) commits less often with it, so it
            holds the database's write lock, which the answering app's commits would wait
            for, once a second instead of several times a second.
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
        group_seconds: float = 0.0,
    ) -> None:
        self.store = store
        self.enabled = enabled
        self.max_batch = max_batch
        self.group_seconds = group_seconds
        #: Where rows that could not be written are kept (JSON lines).
        self.rejected_path = store.path.with_name(store.path.name + ".rejected.jsonl")
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._effects = _Effects(effects, root)
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._written = 0
        self._failed = 0
        self._count_lock = threading.Lock()
        self._queued = 0
        self._done = 0
        self._last_error: str | None = None
        self._last_failure: float | None = None
        self._failing = False
        self._writing_since: float | None = None
        self._closed = False
        self._thread.start()

    # ---- producer side (the request path) ------------------------------------------------
    def put(self, row: Row) -> None:
        """Queue one row, written with the next group (nobody waits for it)."""
        self._submit(_Submission((row,)))

    def put_many(self, rows: Sequence[Row]) -> None:
        """Queue rows written together (all or none; nobody waits for them)."""
        if rows:
            self._submit(_Submission(tuple(rows)))

    def submit(self, rows: Sequence[Row], notify: Callable[[Outcome], None]) -> None:
        """Queue rows written together; ``notify`` gets the outcome (in the writer thread)."""
        self._submit(_Submission(tuple(rows), notify))

    async def commit(self, rows: Sequence[Row], timeout: float) -> Outcome:
        """Queue rows written together and wait (at most ``timeout`` seconds) for the commit.

        Returns:
            The outcome; ``written`` is False when the rows failed, the log is off or
            closed, or the commit did not come in time (the rows may still be written).
        """
        if not self.enabled:
            return Outcome(False, "the prediction log is off (serving.log_enabled: false)")
        if self._closed or not self._thread.is_alive():
            return Outcome(False, "the prediction log writer is not running")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()

        def resolve(outcome: Outcome) -> None:
            if not future.done():
                future.set_result(outcome)

        late = Outcome(False, f"the prediction log did not commit within {timeout:g} s")
        timer = loop.call_later(timeout, resolve, late)
        self._submit(_Submission(tuple(rows), resolve, loop))
        try:
            return await future
        finally:
            timer.cancel()

    def _submit(self, sub: _Submission) -> None:
        with self._count_lock:
            self._queued += len(sub.rows)
        self._queue.put(sub)

    # ---- state ----------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Rows queued and not yet written (or failed)."""
        return max(0, self._queued - self._done)

    @property
    def written(self) -> int:
        """Rows written so far."""
        return self._written

    @property
    def failed(self) -> int:
        """Rows that could not be written (see ``last_error`` and ``rejected_path``)."""
        return self._failed

    @property
    def last_error(self) -> str | None:
        """The last write error, if any."""
        return self._last_error

    @property
    def last_failure(self) -> float | None:
        """When (epoch seconds) rows last failed, if they ever did."""
        return self._last_failure

    @property
    def alive(self) -> bool:
        """Whether the writer thread runs."""
        return self._thread.is_alive()

    @property
    def problem(self) -> str | None:
        """Why the log cannot be trusted to write right now (None: it writes)."""
        if not self.enabled:
            return None
        if not self._thread.is_alive():
            return "the prediction log writer is not running"
        started = self._writing_since
        if started is not None and time.monotonic() - started > STALL_SECONDS:
            return (
                f"a prediction-log commit has been waiting for {time.monotonic() - started:.0f} s"
            )
        if self._failing:
            return f"the last prediction-log write failed: {self._last_error}"
        return None

    @property
    def healthy(self) -> bool:
        """The log is writing (see ``problem``)."""
        return self.problem is None

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
    def _take(self, block: bool) -> list[Any]:
        """The next group: one item (waiting for it if ``block``), then what is queued, up to
        ``max_batch`` rows."""
        try:
            items = [self._queue.get() if block else self._queue.get_nowait()]
        except queue.Empty:
            return []
        rows = len(items[0].rows) if isinstance(items[0], _Submission) else 0
        until = time.monotonic() + self.group_seconds if block else 0.0
        while rows < self.max_batch and not self._ends_group(items[-1]):
            wait = until - time.monotonic()
            try:
                item = self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            items.append(item)
            if isinstance(item, _Submission):
                rows += len(item.rows)
        return items

    def _ends_group(self, item: Any) -> bool:
        """A flush or a stop is answered at once, whatever ``group_seconds`` says."""
        return self.group_seconds > 0 and (item is self._STOP or isinstance(item, threading.Event))

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        stopping = False
        while True:
            items = self._take(block=not stopping)
            if not items:  # stopping, and nothing is left
                break
            subs = [i for i in items if isinstance(i, _Submission)]
            try:
                if subs:
                    conn = self._write(conn, subs)
            except Exception as exc:  # the thread must outlive anything a row can do
                log.exception("prediction log: unexpected failure")
                for sub in subs:
                    if sub.outcome is None:
                        self._reject(sub, f"{type(exc).__name__}: {exc}")
                self._failing = True
                self._reset(conn)
                conn = None
            finally:
                self._notify(subs)
            for item in items:
                if isinstance(item, threading.Event):
                    item.set()
                elif item is self._STOP:
                    stopping = True  # rows queued after the stop (late producers) still go in
        self._reset(conn)

    def _write(
        self, conn: sqlite3.Connection | None, subs: list[_Submission]
    ) -> sqlite3.Connection | None:
        """Write a group: one transaction, or one per submission when it fails."""
        if not self.enabled:
            for sub in subs:
                sub.outcome = Outcome(False, "the prediction log is off")
            self._done += sum(len(s.rows) for s in subs)
            self._effect(subs)
            return conn
        self._writing_since = time.monotonic()
        try:
            if conn is None:
                conn = self.store.open_connection()
            try:
                self._finish(subs, write_rows(conn, [s.rows for s in subs]))
            except Exception as exc:
                if len(subs) == 1 or isinstance(exc, sqlite3.OperationalError):
                    # One submission, or the database itself failing (locked, read-only,
                    # disk full, I/O): writing them one by one would fail the same way.
                    for sub in subs:
                        self._reject(sub, f"{type(exc).__name__}: {exc}")
                else:
                    log.warning(
                        "prediction log: a group of %d submissions failed (%s: %s); "
                        "writing them one by one",
                        len(subs),
                        type(exc).__name__,
                        exc,
                    )
                    for sub in subs:
                        try:
                            self._finish([sub], write_rows(conn, [sub.rows]))
                        except Exception as one:
                            self._reject(sub, f"{type(one).__name__}: {one}")
        except sqlite3.Error as exc:  # cannot even connect: every submission fails
            for sub in subs:
                if sub.outcome is None:
                    self._reject(sub, f"{type(exc).__name__}: {exc}")
        finally:
            self._writing_since = None
        written = any(s.outcome is not None and s.outcome.written for s in subs)
        if written:
            self._failing = False
            return conn
        # Nothing of the group went in: the log is failing, not one bad row. A fresh
        # connection next time, in case this one is what is broken.
        self._failing = True
        self._reset(conn)
        return None

    def _finish(self, subs: list[_Submission], labels: list[LabelTally]) -> None:
        """The submissions are committed: count them, run the effects, set the outcomes."""
        for sub, tally in zip(subs, labels, strict=True):
            n = len(sub.rows)
            self._written += n - len(tally.conflicts) - tally.duplicates
            self._done += n
            error = None
            if tally.conflicts:
                error = f"{len(tally.conflicts)} record(s) were labelled differently before"
            sub.outcome = Outcome(
                True, error, tuple(tally.conflicts), tally.duplicates, tally.replaced
            )
        self._effect(subs)

    def _effect(self, subs: list[_Submission]) -> None:
        if not self._effects:
            return
        served = [r for s in subs for r in s.rows if isinstance(r, PredictionRow | ShadowRow)]
        if not served:
            return
        try:
            self._effects.run(served)
        except Exception as exc:
            self._last_error = f"side effect failed: {type(exc).__name__}: {exc}"
            log.error("prediction log: side effect failed: %s", exc)

    def _reject(self, sub: _Submission, error: str) -> None:
        """A submission that cannot be written: counted, kept aside, reported."""
        n = len(sub.rows)
        self._failed += n
        self._done += n
        sub.outcome = Outcome(False, error[:500])
        self._note_failure(error)
        log.error(
            "prediction log: %d row(s) not written, kept in %s: %s", n, self.rejected_path, error
        )
        try:
            if (
                self.rejected_path.exists()
                and self.rejected_path.stat().st_size > MAX_REJECTED_BYTES
            ):
                return
            now = time.time()
            lines = [
                json.dumps(
                    {
                        "ts": now,
                        "error": error,
                        "kind": type(r).__name__,
                        "row": dataclasses.asdict(r),
                    },
                    default=repr,
                )
                + "\n"
                for r in sub.rows
            ]
            with self.rejected_path.open("a", encoding="utf-8") as handle:
                handle.write("".join(lines))
        except Exception as exc:  # the rows are counted; keeping them aside is best effort
            log.error(
                "prediction log: cannot keep rejected rows in %s: %s", self.rejected_path, exc
            )

    def _note_failure(self, error: str) -> None:
        self._last_error = error[:500]
        self._last_failure = time.time()

    @staticmethod
    def _reset(conn: sqlite3.Connection | None) -> None:
        """Close a connection that may be broken (the next write opens a new one)."""
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        return None

    @staticmethod
    def _notify(subs: list[_Submission]) -> None:
        """Tell every waiter its outcome: one wake-up per event loop, not one per request."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Submission]] = {}
        for sub in subs:
            if sub.notify is None or sub.outcome is None:
                continue
            if sub.loop is None:
                try:
                    sub.notify(sub.outcome)
                except Exception:
                    log.exception("prediction log: a waiter's callback failed")
            else:
                by_loop.setdefault(sub.loop, []).append(sub)
        for loop, waiting in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
                loop.call_soon_threadsafe(_resolve_all, waiting)


def _resolve_all(subs: list[_Submission]) -> None:
    for sub in subs:
        if sub.notify is not None and sub.outcome is not None:
            sub.notify(sub.outcome)
