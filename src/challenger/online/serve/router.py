"""The routing layer: which model answers a request, and whether the shadows see it.

Everything here is a pure function of the request's context, the configuration, the flags
and the rollout state (``challenger.online.rollout``), except ``Assigner``, which remembers
the sticky assignments of a *balanced* A/B test (plain hash assignment needs no memory: the
hash is the assignment).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from challenger.config import ABConfig, CanaryConfig, CohortConfig, RolloutConfig
from challenger.online.rollout import RolloutState
from challenger.online.serve.flags import Flags

Arm = Literal["champion", "challenger"]
CHAMPION: Arm = "champion"
CHALLENGER: Arm = "challenger"


@dataclass(frozen=True)
class RequestContext:
    """What the router may use about a request (never the model to load)."""

    request_id: str
    user_id: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    segments: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Route:
    """The router's answer for one request.

    Attributes:
        arm: The model that answers.
        reason: Why (short, for the log and debugging).
        experiment: The A/B or canary experiment the request counts in, if any.
        stage: The canary stage index, if any.
        shadow: Whether the shadow models see the request.
    """

    arm: Arm
    reason: str
    experiment: str | None = None
    stage: int | None = None
    shadow: bool = False


def bucket(experiment: str, unit: str) -> float:
    """A deterministic, uniform number in [0, 1) for (experiment, unit): the sticky hash.

    Different experiments give independent buckets, so a user's arm in one test says
    nothing about their arm in another.
    """
    digest = hashlib.blake2b(f"{experiment}\x1f{unit}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def stratum_of(attributes: Mapping[str, str], balance_by: Iterable[str]) -> str:
    """The stratum key of a request: its values of the balancing attributes."""
    return "|".join(f"{a}={attributes.get(a, '?')}" for a in balance_by)


class Assigner:
    """Sticky A/B assignment, optionally balanced within strata of declared attributes.

    Without ``balance_by`` the arm is ``challenger`` when the user's bucket is below the
    split: stateless, sticky by construction. With ``balance_by`` each new user is assigned
    by the hash while their stratum is balanced, and to the under-represented arm when
    assigning by hash would leave the stratum more than one user off the split
    (deterministic minimisation); assignments are remembered so a user keeps their arm.

    Args:
        config: The A/B section.
        known: Assignments made before (user → (arm, stratum)), e.g. read from the log.
    """

    def __init__(self, config: ABConfig, known: Iterable[tuple[str, str, str]] = ()) -> None:
        self.config = config
        self._arm: dict[str, Arm] = {}
        self._counts: dict[str, list[int]] = {}
        for user, arm, stratum in known:
            self._remember(user, CHALLENGER if arm == CHALLENGER else CHAMPION, stratum)

    def _remember(self, user: str, arm: Arm, stratum: str) -> None:
        self._arm[user] = arm
        counts = self._counts.setdefault(stratum, [0, 0])
        counts[1 if arm == CHALLENGER else 0] += 1

    def assign(self, user_id: str, attributes: Mapping[str, str]) -> tuple[Arm, str | None]:
        """The user's arm, and the stratum when this is a new balanced assignment to store."""
        cfg = self.config
        by_hash: Arm = CHALLENGER if bucket(cfg.experiment, user_id) < cfg.split else CHAMPION
        if not cfg.balance_by:
            return by_hash, None
        known = self._arm.get(user_id)
        if known is not None:
            return known, None
        stratum = stratum_of(attributes, cfg.balance_by)
        champions, challengers = self._counts.get(stratum, [0, 0])
        total = champions + challengers + 1
        # Imbalance after the assignment, in users: |challengers - split * total|.
        off_if = {
            CHALLENGER: abs(challengers + 1 - cfg.split * total),
            CHAMPION: abs(challengers - cfg.split * total),
        }
        arm = by_hash
        if off_if[by_hash] > 1.0:
            arm = CHAMPION if by_hash == CHALLENGER else CHALLENGER
        self._remember(user_id, arm, stratum)
        return arm, stratum


def in_cohort(ctx: RequestContext, cohort: CohortConfig) -> bool:
    """Whether a request belongs to the canary's cohort (empty cohort: everyone)."""
    if cohort.segments and not (ctx.segments & set(cohort.segments)):
        return False
    return all(ctx.attributes.get(attr) in allowed for attr, allowed in cohort.attributes.items())


def canary_weight(config: CanaryConfig, stage: int) -> float:
    """Traffic share of the canary at a stage, in [0, 1]."""
    stages = config.stages
    return stages[min(max(stage, 0), len(stages) - 1)] / 100.0


def route(
    ctx: RequestContext,
    rollout: RolloutConfig,
    flags: Flags,
    *,
    challenger_version: int | None,
    state: RolloutState | None,
    has_shadows: bool,
    assigner: Assigner | None = None,
    log_healthy: bool = True,
) -> tuple[Route, str | None]:
    """Decide which model answers a request.

    Args:
        ctx: The request's id, user, attributes and segments.
        rollout: The ``rollout`` configuration.
        flags: The current flags.
        challenger_version: The challenger loaded for serving (None: none is).
        state: The A/B or canary state (None: no rollout running).
        has_shadows: Whether any shadow model is loaded.
        assigner: The A/B assigner (required for the ``ab`` strategy).
        log_healthy: Whether the prediction log writes; an A/B test or a canary is judged
            from it, so while it does not, everyone gets the champion.

    Returns:
        The route, and the stratum of a new balanced A/B assignment to remember (else None).
    """
    if flags.operational.kill_switch:
        return Route(CHAMPION, "kill switch"), None
    strategy = rollout.strategy
    if strategy == "champion":
        return Route(CHAMPION, "champion only"), None
    if strategy == "shadow":
        mirror = has_shadows and flags.release.shadow
        return Route(CHAMPION, "shadow" if mirror else "shadow off", shadow=mirror), None

    experiment = rollout.ab.experiment if strategy == "ab" else rollout.canary.experiment
    if not log_healthy:
        return Route(CHAMPION, "prediction log unhealthy: the challenger would go unobserved"), None
    if challenger_version is None:
        return Route(CHAMPION, "no challenger loaded"), None
    if state is None or not state.running or state.challenger_version != challenger_version:
        return Route(CHAMPION, f"{strategy} not running"), None
    if not flags.release.challenger:
        return Route(CHAMPION, "challenger release off"), None
    if not flags.experiment_on(experiment):
        return Route(CHAMPION, f"experiment {experiment} off"), None
    pinned = flags.permission.users.get(ctx.user_id or "")
    if pinned is not None:
        return Route(pinned, "pinned user", experiment=None), None
    allowed = flags.permission.segments
    if allowed and not (ctx.segments & set(allowed)):
        return Route(CHAMPION, "segment not permitted"), None

    if strategy == "ab":
        if ctx.user_id is None:
            return Route(CHAMPION, "no user id: not in the A/B test"), None
        if assigner is None:
            raise ValueError("the ab strategy needs an Assigner")
        arm, new_stratum = assigner.assign(ctx.user_id, ctx.attributes)
        return Route(arm, "ab", experiment=experiment, stage=0), new_stratum

    cfg = rollout.canary
    if not in_cohort(ctx, cfg.cohort):
        return Route(CHAMPION, "outside the canary cohort"), None
    unit = ctx.user_id if ctx.user_id is not None else ctx.request_id
    weight = canary_weight(cfg, state.stage)
    arm = CHALLENGER if bucket(experiment, unit) < weight else CHAMPION
    return Route(arm, "canary", experiment=experiment, stage=state.stage), None
