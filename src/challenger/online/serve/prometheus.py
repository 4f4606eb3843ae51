"""Prometheus metrics of one serving app (its own registry, so apps never share counters)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST as PROMETHEUS_CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["PROMETHEUS_CONTENT_TYPE", "ServingMetrics"]

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.004,
    0.008,
    0.016,
    0.032,
    0.064,
    0.128,
    0.256,
    0.512,
    1.024,
    2.048,
)


class ServingMetrics:
    """Requests, errors and latency per variant, plus the shadow, log and rollout gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "challenger_requests",
            "Prediction requests answered, by the variant that answered.",
            ["variant"],
            registry=r,
        )
        self.records = Counter(
            "challenger_records", "Records predicted, by variant.", ["variant"], registry=r
        )
        self.errors = Counter(
            "challenger_errors",
            "Errors by variant and kind (invalid_input, model_error, fallback).",
            ["variant", "kind"],
            registry=r,
        )
        self.latency = Histogram(
            "challenger_request_latency_seconds",
            "Time to answer /predict, by variant.",
            ["variant"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.prepared = Counter(
            "challenger_inputs_prepared",
            "Request inputs validated and turned into a model frame (once per request).",
            registry=r,
        )
        self.shadow_submitted = Counter(
            "challenger_shadow_submitted", "Requests mirrored to the shadow worker.", registry=r
        )
        self.shadow_dropped = Counter(
            "challenger_shadow_dropped",
            "Requests not mirrored because the shadow queue was full.",
            registry=r,
        )
        self.shadow_latency = Histogram(
            "challenger_shadow_latency_seconds",
            "Shadow model prediction time, by shadow model.",
            ["model"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.shadow_errors = Counter(
            "challenger_shadow_errors", "Shadow predictions that failed.", ["model"], registry=r
        )
        self.feedback = Counter("challenger_feedback", "Labels received.", registry=r)
        self.model_version = Gauge(
            "challenger_model_version", "Version served in each role.", ["role"], registry=r
        )
        self.swaps = Counter("challenger_model_swaps", "Alias moves picked up.", registry=r)
        self.kill_switch = Gauge(
            "challenger_kill_switch", "1 while the kill switch is on.", registry=r
        )
        self.rollout_stage = Gauge(
            "challenger_rollout_stage", "Canary stage index (-1: not running).", registry=r
        )
        self.rollbacks = Counter(
            "challenger_rollbacks", "Rollouts stopped, by who.", ["by"], registry=r
        )
        self.log_pending = Gauge(
            "challenger_log_pending", "Prediction-log rows queued, not yet written.", registry=r
        )
        self.log_written = Gauge(
            "challenger_log_written", "Prediction-log rows written by this app.", registry=r
        )
        self.log_failed = Gauge(
            "challenger_log_failed",
            "Prediction-log rows this app could not write (kept in <log>.rejected.jsonl).",
            registry=r,
        )
        self.log_healthy = Gauge(
            "challenger_log_healthy",
            "1 while the prediction log writes; 0 while it fails (A/B and canary serve the "
            "champion meanwhile).",
            registry=r,
        )
        self.unlogged = Counter(
            "challenger_unlogged_answers",
            "Answers sent with logged: false (their rows were not committed in time or failed).",
            registry=r,
        )
        self.out_of_profile = Counter(
            "challenger_out_of_profile_records",
            "Records outside the champion's training profile, by what was done (refused, flagged).",
            ["action"],
            registry=r,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)
