"""What the serving app holds while it runs: models, flags, rollout state, log, shadow worker.

``ServingRuntime`` loads the models when it is built (so a missing champion or a model that
cannot be served fails before the server listens), with the training profile of each
(``challenger.online.serve.profile``, from the reference logged with its run); ``start``
starts the prediction-log writer and, in shadow mode, the shadow worker process; ``stop``
drains both. ``health`` says ``degraded`` with the reason while the log fails (and for
``LOG_ALERT_SECONDS`` after it last failed), so a failing log is never silent. Its background steps
(``refresh_models``, ``refresh_flags``, ``sync_state``) run in threads the app schedules; the
rollout state's transitions are ``challenger.online.rollout``'s, the canary guard is
``challenger.online.serve.guard``'s.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import OrderedDict
from typing import Any

from threadpoolctl import threadpool_limits

from challenger.config import Settings
from challenger.errors import ChallengerError, ConfigError
from challenger.online import rollout
from challenger.online.log import EventRow, LogStore
from challenger.online.log_writer import LogWriter
from challenger.online.rollout import RolloutState
from challenger.online.serve.flags import FlagsFile
from challenger.online.serve.models import InputSchema, ModelHub
from challenger.online.serve.profile import InputProfile, build_profile
from challenger.online.serve.prometheus import ServingMetrics
from challenger.online.serve.router import Assigner
from challenger.online.serve.shadow_worker import ShadowRunner, ShadowSpec, ShadowStats
from challenger.store.registry import Registry
from challenger.store.tracking import Tracking

log = logging.getLogger(__name__)

#: Request ids kept in memory so feedback is checked without a query.
RECENT_IDS = 500_000
#: How long /health stays degraded after prediction-log rows last failed.
LOG_ALERT_SECONDS = 300.0


class ServingRuntime:
    """Everything the app holds: models, flags, router state, log, shadow worker, metrics.

    Construction loads the models (so a missing champion fails before the server listens);
    ``start`` starts the log writer and the shadow worker; ``stop`` drains both.

    Args:
        settings: The configuration.
        registry: An open registry (default: the configured one).

    Raises:
        ChallengerError: No champion, a model without a column signature, or a champion,
            challenger or shadow whose predictions cannot be compared: not those of
            ``data.task``, or (multiclass) not over the champion's classes.
    """

    def __init__(self, settings: Settings, registry: Registry | None = None) -> None:
        if settings.rollout.strategy in ("ab", "canary") and not settings.serving.log_enabled:
            raise ConfigError(
                f"rollout.strategy is {settings.rollout.strategy} but serving.log_enabled is "
                "false: an A/B test or a canary is judged (and rolled back) from the prediction "
                "log, so the challenger would be served unobserved; turn the log on"
            )
        self.settings = settings
        self.rollout = settings.rollout
        self.strategy = settings.rollout.strategy
        self.task = settings.data.task
        #: Score at and above which /predict answers class 1 (the shadows' agreement uses it too).
        self.threshold = settings.rollout.shadow.decision_threshold
        self.registry = registry or Registry.from_settings(settings)
        self.metrics = ServingMetrics()
        shadow_refs = self.rollout.shadow.models if self.strategy == "shadow" else ()
        self._tracking: Tracking | None = None
        self.hub = ModelHub(
            self.registry,
            need_challenger=self.strategy in ("ab", "canary"),
            shadow_refs=shadow_refs,
            profiler=self._profile,
            task=settings.data.task,
        )
        self.flags = FlagsFile(settings.path(settings.serving.flags_file))
        self.store = LogStore(
            settings.path(settings.serving.prediction_log), settings.serving.log_synchronous
        )
        self.assigner: Assigner | None = None
        if self.strategy == "ab":
            self.assigner = Assigner(
                self.rollout.ab, self.store.assignments(self.rollout.ab.experiment)
            )
        self.state: RolloutState | None = None
        self.writer: LogWriter | None = None
        self.shadow: ShadowRunner | None = None
        self.recent: OrderedDict[str, int] = OrderedDict()
        self.started_at = time.time()
        #: Rows the shadow worker's own log writer could not write, and its last error.
        self.shadow_log: tuple[int, str | None] = (0, None)
        self._last_flags_error: str | None = None
        self._limits: threadpool_limits | None = None

    def _profile(self, version: int, schema: InputSchema) -> InputProfile:
        """The training profile of a version being loaded (from its run's drift reference)."""
        reference = None
        try:
            if self._tracking is None:
                self._tracking = Tracking.from_settings(self.settings)
            reference = self._tracking.load_reference(self.registry.version(version).run_id)
        except Exception as exc:  # the profile falls back to validation.ranges, said in /health
            log.warning("v%d: its training reference could not be read: %s", version, exc)
        return build_profile(self.settings, reference, version, schema.numeric)

    # ---- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the log writer and (for shadow mode) the shadow worker; sync the rollout."""
        s = self.settings.serving
        # One thread per prediction: single requests gain nothing from OpenMP/BLAS threads,
        # and their spinning steals the CPU other requests need (restored by ``stop``).
        self._limits = threadpool_limits(limits=s.model_threads)
        self.writer = LogWriter(
            self.store, enabled=s.log_enabled, effects=s.effects, root=self.settings.root
        )
        current = self.hub.current
        if self.strategy == "shadow" and current.shadows:
            self._start_shadow(dict(current.shadows))
        self.sync_state()
        self.update_gauges()
        freeze_heap()

    def _start_shadow(self, targets: dict[str, int]) -> None:
        s = self.settings
        spec = ShadowSpec(
            tracking_uri=s.tracking_uri,
            model_name=s.project.model_name,
            experiment=s.project.experiment,
            artifact_root=s.artifact_root,
            log_path=s.path(s.serving.prediction_log),
            log_synchronous=s.serving.log_synchronous,
            log_enabled=s.serving.log_enabled,
            effects=s.serving.effects,
            root=s.root,
            targets=targets,
            model_threads=s.serving.model_threads,
            task=s.data.task,
        )
        self.shadow = ShadowRunner(spec, self.rollout.shadow.queue_size, self._shadow_stats)

    def _shadow_stats(self, stats: ShadowStats) -> None:
        for model, seconds in stats.timed.items():
            histogram = self.metrics.shadow_latency.labels(model)
            for s in seconds:
                histogram.observe(s)
        for model, n in stats.errors.items():
            self.metrics.shadow_errors.labels(model).inc(n)
        self.shadow_log = (stats.log_failed, stats.log_error)

    def stop(self) -> None:
        """Drain the shadow worker and the log (nothing queued is lost)."""
        if self.shadow is not None:
            self.shadow.close()
        if self.writer is not None:
            self.writer.close()
        if self._limits is not None:
            self._limits.restore_original_limits()
            self._limits = None

    def event(self, kind: str, **detail: Any) -> None:
        """Record an event in the log (queued)."""
        log.info("%s: %s", kind, detail)
        if self.writer is not None:
            self.writer.put(EventRow(kind, detail, time.time()))

    def update_log_gauges(self) -> None:
        """The prediction log's gauges, read now."""
        writer, m = self.writer, self.metrics
        if writer is not None:
            m.log_pending.set(writer.pending)
            m.log_written.set(writer.written)
            m.log_failed.set(writer.failed)
            m.log_healthy.set(1 if writer.healthy else 0)

    def log_problems(self) -> list[str]:
        """What /health says about the prediction log (nothing while it writes)."""
        writer = self.writer
        if writer is None or not writer.enabled:
            return []
        problems = []
        problem = writer.problem
        if problem is not None:
            problems.append(
                f"prediction log unhealthy: {problem}; answers say logged: false and A/B and "
                "canary traffic goes to the champion until it writes again"
            )
        last = writer.last_failure
        if last is not None and time.time() - last < LOG_ALERT_SECONDS:
            problems.append(
                f"prediction log: {writer.failed} row(s) not written since start, the last "
                f"{time.time() - last:.0f} s ago ({writer.last_error}); they are kept in "
                f"{writer.rejected_path}"
            )
        failed, error = self.shadow_log
        if failed:
            problems.append(f"shadow worker's log: {failed} row(s) not written ({error})")
        return problems

    def update_gauges(self) -> None:
        m, cur = self.metrics, self.hub.current
        m.model_version.labels("champion").set(cur.champion.version)
        m.model_version.labels("challenger").set(cur.challenger_version or 0)
        m.kill_switch.set(1 if self.flags.current.operational.kill_switch else 0)
        st = self.state
        m.rollout_stage.set(st.stage if st is not None and st.running else -1)

    # ---- background steps (blocking; the app runs them in threads) ------------------------
    def refresh_models(self) -> bool:
        """Pick up alias moves; returns True when the served models changed."""
        before = self.hub.current
        changed = self.hub.refresh()
        if changed:
            after = self.hub.current
            self.metrics.swaps.inc()
            self.event(
                "models_swapped",
                champion=[before.champion.version, after.champion.version],
                challenger=[before.challenger_version, after.challenger_version],
                shadows=dict(after.shadows),
                note=after.challenger_note,
            )
            if self.strategy == "shadow":
                if self.shadow is None and after.shadows:
                    self._start_shadow(dict(after.shadows))
                elif self.shadow is not None:
                    self.shadow.set_targets(dict(after.shadows))
            freeze_heap()
        # Every refresh re-reads the rollout state, not only on a swap: the online analysis
        # writes "promoted" just after it moves the alias, and a refresh in between would
        # otherwise keep serving (and reporting) the stale "running" state.
        self.sync_state()
        self.update_gauges()
        return changed

    def sync_state(self) -> None:
        """Read the rollout state; start a new rollout when a new challenger is served."""
        if self.strategy not in ("ab", "canary"):
            self.state = None
            return
        current = rollout.read(self.store)
        challenger = self.hub.current.challenger
        if challenger is None or (
            current is not None
            and current.strategy == self.strategy
            and current.challenger_version == challenger.version
        ):
            self.state = current
            return
        fresh = rollout.start(
            self.strategy,
            challenger.version,
            self.hub.current.champion.version,
            now=time.time(),
            replacing=current,
        )
        written = rollout.write(self.store, fresh)
        if written is None:  # someone else wrote first: take theirs
            self.state = rollout.read(self.store)
            return
        self.state = written
        self.event("rollout_started", **fresh.to_dict())

    def stop_rollout(self, reason: str, by: str) -> tuple[RolloutState | None, bool]:
        """Stop the challenger's traffic now (compare-and-set on the rollout state).

        Returns:
            The rollout state after the call, and whether this call stopped it.
        """
        for _ in range(5):
            state = rollout.read(self.store)
            if state is None:
                return None, False
            if not state.running:
                self.state = state
                return state, False
            written = rollout.write(self.store, rollout.stop(state, reason, by=by, now=time.time()))
            if written is not None:
                self.state = written
                self.metrics.rollbacks.labels(by).inc()
                self.event(
                    "rollout_rolled_back", by=by, reason=reason, version=state.challenger_version
                )
                self.update_gauges()
                return self.state, True
        raise ChallengerError("the rollout state kept changing; try the rollback again")

    def refresh_flags(self) -> None:
        """Re-read the flags file if it changed."""
        if self.flags.refresh():
            self.event("flags_changed", flags=self.flags.current.model_dump(mode="json"))
        if self.flags.error != self._last_flags_error:
            self._last_flags_error = self.flags.error
            if self.flags.error:
                self.event("flags_error", error=self.flags.error)
        self.update_gauges()

    def remember(self, request_id: str, n: int) -> None:
        """Keep recent request ids in memory so feedback can be checked without a query."""
        self.recent[request_id] = n
        if len(self.recent) > RECENT_IDS:
            self.recent.popitem(last=False)

    def health(self) -> dict[str, Any]:
        """What /health reports."""
        cur = self.hub.current
        shadow: dict[str, Any] | None = None
        if self.strategy == "shadow":
            sh = self.shadow
            shadow = {
                "configured": list(self.rollout.shadow.models),
                "models": dict(cur.shadows),
                "ready": bool(sh and sh.ready.is_set() and sh.alive),
                "priority": sh.policy if sh else None,
                "pending": sh.pending if sh else 0,
                "submitted": sh.submitted if sh else 0,
                "dropped": sh.dropped if sh else 0,
                "error": sh.error if sh else None,
            }
        writer = self.writer
        problems = [
            p
            for p in (
                self.flags.error,
                self.hub.last_error,
                shadow["error"] if shadow else None,
            )
            if p
        ]
        problems += self.log_problems()
        return {
            "status": "degraded" if problems else "ok",
            "problems": problems,
            "model_name": self.registry.model_name,
            "strategy": self.strategy,
            "champion": cur.champion.version,
            "challenger": cur.challenger_version,
            "challenger_note": cur.challenger_note,
            "input_schema": cur.schema.describe(),
            "input_profile": None if cur.profile is None else cur.profile.describe(),
            "out_of_profile": self.settings.serving.out_of_profile,
            "shadow": shadow,
            "rollout": None if self.state is None else self.state.to_dict(),
            "flags": self.flags.current.model_dump(mode="json"),
            "log": {
                "enabled": self.settings.serving.log_enabled,
                "healthy": writer.healthy if writer else False,
                "synchronous": self.settings.serving.log_synchronous,
                "pending": writer.pending if writer else 0,
                "written": writer.written if writer else 0,
                "failed": writer.failed if writer else 0,
                "last_error": writer.last_error if writer else None,
                "rejected": str(writer.rejected_path) if writer else None,
                "shadow_failed": self.shadow_log[0],
            },
            "swaps": self.hub.swaps,
            "uptime_seconds": round(time.time() - self.started_at, 1),
        }


def freeze_heap() -> None:
    """Move every object alive now out of the garbage collector's reach (``gc.freeze``).

    The app holds a few hundred thousand long-lived objects (MLflow, scikit-learn, pandas,
    the models); a full collection walks all of them, 100-250 ms during which no request is
    answered, and it comes whenever enough request objects have piled up: the p99 of any
    strategy was a lottery of which minute a full collection fell into. Frozen objects are
    still freed by reference counting; only cycles among them would stay, and the models and
    libraries loaded at start (or at a swap) are meant to live anyway.
    """
    gc.collect()
    gc.freeze()
