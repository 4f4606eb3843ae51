"""The ``prefect.yaml`` build step: the values its deployments are templated with.

``prefect deploy`` (run by ``challenger up``) calls :func:`deployment_values`, which reads
``challenger.yaml`` so the schedules (``triggers.interval``, ``rollout.review_minutes``,
``serving.enabled``) and the configuration path have one source; :func:`pools_and_queues`
reads which work pools and queues the deployments need, so ``up`` can create them first.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from challenger.config import DEFAULT_CONFIG_NAME, Settings, load_config
from challenger.errors import ConfigError

PREFECT_FILE = "prefect.yaml"
CHECKOUT = Path(__file__).resolve().parents[3]  # src/challenger/ops/deploy.py -> the clone
CONFIG_ENV = "CHALLENGER_CONFIG"
#: A cron for a schedule that is switched off (its ``active`` is false; any valid rule).
OFF_CRON = "0 0 1 1 *"
#: Whole days a cron repeats exactly: daily, weekly, yearly.
DAY_CRONS = {1: "0 0 * * *", 7: "0 0 * * 0", 365: "0 0 1 1 *"}


def cron_every(minutes: float, key: str) -> str:
    """A cron (UTC) repeating every ``minutes``, which the Prefect UI shows in plain words.

    A cron repeats evenly only for a divisor of an hour, a divisor of a day, a day, a week or
    a year; Prefect 3.9 cannot template an ``interval:`` into ``prefect.yaml``.

    Raises:
        ConfigError: ``minutes`` is none of those (``key`` names the setting).
    """
    whole = round(minutes)
    if whole == minutes and whole > 0:
        if whole < 60 and 60 % whole == 0:
            return f"*/{whole} * * * *" if whole > 1 else "* * * * *"
        if whole % 60 == 0 and whole < 1440 and 24 % (whole // 60) == 0:
            hours = whole // 60
            return f"0 */{hours} * * *" if hours > 1 else "0 * * * *"
        if whole % 1440 == 0 and whole // 1440 in DAY_CRONS:
            return DAY_CRONS[whole // 1440]
    raise ConfigError(
        f"{key} must be a schedule a cron repeats evenly (a divisor of 60 minutes or of 24 "
        f"hours, a day, a week or a year), not {minutes:g} minutes"
    )


def online_scheduled(settings: Settings) -> bool:
    """Whether the online analysis gets an active schedule: there is a log to analyse.

    Every ``rollout.review_minutes``, when the monitor shadows batches
    (``rollout.shadow.batch``) or ``serving.enabled`` says the app runs, logs predictions
    and the rollout compares a challenger (not ``champion`` only).
    """
    if settings.rollout.review_minutes is None:
        return False
    served = (
        settings.serving.enabled
        and settings.serving.log_enabled
        and settings.rollout.strategy != "champion"
    )
    return served or settings.rollout.shadow.batch


def deployment_values(config: str | None = None) -> dict[str, Any]:
    """Values ``prefect.yaml`` templates into its deployments (a Prefect build step).

    Args:
        config: ``challenger.yaml`` to deploy with; default ``$CHALLENGER_CONFIG``, else
            ``./challenger.yaml`` if it exists, else the built-in defaults.

    Returns:
        ``config`` (absolute path or None), ``code_dir`` (where the flows are, the working
        directory of every run), the schedules as crons with their on/off switches
        (``monitor_cron``, ``monitor_active``, ``retrain_cron``, ``retrain_active``,
        ``online_cron``, ``online_active``) and ``model_name``. The online analysis is
        scheduled only when :func:`online_scheduled`.

    Raises:
        ConfigError: The configuration is invalid or an interval is not a cron (the deploy
            then stops with its message).
    """
    chosen = config or os.environ.get(CONFIG_ENV) or None
    path = Path(chosen).resolve() if chosen else None
    if path is None and (Path.cwd() / DEFAULT_CONFIG_NAME).is_file():
        path = (Path.cwd() / DEFAULT_CONFIG_NAME).resolve()
    settings = load_config(path)
    interval = settings.triggers.interval
    review = settings.rollout.review_minutes if online_scheduled(settings) else None
    every = {
        "monitor": (interval.monitor_minutes, "triggers.interval.monitor_minutes"),
        "retrain": (
            None if interval.retrain_hours is None else interval.retrain_hours * 60,
            "triggers.interval.retrain_hours",
        ),
        "online": (review, "rollout.review_minutes"),
    }
    values: dict[str, Any] = {
        "config": None if path is None else str(path),
        "code_dir": str(Path.cwd().resolve()),
        "model_name": settings.project.model_name,
    }
    for name, (minutes, key) in every.items():
        values[f"{name}_cron"] = OFF_CRON if minutes is None else cron_every(minutes, key)
        values[f"{name}_active"] = minutes is not None
    return values


def find_prefect_file(settings: Settings) -> Path:
    """``prefect.yaml`` beside the configuration, else in the checkout the code runs from.

    Raises:
        ConfigError: Neither exists.
    """
    candidates = [settings.root / PREFECT_FILE, CHECKOUT / PREFECT_FILE]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise ConfigError(
        f"no {PREFECT_FILE} in {settings.root} or in the challenger checkout "
        f"({candidates[1].parent}); run from a clone of challenger or put one beside challenger.yaml"
    )


def pools_and_queues(prefect_file: Path) -> dict[str, set[str]]:
    """Work pools the deployments of ``prefect_file`` use, with their named work queues.

    Raises:
        ConfigError: The file is not YAML or a deployment names no work pool.
    """
    try:
        spec = yaml.safe_load(prefect_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {prefect_file}: {exc}") from exc
    pools: dict[str, set[str]] = {}
    for deployment in spec.get("deployments") or []:
        pool = (deployment.get("work_pool") or {}).get("name")
        if not pool or "{{" in str(pool):
            raise ConfigError(
                f"deployment {deployment.get('name')!r} in {prefect_file} needs a literal "
                "work_pool.name (a process pool that challenger up starts a worker for)"
            )
        queue = (deployment.get("work_pool") or {}).get("work_queue_name")
        pools.setdefault(str(pool), set()).update([str(queue)] if queue else [])
    return pools
