"""Shadow execution in a separate process, off the critical path.

The app hands each mirrored request's *prepared* input frame (validated and built once)
to a queue and returns; a worker process with its own copies of the shadow models predicts
on it and writes the outputs to the prediction log. When requests queue up, the worker
predicts them together (one call per model), so shadows keep up with the answering path;
a request predicted alone is timed, and those times are what the analysis reports as the
latency a shadow would add. A full queue drops the mirrored
request (counted) instead of slowing the answer. Only side effects not marked
``once_only`` run for shadow outputs: a shadow never repeats what the answer already did.

On a clean stop the worker finishes every queued request and flushes the log first.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from challenger.config import EffectConfig

log = logging.getLogger(__name__)

#: Most mirrored requests the worker predicts in one call when they have queued up.
MAX_BATCH = 64
#: Scheduling niceness of the shadow worker (lower CPU priority than the app).
SHADOW_NICENESS = 10


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


@dataclass(frozen=True)
class ShadowStat:
    """One shadow prediction, reported back to the app for its metrics."""

    model: str
    seconds: float
    rows: int
    error: bool
    requests: int = 1


def _worker(spec: ShadowSpec, inbox: Any, outbox: Any) -> None:  # pragma: no cover - subprocess
    import os

    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    # Best effort by design: when CPU is short, the process that answers users wins.
    with contextlib.suppress(OSError):
        os.nice(SHADOW_NICENESS)
    from challenger.registry import Registry
    from challenger.serving.log import LogStore, LogWriter, ShadowRow
    from challenger.serving.models import positive_scores

    try:
        registry = Registry(spec.tracking_uri, spec.model_name, spec.experiment, spec.artifact_root)
        writer = LogWriter(
            LogStore(spec.log_path),
            enabled=spec.log_enabled,
            effects=spec.effects,
            root=spec.root,
        )
    except Exception as exc:
        outbox.put(("failed", f"{type(exc).__name__}: {exc}"))
        return
    loaded: dict[int, Any] = {}
    targets: dict[str, int] = {}

    def use(new_targets: Mapping[str, int]) -> None:
        for version in set(new_targets.values()) - set(loaded):
            loaded[version] = registry.load_model(version)
        for version in set(loaded) - set(new_targets.values()):
            del loaded[version]
        targets.clear()
        targets.update(new_targets)

    from threadpoolctl import threadpool_limits

    try:
        use(spec.targets)
        # After loading: the models' OpenMP/BLAS libraries are in the process now.
        threadpool_limits(limits=spec.model_threads)
    except Exception as exc:
        outbox.put(("failed", f"{type(exc).__name__}: {exc}"))
        writer.close()
        return
    outbox.put(("ready", dict(targets)))
    stats: list[ShadowStat] = []
    last_report = time.monotonic()
    handled = 0
    warm: set[int] = set()
    nothing = ("nothing",)
    pending: Any = nothing  # a message read while batching, handled next (may be the stop None)
    while True:
        if pending is not nothing:
            msg, pending = pending, nothing
        else:
            try:
                msg = inbox.get(timeout=0.5)
            except queue.Empty:
                msg = ("tick",)
        if msg is None:
            break
        kind = msg[0]
        if kind == "targets":
            try:
                use(msg[1])
                threadpool_limits(limits=spec.model_threads)
                outbox.put(("targets", dict(targets)))
            except Exception as exc:
                outbox.put(("error", f"loading shadow models failed: {exc}"))
        elif kind == "predict":
            # Under load, predict what has queued up in one call per model (micro-batch);
            # alone, a request is timed on its own: that is the latency a shadow would add.
            batch = [msg]
            while len(batch) < MAX_BATCH:
                try:
                    nxt = inbox.get_nowait()
                except queue.Empty:
                    break
                if nxt is None or nxt[0] != "predict":
                    pending = nxt
                    break
                batch.append(nxt)
            handled += len(batch)
            frames = [m[2] for m in batch]
            frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
            for name, version in targets.items():
                # CPU time of the prediction: what the model would cost on the answering
                # path, whatever else the (deprioritised) worker waited for meanwhile.
                t0 = time.thread_time()
                scores = None
                error: str | None = None
                try:
                    scores = positive_scores(loaded[version], frame)
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"[:500]
                seconds = time.thread_time() - t0
                # Only a request predicted alone, and not a version's first (cold) call,
                # says what one request would cost.
                ms = seconds * 1000.0 if len(batch) == 1 and version in warm else None
                warm.add(version)
                row = 0
                for _, request_id, part, ts in batch:
                    for i in range(len(part)):
                        writer.put(
                            ShadowRow(
                                request_id,
                                i,
                                name,
                                ts,
                                version,
                                None if scores is None else float(scores[row]),
                                ms,
                                error,
                            )
                        )
                        row += 1
                stats.append(ShadowStat(name, seconds, len(frame), error is not None, len(batch)))
        if stats and (len(stats) >= 200 or time.monotonic() - last_report > 0.5):
            outbox.put(("stats", stats))
            stats = []
            last_report = time.monotonic()
    writer.close()
    if stats:
        outbox.put(("stats", stats))
    outbox.put(("stopped", handled))


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
        on_stats: Callable[[list[ShadowStat]], None] | None = None,
    ) -> None:
        ctx = mp.get_context("spawn")
        self._inbox: Any = ctx.Queue(maxsize=queue_size)
        self._outbox: Any = ctx.Queue()
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
        self._closed = False
        self._proc.start()
        self._reader = threading.Thread(target=self._read, name="shadow-reader", daemon=True)
        self._reader.start()

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
                self.ready.set()
            elif kind == "targets":
                self.targets = dict(msg[1])
            elif kind in ("failed", "error"):
                self.error = str(msg[1])
                log.error("shadow worker: %s", msg[1])
                if kind == "failed":
                    self.stopped.set()
                    return
            elif kind == "stats" and self._on_stats is not None:
                self._on_stats(msg[1])
            elif kind == "stopped":
                self.handled = int(msg[1])
                self.stopped.set()
                return

    @property
    def alive(self) -> bool:
        """Whether the worker process runs."""
        return self._proc.is_alive() and not self.stopped.is_set()

    @property
    def pending(self) -> int:
        """Mirrored requests waiting for the worker (approximate)."""
        try:
            return int(self._inbox.qsize())
        except NotImplementedError:  # pragma: no cover - macOS
            return -1

    def set_targets(self, targets: Mapping[str, int]) -> None:
        """Tell the worker which versions to shadow from now on (loaded before use)."""
        if dict(targets) != self.targets:
            self._inbox.put(("targets", dict(targets)))
            self.targets = dict(targets)

    def submit(self, request_id: str, frame: pd.DataFrame, ts: float) -> bool:
        """Mirror a prepared request; never blocks. False when it was dropped."""
        if self._closed or not self.targets:
            return False
        try:
            self._inbox.put_nowait(("predict", request_id, frame, ts))
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
        self._inbox.close()
        self._outbox.close()
