"""Judging a registered challenger against the champion on one frozen holdout.

:func:`judge` loads both models back from the registry (so what is judged is what would
serve), runs the smoke test, scores both on the same holdout rows, measures the operational
indicators, gathers the evidence (``gate.evidence``) and asks the pure decision
(``gate.decide``) for a verdict. It moves nothing: promotion is ``gate.promotion``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from challenger.config import DataConfig, GateConfig, Settings
from challenger.gate.decide import GateDecision, decide
from challenger.gate.evidence import (
    Check,
    Evidence,
    Operational,
    gather_evidence,
    measure_latency,
    resampling_groups,
    smoke_test,
)
from challenger.problem import encode_target, model_scores, shared_classes
from challenger.store.registry import Registry, VersionInfo


@dataclass(frozen=True)
class JudgeSettings:
    """The configuration a judgement reads (sections and the values it needs)."""

    data: DataConfig
    gate: GateConfig
    primary_metric: str
    seed: int
    model_threads: int  # time predictions as the serving app runs them

    @classmethod
    def from_settings(cls, settings: Settings) -> JudgeSettings:
        """The sections of the whole configuration a judgement reads."""
        return cls(
            settings.data,
            settings.gate,
            settings.training.primary_metric,
            settings.project.seed,
            settings.serving.model_threads,
        )


@dataclass(frozen=True)
class Verdict:
    """Evidence, decision and the scores behind them."""

    evidence: Evidence
    decision: GateDecision
    y: np.ndarray
    champion_scores: np.ndarray | None
    challenger_scores: np.ndarray
    champion: VersionInfo | None


def _operational(
    registry: Registry,
    version: VersionInfo,
    model: Any,
    X: pd.DataFrame,
    cfg: JudgeSettings,
) -> Operational:
    timed = measure_latency(
        model, X, cfg.gate.latency_repeats, task=cfg.data.task, threads=cfg.model_threads
    )
    record = version.record
    size = record.model_size_mb
    if size is None:
        size = registry.model_size_mb(version.version)
    return replace(
        timed,
        model_size_mb=size,
        training_seconds=record.training_seconds,
        peak_memory_mb=record.peak_memory_mb,
    )


def judge(
    cfg: JudgeSettings,
    registry: Registry,
    version: VersionInfo,
    champion: VersionInfo | None,
    holdout: pd.DataFrame,
    base_checks: tuple[Check, ...],
) -> Verdict:
    """Score champion and challenger (both loaded back from the registry) on the same holdout.

    Args:
        cfg: What the judgement reads from the configuration.
        registry: The registered model.
        version: The challenger.
        champion: The champion to compare with (None: the first-champion case).
        holdout: The frozen holdout rows, with the target.
        base_checks: Hard checks already made (validation, holdout newer than training).

    Returns:
        The verdict; a champion that cannot be loaded or scored is recorded as a failed
        check (and so rejects), never raised.
    """
    d, gate = cfg.data, cfg.gate
    X = holdout[list(d.features)]
    checks = list(base_checks)
    loaded = registry.load_model(version.version)
    champion_cols = registry.input_columns(champion.version) if champion else None
    checks.append(
        smoke_test(
            loaded,
            X.head(gate.smoke_rows),
            version.version,
            champion_cols,
            registry.input_columns(version.version),
            d.task,
        )
    )
    operational = {"challenger": _operational(registry, version, loaded, X, cfg)}
    champ_model: Any = None
    if champion is not None:
        try:
            champ_model = registry.load_model(champion.version)
            model_scores(champ_model, X.head(1), d.task)
            operational["champion"] = _operational(registry, champion, champ_model, X, cfg)
            checks.append(
                Check(
                    "same_holdout",
                    True,
                    f"{len(holdout)} rows",
                    "both models",
                    f"champion v{champion.version} and challenger v{version.version} scored on the same {len(holdout)} rows",
                )
            )
        except Exception as exc:  # a champion that cannot score is recorded, then rejected
            champ_model = None
            checks.append(
                Check(
                    "champion_loads",
                    False,
                    "error",
                    "loads and predicts",
                    f"champion v{champion.version} could not be loaded or scored: {exc}",
                )
            )
    # Multiclass: both models' probabilities over every class either knows, same columns.
    classes = shared_classes(loaded, champ_model) if d.task == "multiclass" else None
    y = encode_target(holdout[d.target], d.task, d.target, classes)
    challenger_scores = model_scores(loaded, X, d.task, classes)
    champion_scores = (
        model_scores(champ_model, X, d.task, classes) if champ_model is not None else None
    )
    groups = resampling_groups(
        holdout, gate.resample, gate.group_column, gate.block_rows, d.timestamp
    )
    evidence = gather_evidence(
        y,
        challenger_scores,
        champion_scores,
        primary_metric=cfg.primary_metric,
        champion_version=champion.version if champion_scores is not None and champion else None,
        challenger_version=version.version,
        confidence=gate.confidence,
        n_resamples=gate.n_resamples,
        seed=cfg.seed,
        groups=groups,
        resample_unit=gate.resample,
        slice_values={s.column: holdout[s.column].astype(str).to_numpy() for s in gate.slices},
        slices=gate.slices,
        operational=operational,
        task=d.task,
    )
    decision = decide(evidence, tuple(checks), gate)
    return Verdict(evidence, decision, y, champion_scores, challenger_scores, champion)


def holdout_newer_check(train_max_ts: str | None, holdout: pd.DataFrame, ts: str | None) -> Check:
    """Never validate on the past: every holdout row at least as new as every training row."""
    if not ts or ts not in holdout.columns or train_max_ts is None:
        return Check(
            "holdout_newer_than_training",
            True,
            "no timestamp",
            "newest rows held out",
            "no timestamp to compare: the holdout is a seeded random split",
        )
    # In UTC on both sides: a version recorded before intake kept one time zone policy may
    # carry a time without an offset (taken as UTC, like intake takes such values).
    h_min = pd.to_datetime(holdout[ts], utc=True).min()
    t_max = pd.Timestamp(train_max_ts)
    t_max = t_max.tz_localize("UTC") if t_max.tzinfo is None else t_max.tz_convert("UTC")
    ok = bool(h_min >= t_max)
    return Check(
        "holdout_newer_than_training",
        ok,
        f"holdout from {h_min}",
        f">= {t_max}",
        "every holdout row is at least as new as every training row"
        if ok
        else f"holdout rows from {h_min} are older than training rows up to {t_max}: validating on the past",
    )
