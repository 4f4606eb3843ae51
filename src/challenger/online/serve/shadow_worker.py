"""Shadow execution in a separate process, off the critical path.

The app validates each request once; after the answer has been sent, it hands the mirrored
request's *validated columns* (plain lists: they pickle in microseconds, where a DataFrame
takes a hundred) to a queue. A worker process with its own copies of the shadow models
builds the input frame from them with the same schema (``InputSchema.build``), predicts and
writes the outputs to the prediction log. It collects what arrives within
``LINGER_SECONDS`` and predicts it together (one frame, one call per model): a pipeline
costs about as much for a dozen rows as for one, so the worker needs a fraction of the CPU
the answering path does, and keeps up under load. The first request of every batch is also
predicted alone and timed; those CPU times are what the analysis reports as the latency a
shadow would add. A full queue drops the
mirrored request (counted) instead of slowing the answer. Only side effects not marked
``once_only`` run for shadow outputs: a shadow never repeats what the answer already did.

The worker's predicting thread runs under ``SCHED_IDLE`` (nice 19 where that is not
available): it gets a CPU only when nothing else wants it, so on a small machine a shadow
never delays an answer; under sustained saturation it falls behind and the queue bound
decides what is dropped. Its log-writer thread keeps the normal priority, so it never holds
the database's write lock while starved.

One bad row never costs the others: a batch the model fails on is predicted again request
by request, and a failing request row by row (``isolate``); each failing row is logged
with its own error, every other row with its score.

On a clean stop the worker finishes every queued request and flushes the log first. When
the app dies without stopping it (kill -9), the worker dies with it
(``challenger.online.serve.children``): the app starts it from a thread that lives until the
worker has stopped, and the worker asks for a parent-death signal and watches its parent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import multiprocessing as mp
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from challenger.config import EffectConfig
from challenger.online.log import ShadowRow, score_and_proba
from challenger.online.serve.models import Columns, InputSchema

log = logging.getLogger(__name__)

#: Most mirrored requests the worker predicts in one call.
MAX_BATCH = 64
#: How long the worker collects mirrored requests before it predicts them together.
LINGER_SECONDS = 0.25
#: How long the worker's log writer collects shadow rows before one commit: nobody waits for
#: them, and every commit takes the write lock the answering app's commits (which answers
#: wait for) then queue behind (issue 14's multiclass p99: 1.19x champion-only at 0 s).
WRITE_GROUP_SECONDS: Final = 1.0
#: Niceness of the shadow worker where ``SCHED_IDLE`` is not available.
SHADOW_NICENESS = 19
#: Seconds between two reports of the worker's stats to the app.
REPORT_SECONDS = 0.5


@dataclass(frozen=True)
class ShadowSpec:
    """What the worker process needs to start (picklable)."""

    tracking_uri: str
    model_name: str
    experiment: str
    artifact_root: str
    log_path: Path
    log_enabled: bool
    effects: tuple[EffectConfig, ...]
    root: Path
    targets: Mapping[str, int]
    model_threads: int = 1
    log_synchronous: str = "normal"
    task: str = "binary"  # data.task: how every shadow model is scored
    parent_pid: int = 0  # the app; 0: the worker's parent when it starts


@dataclass(frozen=True)
class ShadowStats:
    """What the worker did since its last report, per shadow model (for the app's metrics).

    Attributes:
        timed: CPU seconds of each warm prediction of one request on its own.
        errors: Records whose prediction failed.
        handled: Mirrored requests predicted.
        log_failed: Rows the worker's log writer could not write, since it started.
        log_error: Its last write error.
    """

    timed: Mapping[str, list[float]] = field(default_factory=dict)
    errors: Mapping[str, int] = field(default_factory=dict)
    handled: int = 0
    log_failed: int = 0
    log_error: str | None = None


# ------------------------------------------------------------- the worker's pure parts

#: What ``collect_batch`` returns when no message ended the batch.
NOTHING: Final = ("nothing",)


def collect_batch(
    first: tuple[Any, ...],
    inbox: Any,
    *,
    linger: float = LINGER_SECONDS,
    max_batch: int = MAX_BATCH,
    clock: Callable[[], float] = time.monotonic,
) -> tuple[list[tuple[Any, ...]], Any]:
    """Collect the mirrored requests that arrive within ``linger`` seconds of ``first``.

    A pipeline costs about as much for a few rows as for one, so the worker predicts them
    together (micro-batch) and needs a fraction of the CPU (and of the caches) the answering
    path shares with it.

    Args:
        first: The ``("predict", request_id, columns, rows, ts)`` message that opens the batch.
        inbox: The queue the messages come from (``get(timeout=...)``, ``get_nowait()``).
        linger: How long to wait for more after the first.
        max_batch: Most requests in one batch.
        clock: Monotonic seconds.

    Returns:
        The batch (``first`` and the predict messages after it), and the message that ended
        it (anything but a predict message, e.g. the stop ``None``: to handle next), or
        ``NOTHING`` when time or size ended it.
    """
    batch = [first]
    deadline = clock() + linger
    while len(batch) < max_batch:
        left = deadline - clock()
        try:
            nxt = inbox.get(timeout=left) if left > 0 else inbox.get_nowait()
        except queue.Empty:
            break
        if nxt is None or nxt[0] != "predict":
            return batch, nxt
        batch.append(nxt)
    return batch, NOTHING


def merge_columns(batch: Sequence[tuple[Any, ...]], names: Sequence[str]) -> Columns:
    """The validated columns of every request in a batch, concatenated in batch order."""
    return {name: [v for m in batch for v in m[2][name]] for name in names}


def shadow_rows(
    batch: Sequence[tuple[Any, ...]],
    model: str,
    version: int,
    scores: Sequence[Any],
    first_ms: float | None,
    errors: Sequence[str | None],
) -> list[ShadowRow]:
    """One shadow model's log rows for a batch: one per record, in batch order.

    Args:
        batch: The predict messages (``collect_batch``).
        model: The shadow's configured name.
        version: Its registered version.
        scores: Its score of each of the batch's records in order (None where it failed; a
            row of class probabilities for a multiclass model, see ``score_and_proba``).
        first_ms: CPU milliseconds of the first request predicted alone (None: not timed);
            only the first request's rows carry it.
        errors: Why the prediction of each record failed (None where it did not).
    """
    rows: list[ShadowRow] = []
    for j, (_, request_id, _, n, ts) in enumerate(batch):
        for i in range(n):
            k = len(rows)
            ms = first_ms if j == 0 else None
            score, proba = score_and_proba(scores[k])
            rows.append(ShadowRow(request_id, i, model, ts, version, score, ms, errors[k], proba))
    return rows


def isolate(
    score: Callable[[pd.DataFrame], Any], frame: pd.DataFrame, sizes: Sequence[int]
) -> tuple[list[Any], list[str | None]]:
    """Score a batch so that one failing row fails only itself.

    The whole frame first; if that raises, each request's rows (``sizes``, in order); and
    the rows of a request that still fails one by one.

    Args:
        score: The model's scoring (one score per row; raises when it cannot).
        frame: The batch's rows, request after request.
        sizes: Rows per request.

    Returns:
        The score of each row (None where it failed) and each row's error (None where it
        did not).
    """
    n = len(frame)
    try:
        return np.asarray(score(frame), dtype=np.float64).tolist(), [None] * n
    except Exception:
        pass
    scores: list[Any] = []
    errors: list[str | None] = []

    def attempt(part: pd.DataFrame) -> str | None:
        try:
            got = np.asarray(score(part), dtype=np.float64).tolist()
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        scores.extend(got)
        errors.extend([None] * len(got))
        return None

    start = 0
    for size in sizes:
        part = frame.iloc[start : start + size]
        start += size
        if size == 1 or attempt(part) is not None:
            for i in range(size):
                error = attempt(part.iloc[i : i + 1])
                if error is not None:
                    scores.append(None)
                    errors.append(error)
    return scores, errors


class StatsTally:
    """What the worker did since its last report, and when the next report is due.

    Args:
        every: Seconds between two reports (while requests are handled).
        now: Monotonic seconds at the start.
    """

    def __init__(self, every: float = REPORT_SECONDS, now: float = 0.0) -> None:
        self.every = every
        self.handled = 0
        self._reported = 0
        self._last = now
        self._timed: dict[str, list[float]] = {}
        self._errors: dict[str, int] = {}

    def timed(self, model: str, seconds: float) -> None:
        """A warm prediction of one request on its own took ``seconds`` of CPU."""
        self._timed.setdefault(model, []).append(seconds)

    def failed(self, model: str, n: int) -> None:
        """``n`` mirrored requests failed on ``model``."""
        self._errors[model] = self._errors.get(model, 0) + n

    def take(
        self,
        now: float,
        *,
        force: bool = False,
        log_failed: int = 0,
        log_error: str | None = None,
    ) -> ShadowStats | None:
        """The stats since the last report, when requests were handled since and a report
        is due (``every`` seconds passed, or ``force``); None otherwise.

        Args:
            now: Monotonic seconds.
            force: Report now if anything was handled.
            log_failed: The worker's log writer's failed rows so far (passed through).
            log_error: Its last error (passed through).
        """
        if self.handled <= self._reported or not (force or now - self._last > self.every):
            return None
        stats = ShadowStats(
            self._timed, self._errors, self.handled - self._reported, log_failed, log_error
        )
        self._timed, self._errors, self._reported = {}, {}, self.handled
        self._last = now
        return stats


def idle_priority() -> str:
    """Lower the calling thread's CPU priority as far as the OS allows; returns the policy.

    ``SCHED_IDLE`` runs the thread only on a CPU that nothing else wants, and the scheduler
    preempts it at once when an ordinary thread wakes up; threads started later inherit it.
    """
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return "idle"
    with contextlib.suppress(OSError):
        os.nice(SHADOW_NICENESS)
        return f"nice {SHADOW_NICENESS}"
    return "normal"


def _worker(spec: ShadowSpec, inbox: Any, outbox: Any) -> None:  # pragma: no cover - subprocess
    from challenger.online.serve.children import die_with_parent

    die_with_parent(spec.parent_pid or os.getppid())  # first: a kill -9 of the app ends us
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    from threadpoolctl import threadpool_limits

    from challenger.online.log import LogStore
    from challenger.online.log_writer import LogWriter
    from challenger.online.serve.models import served_scores, task_problem
    from challenger.store.registry import Registry
    from challenger.train.rows import compile_rows

    try:
        registry = Registry(spec.tracking_uri, spec.model_name)
        writer = LogWriter(
            LogStore(spec.log_path, spec.log_synchronous),
            enabled=spec.log_enabled,
            effects=spec.effects,
            root=spec.root,
            group_seconds=WRITE_GROUP_SECONDS,
        )
    except Exception as exc:
        outbox.put(("failed", f"{type(exc).__name__}: {exc}"))
        return
    # After the writer thread started (it keeps the normal priority): best effort by design,
    # when CPU is short the process that answers users wins.
    policy = idle_priority()
    loaded: dict[int, Any] = {}
    targets: dict[str, int] = {}

    def use(new_targets: Mapping[str, int]) -> list[str]:
        problems = []
        for version in set(new_targets.values()) - set(loaded):
            model = registry.load_model(version)
            problem = task_problem(model, spec.task)
            if problem is not None:
                problems.append(f"v{version} is {problem}: not shadowed (data.task {spec.task})")
                continue
            loaded[version] = compile_rows(model)  # a batch of a few requests: numpy
        for version in set(loaded) - set(new_targets.values()):
            del loaded[version]
        targets.clear()
        targets.update({k: v for k, v in new_targets.items() if v in loaded})
        return problems

    try:
        problems = use(spec.targets)
        # After loading: the models' OpenMP/BLAS libraries are in the process now.
        threadpool_limits(limits=spec.model_threads)
    except Exception as exc:
        outbox.put(("failed", f"{type(exc).__name__}: {exc}"))
        writer.close()
        return
    outbox.put(("ready", dict(targets), policy))
    for problem in problems:
        outbox.put(("error", problem))
    schema: InputSchema | None = None
    tally = StatsTally(now=time.monotonic())
    warm: set[int] = set()
    pending: Any = NOTHING  # a message read while batching, handled next (may be the stop None)

    def timed(model: Any, frame: pd.DataFrame) -> float | None:
        # CPU time of the prediction: what the model would cost on the answering path,
        # whatever else the (deprioritised) worker waited for meanwhile. None: it failed.
        t0 = time.thread_time()
        try:
            served_scores(model, frame, spec.task)
        except Exception:
            return None
        return time.thread_time() - t0

    while True:
        if pending is not NOTHING:
            msg, pending = pending, NOTHING
        else:
            try:
                msg = inbox.get(timeout=0.5)
            except queue.Empty:
                msg = ("tick",)
        if msg is None:
            break
        kind = msg[0]
        if kind == "schema":
            schema = msg[1]
        elif kind == "targets":
            try:
                for problem in use(msg[1]):
                    outbox.put(("error", problem))
                threadpool_limits(limits=spec.model_threads)
                outbox.put(("targets", dict(targets)))
            except Exception as exc:
                outbox.put(("error", f"loading shadow models failed: {exc}"))
        elif kind == "predict" and schema is not None:
            batch, pending = collect_batch(msg, inbox)
            tally.handled += len(batch)
            frame = schema.build(merge_columns(batch, schema.names))
            alone = schema.build(batch[0][2])
            sizes = [m[3] for m in batch]
            for name, version in targets.items():
                model = loaded[version]
                scores, errors = isolate(
                    functools.partial(served_scores, model, task=spec.task), frame, sizes
                )
                failed = sum(e is not None for e in errors)
                if failed:
                    tally.failed(name, failed)
                # The first request on its own, once the version is warm (its first call is
                # not): the CPU time one request costs, the latency a shadow would add.
                ms = None
                if version in warm and all(e is None for e in errors[: sizes[0]]):
                    seconds = timed(model, alone)
                    if seconds is not None:
                        ms = seconds * 1000.0
                        tally.timed(name, seconds)
                warm.add(version)
                writer.put_many(shadow_rows(batch, name, version, scores, ms, errors))
            outbox.put(("progress", tally.handled))  # what the app's ``pending`` counts down
        stats = tally.take(time.monotonic(), log_failed=writer.failed, log_error=writer.last_error)
        if stats is not None:
            outbox.put(("stats", stats))
    writer.close()
    stats = tally.take(
        time.monotonic(), force=True, log_failed=writer.failed, log_error=writer.last_error
    )
    if stats is not None:
        outbox.put(("stats", stats))
    outbox.put(("stopped", tally.handled))


class ShadowRunner:
    """The app's side of the shadow worker.

    Args:
        spec: Start parameters of the worker.
        queue_size: Mirrored requests that may wait; beyond it new ones are dropped.
        on_stats: Called (in a reader thread) with the worker's prediction stats.
    """

    def __init__(
        self,
        spec: ShadowSpec,
        queue_size: int,
        on_stats: Callable[[ShadowStats], None] | None = None,
    ) -> None:
        ctx = mp.get_context("spawn")
        self._inbox: Any = ctx.Queue(maxsize=queue_size)
        self._outbox: Any = ctx.Queue()
        if not spec.parent_pid:
            spec = dataclasses.replace(spec, parent_pid=os.getpid())
        self._proc = ctx.Process(
            target=_worker, args=(spec, self._inbox, self._outbox), name="shadow", daemon=True
        )
        self._on_stats = on_stats
        self.targets: dict[str, int] = dict(spec.targets)
        self.ready = threading.Event()
        self.stopped = threading.Event()
        self.error: str | None = None
        self.submitted = 0
        self.dropped = 0
        self.handled: int | None = None
        self.policy: str | None = None
        self._progress = (
            0  # mirrored requests the worker has predicted (it reports after each batch)
        )
        self._schema: InputSchema | None = None  # the last schema sent to the worker
        self._closed = False
        self._release = threading.Event()
        self._start_owned()
        self._reader = threading.Thread(target=self._read, name="shadow-reader", daemon=True)
        self._reader.start()

    def _start_owned(self) -> None:
        """Start the worker from a thread that lives until the worker has stopped.

        The worker's parent-death signal fires when the *thread* that started it ends; the
        app's helper threads (``asyncio.to_thread``) come and go, so the worker gets its
        own starter, which waits for ``close``.
        """
        started: queue.Queue[BaseException | None] = queue.Queue()

        def own() -> None:
            try:
                self._proc.start()
            except BaseException as exc:
                started.put(exc)
                return
            started.put(None)
            self._release.wait()

        threading.Thread(target=own, name="shadow-owner", daemon=True).start()
        error = started.get()
        if error is not None:
            raise error

    @property
    def pid(self) -> int | None:
        """The worker process's id."""
        return self._proc.pid

    def _read(self) -> None:
        while True:
            try:
                msg = self._outbox.get(timeout=0.5)
            except queue.Empty:
                if not self._proc.is_alive():
                    if not self.stopped.is_set():
                        self.error = self.error or "the shadow worker exited unexpectedly"
                    self.stopped.set()
                    return
                continue
            except (EOFError, OSError):
                self.stopped.set()
                return
            kind = msg[0]
            if kind == "ready":
                self.targets = dict(msg[1])
                self.policy = str(msg[2])
                self.ready.set()
            elif kind == "targets":
                self.targets = dict(msg[1])
            elif kind in ("failed", "error"):
                self.error = str(msg[1])
                log.error("shadow worker: %s", msg[1])
                if kind == "failed":
                    self.stopped.set()
                    return
            elif kind == "progress":
                self._progress = int(msg[1])
            elif kind == "stats" and self._on_stats is not None:
                self._on_stats(msg[1])
            elif kind == "stopped":
                self.handled = self._progress = int(msg[1])
                self.stopped.set()
                return

    @property
    def alive(self) -> bool:
        """Whether the worker process runs."""
        return self._proc.is_alive() and not self.stopped.is_set()

    @property
    def pending(self) -> int:
        """Mirrored requests not predicted yet: queued, or collected into the worker's batch."""
        return max(0, self.submitted - self._progress)

    def set_targets(self, targets: Mapping[str, int]) -> None:
        """Tell the worker which versions to shadow from now on (loaded before use)."""
        if dict(targets) != self.targets:
            self._inbox.put(("targets", dict(targets)))
            self.targets = dict(targets)

    def submit(
        self, request_id: str, columns: Columns, rows: int, ts: float, schema: InputSchema
    ) -> bool:
        """Mirror a validated request; never blocks. False when it was dropped.

        Args:
            request_id: The answered request.
            columns: Its validated values (``InputSchema.validate``), not copied: the
                caller must not change them afterwards.
            rows: Records in the request.
            ts: When it was answered.
            schema: The schema the values were validated against (sent once per change).
        """
        if self._closed or not self.targets:
            return False
        try:
            if schema is not self._schema and schema != self._schema:
                self._inbox.put_nowait(("schema", schema))
                self._schema = schema
            self._inbox.put_nowait(("predict", request_id, columns, rows, ts))
        except queue.Full:
            self.dropped += 1
            return False
        self.submitted += 1
        return True

    def close(self, timeout: float = 60.0) -> None:
        """Let the worker finish what is queued, flush its log, and stop (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self._inbox.put(None, timeout=timeout)
        except queue.Full:
            log.error("shadow queue stayed full; stopping the worker without draining")
        self.stopped.wait(timeout)
        self._proc.join(timeout=10)
        if self._proc.is_alive():
            log.error("shadow worker did not stop; terminating it")
            self._proc.terminate()
            self._proc.join(timeout=5)
        self._reader.join(timeout=5)
        self._release.set()  # the worker has stopped: its starter thread may end
        self._inbox.close()
        self._outbox.close()
