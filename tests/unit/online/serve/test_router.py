"""Routing: sticky hash assignment, balanced A/B, canary weights and cohorts, flags."""

from __future__ import annotations

import numpy as np
import pytest

from challenger.config import ABConfig, CanaryConfig, CohortConfig, RolloutConfig
from challenger.online.rollout import RolloutState
from challenger.online.serve.flags import Flags
from challenger.online.serve.router import (
    Assigner,
    RequestContext,
    bucket,
    in_cohort,
    route,
)


def _rollout(strategy: str, **sections: object) -> RolloutConfig:
    return RolloutConfig.model_validate({"strategy": strategy, **sections})


def _state(strategy: str, stage: int = 0, status: str = "running") -> RolloutState:
    return RolloutState(
        strategy, challenger_version=2, champion_version=1, stage=stage, status=status
    )


def _route(ctx: RequestContext, rollout: RolloutConfig, flags: Flags | None = None, **kw: object):
    defaults: dict[str, object] = {
        "challenger_version": 2,
        "state": _state(rollout.strategy),
        "has_shadows": True,
        "assigner": Assigner(rollout.ab),
    }
    defaults.update(kw)
    return route(ctx, rollout, flags or Flags(), **defaults)[0]  # type: ignore[arg-type]


def test_bucket_is_deterministic_uniform_and_experiment_specific() -> None:
    assert bucket("exp", "alice") == bucket("exp", "alice")
    assert bucket("exp", "alice") != bucket("other", "alice")
    values = np.array([bucket("exp", f"user-{i}") for i in range(20_000)])
    assert values.min() >= 0.0 and values.max() < 1.0
    counts, _ = np.histogram(values, bins=10, range=(0, 1))
    assert counts.min() > 1800 and counts.max() < 2200  # ±10 % of 2,000 per decile
    other = np.array([bucket("other", f"user-{i}") for i in range(20_000)])
    assert abs(np.corrcoef(values, other)[0, 1]) < 0.03


def test_ab_split_is_sticky_and_within_tolerance() -> None:
    cfg = ABConfig(split=0.2)
    assigner = Assigner(cfg)
    arms = [assigner.assign(f"u{i}", {})[0] for i in range(10_000)]
    assert arms == [Assigner(cfg).assign(f"u{i}", {})[0] for i in range(10_000)]
    share = arms.count("challenger") / len(arms)
    assert abs(share - 0.2) < 4 * np.sqrt(0.2 * 0.8 / len(arms))


def test_balanced_assignment_keeps_every_stratum_on_the_split() -> None:
    cfg = ABConfig(split=0.5, balance_by=("country", "device"))
    assigner = Assigner(cfg)
    rng = np.random.default_rng(1)
    strata: dict[tuple[str, str], list[str]] = {}
    for i in range(3000):
        attrs = {
            "country": str(rng.choice(["DE", "FR", "ES"], p=[0.7, 0.2, 0.1])),
            "device": str(rng.choice(["mobile", "desktop"], p=[0.8, 0.2])),
        }
        arm, new = assigner.assign(f"u{i}", attrs)
        assert new is not None
        strata.setdefault((attrs["country"], attrs["device"]), []).append(arm)
    for arms in strata.values():
        assert abs(arms.count("challenger") - 0.5 * len(arms)) <= 1.0
    # Sticky: a known user keeps their arm, even with other attributes now.
    first, _ = assigner.assign("u0", {"country": "DE", "device": "mobile"})
    again, new = assigner.assign("u0", {"country": "FR", "device": "desktop"})
    assert again == first and new is None
    # Remembered assignments survive a restart.
    restored = Assigner(cfg, [("u0", first, "x")])
    assert restored.assign("u0", {})[0] == first


