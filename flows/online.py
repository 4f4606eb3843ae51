"""The online-analysis flow: judge what the serving app logged and act on it.

Thin orchestration only: the judges are ``challenger.online.judges``, reading the log and
carrying out a decision is ``challenger.online.review`` (the online demo, which replays
simulated traffic through the app, is ``challenger.demo.online``). A decision that moves
``champion`` (a promotion, a rollback of the champion) runs under the promotion lock of the
offline path (``flows.common.promotion_lock``) and is judged again inside it if the champion
moved meanwhile.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from challenger.config import Settings, load_config
from challenger.online.act import act, record
from challenger.online.review import Review, review, store_for, with_overrides
from challenger.store.record import TAG
from challenger.store.registry import Registry
from challenger.store.tracking import Tracking
from flows.common import freeze_heap, promotion_lock


@task(name="review-online-evidence", cache_policy=NO_CACHE)
def review_task(settings: Settings) -> Review:
    """Read the prediction log and decide."""
    return review(settings, Registry.from_settings(settings), store_for(settings))


@task(name="apply-online-decision", cache_policy=NO_CACHE)
def apply_task(rev: Review, settings: Settings) -> dict[str, Any]:
    """Promote, advance, roll back or keep watching, and record it.

    Promotions and rollbacks hold the promotion lock; inside it, if ``champion`` no longer
    points where the decision expects, the evidence is reviewed again first (it was gathered
    against another champion), and the new decision is the one carried out.
    """
    registry = Registry.from_settings(settings)
    tracking = Tracking.from_settings(settings)
    store = store_for(settings)
    with tracking.start_run(
        f"online-{rev.decision.strategy}", tags={f"{TAG}kind": "online"}
    ) as run_id:
        rev, decision, done = act(rev, settings, registry, store, run_id, promotion_lock(settings))
        return record(rev, decision, done, registry, tracking, run_id)


@flow(name="online-analysis", log_prints=False)
def online_flow(
    config: str | None = None, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Judge the live comparison the serving app logged and act on it.

    Shadow: agreement, PSI, error rate, added latency and, with labels, the gate's paired
    bootstrap on live rows. A/B: sample-ratio mismatch, balance, an always-valid test.
    Canary: the judge of the current stage. The decision (promote, advance, keep watching,
    roll back) is recorded on the version, in an MLflow run and as Prefect artifacts.

    Args:
        config: Path to challenger.yaml.
        overrides: Nested settings merged over the file, e.g. {"rollout": {"strategy": "canary"}}.
    """
    freeze_heap()
    log = get_run_logger()
    settings = with_overrides(load_config(config), overrides)
    rev = review_task(settings)
    result = apply_task(rev, settings)
    dec = result["decision"]
    create_table_artifact(
        [
            {"check": c["name"], "passed": c["passed"], "value": c["value"], "reason": c["reason"]}
            for c in dec["checks"]
        ]
        or [{"check": "-", "passed": None, "value": "-", "reason": dec["reason"]}],
        key="online-decision",
        description=f"{dec['strategy']} v{dec['challenger_version']}: {dec['outcome']} ({dec['action']})",
    )
    create_markdown_artifact(
        f"## Online comparison\n\n{result['report']}\n\n_{result['done']}_",
        key="online-report",
        description=f"online {dec['strategy']} decision",
    )
    log.info(
        "Online %s: %s → %s. %s", dec["strategy"], dec["outcome"], dec["action"], dec["reason"]
    )
    return result
