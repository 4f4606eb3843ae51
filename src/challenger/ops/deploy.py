"""The ``prefect.yaml`` build step: the values its deployments are templated with.

``prefect deploy`` (run by ``challenger up``) calls :func:`deployment_values`, which reads
``challenger.yaml`` so the schedules (``triggers.interval``, ``rollout.review_minutes``) and
the configuration path have one source; :func:`pools_and_queues` reads which work pools and
queues the deployments need, so ``up`` can create them first.
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
ANCHOR = "20260101T000000"  # fixed DTSTART: redeploying keeps the schedule's phase
OFF_RRULE = "FREQ=WEEKLY;INTERVAL=1"  # a valid rule for a schedule that is switched off


def rrule_every(seconds: float) -> str:
    """An RFC 5545 rule repeating every ``seconds``, in the largest whole unit."""
    whole = max(1, round(seconds))
    for unit, size in (("WEEKLY", 604_800), ("DAILY", 86_400), ("HOURLY", 3_600)):
        if whole % size == 0:
            return f"DTSTART:{ANCHOR}\nRRULE:FREQ={unit};INTERVAL={whole // size}"
    if whole % 60 == 0:
        return f"DTSTART:{ANCHOR}\nRRULE:FREQ=MINUTELY;INTERVAL={whole // 60}"
    return f"DTSTART:{ANCHOR}\nRRULE:FREQ=SECONDLY;INTERVAL={whole}"


def deployment_values(config: str | None = None) -> dict[str, Any]:
    """Values ``prefect.yaml`` templates into its deployments (a Prefect build step).

    Args:
        config: ``challenger.yaml`` to deploy with; default ``$CHALLENGER_CONFIG``, else
            ``./challenger.yaml`` if it exists, else the built-in defaults.

    Returns:
        ``config`` (absolute path or None), ``code_dir`` (where the flows are, the working
        directory of every run), the schedules as RRULEs with their on/off switches
        (``monitor_rrule``, ``monitor_active``, ``retrain_rrule``, ``retrain_active``,
        ``online_rrule``, ``online_active``) and ``model_name``. The online analysis is
        scheduled only for a binary task (the only one the serving app compares).

    Raises:
        ConfigError: The configuration is invalid (the deploy then stops with its message).
    """
    chosen = config or os.environ.get(CONFIG_ENV) or None
    path = Path(chosen).resolve() if chosen else None
    if path is None and (Path.cwd() / DEFAULT_CONFIG_NAME).is_file():
        path = (Path.cwd() / DEFAULT_CONFIG_NAME).resolve()
    settings = load_config(path)
    interval = settings.triggers.interval
    monitor = interval.monitor_minutes
    retrain = interval.retrain_hours
    review = settings.rollout.review_minutes if settings.data.task == "binary" else None
    return {
        "config": None if path is None else str(path),
        "code_dir": str(Path.cwd().resolve()),
        "monitor_rrule": rrule_every(monitor * 60)
        if monitor
        else f"DTSTART:{ANCHOR}\nRRULE:{OFF_RRULE}",
        "monitor_active": monitor is not None,
        "retrain_rrule": rrule_every(retrain * 3600)
        if retrain
        else f"DTSTART:{ANCHOR}\nRRULE:{OFF_RRULE}",
        "retrain_active": retrain is not None,
        "online_rrule": rrule_every(review * 60)
        if review
        else f"DTSTART:{ANCHOR}\nRRULE:{OFF_RRULE}",
        "online_active": review is not None,
        "model_name": settings.project.model_name,
    }


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