def test_shadow_mirrors_only_when_released_and_kill_switch_stops_everything() -> None:
    ctx = RequestContext("r1", "alice")
    rollout = _rollout("shadow")
    r = _route(ctx, rollout)
    assert r.arm == "champion" and r.shadow
    off = Flags.model_validate({"release": {"shadow": False}})
    assert not _route(ctx, rollout, off).shadow
    kill = Flags.model_validate({"operational": {"kill_switch": True}})
    for strategy in ("shadow", "ab", "canary"):
        r = _route(ctx, _rollout(strategy), kill)
        assert r.arm == "champion" and not r.shadow and r.reason == "kill switch"


def test_ab_respects_experiment_release_and_permission_flags() -> None:
    rollout = _rollout("ab", ab={"split": 0.999})
    ctx = RequestContext("r", "bob", segments=frozenset({"beta"}))
    assert _route(ctx, rollout).arm == "challenger"
    assert _route(RequestContext("r"), rollout).arm == "champion"  # no user id: not in the test
    for flags in (
        {"experiments": {"loan-default-ab": False}},
        {"release": {"challenger": False}},
        {"permission": {"segments": ["internal"]}},
    ):
        assert _route(ctx, rollout, Flags.model_validate(flags)).arm == "champion", flags
    allowed = Flags.model_validate({"permission": {"segments": ["internal", "beta"]}})
    assert _route(ctx, rollout, allowed).arm == "challenger"
    pinned = Flags.model_validate({"permission": {"users": {"bob": "champion"}}})
    assert _route(ctx, rollout, pinned).arm == "champion"
    assert _route(ctx, rollout, state=_state("ab", status="rolled_back")).arm == "champion"
    assert _route(ctx, rollout, challenger_version=None).arm == "champion"
    assert _route(ctx, rollout, challenger_version=3).arm == "champion"  # state of another version


def test_canary_weight_follows_the_stage_within_the_cohort() -> None:
    rollout = _rollout("canary", canary={"cohort": {"attributes": {"region": ["north"]}}})
    for stage, weight in ((0, 0.05), (1, 0.25), (2, 0.5)):
        arms = [
            _route(
                RequestContext(f"r{i}", f"u{i}", {"region": "north"}),
                rollout,
                state=_state("canary", stage),
            ).arm
            for i in range(4000)
        ]
        share = arms.count("challenger") / len(arms)
        assert abs(share - weight) < 4 * np.sqrt(weight * (1 - weight) / 4000), (stage, share)
    south = [
        _route(
            RequestContext(f"r{i}", f"u{i}", {"region": "south"}),
            rollout,
            state=_state("canary", 2),
        ).arm
        for i in range(500)
    ]
    assert set(south) == {"champion"}


def test_cohort_by_segment() -> None:
    cohort = CohortConfig(segments=("internal",))
    assert in_cohort(RequestContext("r", segments=frozenset({"internal"})), cohort)
    assert not in_cohort(RequestContext("r", segments=frozenset({"beta"})), cohort)
    assert in_cohort(RequestContext("r"), CohortConfig())


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ((5, 25), "last canary stage must be 100"),
        ((25, 5, 100), "must increase"),
        ((0, 100), "must increase"),
    ],
)
def test_canary_stages_are_validated(stages: tuple[float, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CanaryConfig(stages=stages)


def test_an_unhealthy_log_sends_ab_and_canary_traffic_to_the_champion() -> None:
    canary = _rollout("canary", canary={"stages": [100.0]})
    ab = _rollout("ab", ab={"split": 0.9})  # u1 falls in the challenger arm
    ctx = RequestContext("r1", user_id="u1")
    for rollout in (canary, ab):
        assert _route(ctx, rollout).arm == "challenger"
        unobserved = _route(ctx, rollout, log_healthy=False)
        assert unobserved.arm == "champion" and "log unhealthy" in unobserved.reason
    shadow = _route(ctx, _rollout("shadow"), log_healthy=False)
    assert shadow.arm == "champion" and shadow.shadow, "shadows still compare"
