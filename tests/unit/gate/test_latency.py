"""Single-row latency for the gate's guardrail: a burst of stalled calls does not decide the p99."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from challenger.gate.latency import LATENCY_ROUNDS, measure_latency


class _Model:
    """Answers in ~0.1 ms, except five calls in a row that stall for 30 ms each (a burst of
    another process's work: enough to be the p99 of 150 calls)."""

    def __init__(self, stall_at: int | None) -> None:
        self.calls, self.stall_at = 0, stall_at

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        self.calls += 1
        stalled = self.stall_at is not None and self.stall_at <= self.calls < self.stall_at + 5
        time.sleep(0.03 if stalled else 0.0001)
        return np.full((len(X), 2), 0.5)


def test_a_burst_of_stalled_calls_does_not_make_the_p99_but_a_slow_model_still_shows() -> None:
    X = pd.DataFrame({"a": np.arange(20.0)})
    stalled = measure_latency(_Model(stall_at=50), X, repeats=150, threads=None)
    assert stalled.latency_p99_ms is not None and stalled.latency_p99_ms < 20.0
    assert LATENCY_ROUNDS == 3  # the burst is in one round of three
    # all 150 together: the burst is the p99 (what the guardrail used to read)
    assert np.percentile([0.1] * 145 + [30.0] * 5, 99) > 20.0

    class Slow(_Model):
        def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
            time.sleep(0.004)
            return super().predict_proba(X)

    slow = measure_latency(Slow(stall_at=None), X, repeats=60, threads=None)
    assert slow.latency_p99_ms is not None and slow.latency_p99_ms >= 4.0
    assert slow.latency_p50_ms is not None and slow.latency_p50_ms >= 4.0
