"""The canary guard: between two online analyses, the app rolls a canary back on its own.

Every ``rollout.canary.guard_seconds`` the app re-reads the rollout state and judges the
running canary stage on its *critical* metrics only (``judge_canary(critical_only=True)``): one
failing stops the challenger's traffic at once (``ServingRuntime.stop_rollout``, by
``guard``), without waiting for the scheduled analysis. Everything else (advancing a stage,
promoting) stays the analysis's decision.
"""

from __future__ import annotations

import pandas as pd

from challenger.config import CanaryConfig
from challenger.online.decision import OnlineDecision
from challenger.online.judges.canary import judge_canary
from challenger.online.rollout import RolloutState
from challenger.online.serve.runtime import ServingRuntime

#: ``by`` of the rollbacks the guard makes (also the label of its Prometheus counter).
GUARD = "guard"


def guard_verdict(
    rows: pd.DataFrame, config: CanaryConfig, state: RolloutState
) -> OnlineDecision | None:
    """The rollback decision when a critical metric of the running stage fails, else None.

    Args:
        rows: The logged requests of the rollout's challenger since its stage started.
        config: The canary policy.
        state: The running canary.
    """
    if rows.empty:
        return None
    decision = judge_canary(
        rows,
        config,
        stage=state.stage,
        challenger_version=state.challenger_version,
        champion_version=state.champion_version,
        critical_only=True,
    )
    return decision if decision.action == "rollback" else None


def run_guard(rt: ServingRuntime) -> None:
    """Re-read the rollout state and roll a canary back at once if a critical metric fails.

    Blocking (flushes the log, queries it); the app runs it in a thread.
    """
    rt.sync_state()
    rt.update_gauges()
    st = rt.state
    if rt.strategy != "canary" or st is None or not st.running:
        return
    if rt.writer is not None:
        rt.writer.flush(timeout=5.0)
    rows = rt.store.predictions(since=st.since, challenger_version=st.challenger_version)
    verdict = guard_verdict(rows, rt.rollout.canary, st)
    if verdict is not None:
        rt.stop_rollout(verdict.reason, by=GUARD)
