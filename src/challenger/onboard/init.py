"""``challenger init DATA --target COLUMN``: a checked ``challenger.yaml`` written from a table.

Reads the table, profiles it (:mod:`~challenger.onboard.profile`), proposes a configuration
sized to it (:mod:`~challenger.onboard.propose`), writes it with a comment on every key
(:mod:`~challenger.onboard.write`), loads it back through :func:`challenger.config.load_config`
and checks the table's columns against it, so that the command it prints next works.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from challenger.errors import ConfigError
from challenger.onboard.profile import Profile, Task, profile_table
from challenger.onboard.propose import Sizes, propose, sizes
from challenger.onboard.write import render


@dataclass(frozen=True)
class InitResult:
    """What ``challenger init`` wrote and what to run next."""

    config: Path
    data: Path
    profile: Profile
    sizes: Sizes
    model_name: str
    primary_metric: str
    candidates: tuple[str, ...]
    next_command: str

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document."""
        p, t = self.profile, self.profile.target
        return {
            "config": str(self.config),
            "data": str(self.data),
            "rows": p.rows,
            "task": t.task,
            "task_reason": t.why,
            "target": t.name,
            "classes": None if t.classes is None else [str(c) for c in t.classes],
            "model_name": self.model_name,
            "primary_metric": self.primary_metric,
            "candidates": list(self.candidates),
            "timestamp": next(iter(p.names("timestamp")), None),
            "id_column": next(iter(p.names("id")), None),
            "numeric": list(p.names("numeric")),
            "categorical": list(p.names("categorical")),
            "ignored": [{"column": c.name, "reason": c.why} for c in p.ignored],
            "holdout_rows": self.sizes.holdout_rows,
            "train_rows": self.sizes.train_rows,
            "cv_splits": self.sizes.n_splits,
            "warnings": list(p.warnings),
            "next": self.next_command,
        }


def _shown(path: Path) -> str:
    """A path as the user would type it: relative to the current folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())


def initialise(
    data: Path, target: str, config: Path, *, task: Task | None = None, force: bool = False
) -> InitResult:
    """Write ``config`` for a model of ``target`` in ``data``, validated, and say what is next.

    Args:
        data: A CSV or Parquet table with the target and the features.
        target: The column to predict.
        config: The file to write (its folder becomes the project root).
        task: Force binary, multiclass or regression instead of inferring it.
        force: Overwrite an existing file.

    Raises:
        ConfigError: ``config`` exists and ``force`` is not set.
        DataError: The table cannot be read, the target does not exist or cannot be learnt.
    """
    from challenger.config import load_config
    from challenger.onboard.columns import check_file_columns
    from challenger.store.batches import read_table

    if config.exists() and not force:
        raise ConfigError(
            f"{config} already exists; pass --force to overwrite it, or --config PATH to write "
            "another file"
        )
    frame = read_table(data)
    profile = profile_table(frame, target, task)
    text = render(propose(profile, data))
    config.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and checked before it replaces anything: a proposal that does
    # not load is a bug here, never a half-written challenger.yaml.
    fd, tmp = tempfile.mkstemp(prefix=".challenger-init-", suffix=".yaml", dir=config.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        settings = load_config(tmp)
        check_file_columns(settings, data, "training")
        os.replace(tmp, config)
    finally:
        Path(tmp).unlink(missing_ok=True)
    flag = (
        ""
        if config.resolve() == (Path.cwd() / "challenger.yaml").resolve()
        else f" --config {_shown(config)}"
    )
    return InitResult(
        config=config.resolve(),
        data=data.resolve(),
        profile=profile,
        sizes=sizes(profile),
        model_name=settings.project.model_name,
        primary_metric=settings.training.primary_metric,
        candidates=tuple(c.name for c in settings.enabled_candidates()),
        next_command=f"challenger retrain --data {_shown(data)}{flag}",
    )
