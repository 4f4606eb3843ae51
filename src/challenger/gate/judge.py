"""Judging a registered challenger against the champion on one frozen holdout.

:func:`judge` loads both models back from the registry (so what is judged is what would
serve), checks that no holdout row was seen in training by either model (by the row
fingerprints each version's run keeps: a hard check), runs the smoke test, scores both on
the same holdout rows, measures the operational indicators, gathers the evidence
(``gate.evidence``) and asks the pure decision (``gate.decide``) for a verdict. It moves
nothing: promotion is ``gate.promotion``.
"""

from __future__ import annotations

from collections.abc import Callable
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
    resampling_groups,
    smoke_test,
)
from challenger.gate.latency import measure_latency
from challenger.problem import encode_target, model_scores, shared_classes
from challenger.store.registry import Registry, VersionInfo
from challenger.train.window import HoldoutDraw, row_hashes, seen_in

TrainingRows = Callable[[VersionInfo], "np.ndarray | None"]
"""Gives the sorted fingerprints of the rows a version trained on (None: not recorded)."""


@dataclass(frozen=True)
class Provenance:
    """Where a holdout came from and how to learn what each version trained on.

    Attributes:
        draw: How the holdout was drawn (``challenger.train.window.split_unseen``).
        training_rows: A version's training-row fingerprints (``Tracking.load_training_rows``
            of its run).
    """

    draw: HoldoutDraw
    training_rows: TrainingRows


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
    provenance: Provenance,
) -> Verdict:
    """Score champion and challenger (both loaded back from the registry) on the same holdout.

    Args:
        cfg: What the judgement reads from the configuration.
        registry: The registered model.
        version: The challenger.
        champion: The champion to compare with (None: the first-champion case).
        holdout: The frozen holdout rows, with the target.
        base_checks: Hard checks already made (validation, holdout newer than training).
        provenance: How the holdout was drawn, and what each version trained on.

    Returns:
        The verdict; a champion that cannot be loaded or scored, or a holdout row seen in
        training, is recorded as a failed check (and so rejects), never raised.
    """
    d, gate = cfg.data, cfg.gate
    X = holdout[list(d.features)]
    unseen, counts = unseen_check(holdout, d, version, champion, provenance)
    checks = [*base_checks, unseen]
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
        decision_metrics=tuple(gate.decision_metrics_for(d.task, cfg.primary_metric)),
        small_sample_units=gate.small_sample_rows,
    )
    evidence = replace(evidence, holdout=counts)
    decision = decide(evidence, tuple(checks), gate)
    return Verdict(evidence, decision, y, champion_scores, challenger_scores, champion)


def unseen_check(
    holdout: pd.DataFrame,
    data: DataConfig,
    version: VersionInfo,
    champion: VersionInfo | None,
    provenance: Provenance,
) -> tuple[Check, dict[str, Any]]:
    """Hard check: no holdout row was seen in training by the challenger or the champion.

    Rows are compared by fingerprint (``challenger.train.window.row_hashes``), so a row that
    came back in a later batch counts as seen. A version whose training rows are not
    recorded fails the check: the holdout cannot be shown unseen.

    Returns:
        The check, and the counts for the record (``Evidence.holdout``).
    """
    hashes = row_hashes(holdout, data)
    compared = [("challenger", version)] + ([("champion", champion)] if champion else [])
    counts: dict[str, Any] = {"rows": len(holdout), **provenance.draw.to_dict()}
    seen_parts, unknown, total = [], [], 0
    for role, v in compared:
        rows = provenance.training_rows(v)
        if rows is None:
            counts[f"seen_by_{role}"] = None
            unknown.append(v.version)
            continue
        seen = int(seen_in(hashes, rows).sum())
        counts[f"seen_by_{role}"] = seen
        counts[f"{role}_training_rows"] = int(rows.size)
        total += seen
        seen_parts.append(f"{seen} among the {rows.size:,} rows v{v.version} ({role}) trained on")
    value = ", ".join(
        f"{role} {counts[f'seen_by_{role}'] if counts[f'seen_by_{role}'] is not None else 'unknown'}"
        for role, _ in compared
    )
    if unknown:
        names = " and ".join(f"v{u}" for u in unknown)
        reason = (
            f"{names} keeps no record of its training rows (registered before challenger kept "
            "row fingerprints), so the holdout cannot be shown unseen; retrain it, or promote by "
            "hand with --force and a reason"
        )
        ok = False
    elif total:
        reason = (
            f"{total} of the {len(holdout)} holdout rows were seen in training ({'; '.join(seen_parts)}): "
            "a model would be scored on rows it learnt; judge on rows neither model trained on"
        )
        ok = False
    else:
        reason = (
            f"none of the {len(holdout)} holdout rows ({provenance.draw.how}) was seen in training: "
            + "; ".join(seen_parts)
            + " (row fingerprints of the feature and target values)"
        )
        ok = True
    check = Check("holdout_unseen", ok, f"seen: {value}", "0 rows seen by either model", reason)
    return check, counts


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
