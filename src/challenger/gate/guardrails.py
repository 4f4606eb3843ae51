"""The gate's guardrails: operational budgets, slices and calibration, each a list of checks.

Each function reads the evidence (and the ``gate`` policy) and gives the checks of one
guardrail; ``challenger.gate.decide`` marks them as guardrails (policy, not integrity: a
failure rejects, except in ``dry_run``) and says, when one fails, what the primary metric
said as well.

- :func:`budget_checks`: the challenger's measured costs against absolute budgets
  (``gate.budgets``) and against the champion's (``gate.relative_budgets``, above their
  floors).
- :func:`slice_checks`: no slice of the holdout confidently regressed beyond its margin
  (Holm-adjusted across the slices, see :func:`challenger.gate.evidence.slice_evidence`).
- :func:`calibration_check`: the challenger's calibration not confidently worse than the
  champion's beyond ``calibration.max_increase`` (Brier bounds, or ECE).
"""

from __future__ import annotations

from challenger.config import GateConfig
from challenger.gate.describe import describe_delta, natural, required
from challenger.gate.evidence import Check, Evidence

#: Per budget: the ``Operational`` field (and ``gate.budgets`` key), the
#: ``gate.relative_budgets`` key, the unit and what it is called in a reason.
_BUDGETS = (
    ("latency_p50_ms", "latency_p50", "ms", "single-row p50 latency"),
    ("latency_p99_ms", "latency_p99", "ms", "single-row p99 latency"),
    ("model_size_mb", "model_size", "MB", "model size"),
    ("training_seconds", "training_seconds", "s", "training time"),
    ("peak_memory_mb", "peak_memory", "MB", "peak training memory"),
)


def budget_checks(evidence: Evidence, policy: GateConfig) -> list[Check]:
    """Absolute and champion-relative operational budgets (only those configured).

    A relative budget applies only where the challenger's value is above its absolute floor
    (``gate.relative_budgets.floors``): a ratio on a negligible cost is not a cost.
    """
    chal = evidence.operational.get("challenger")
    champ = evidence.operational.get("champion")
    checks: list[Check] = []
    if chal is None:
        return checks
    floors = policy.relative_budgets.floors
    for attr, rel_attr, unit, label in _BUDGETS:
        value = getattr(chal, attr)
        limit = getattr(policy.budgets, attr)
        if limit is not None:
            if value is None:
                checks.append(
                    Check(
                        f"budget_{attr}",
                        False,
                        "not measured",
                        f"<= {limit:g} {unit}",
                        f"{label} has a budget of {limit:g} {unit} but was not measured",
                    )
                )
            else:
                ok = value <= limit
                checks.append(
                    Check(
                        f"budget_{attr}",
                        ok,
                        f"{value:.3g} {unit}",
                        f"<= {limit:g} {unit}",
                        f"challenger {label} {value:.3g} {unit} {'within' if ok else 'exceeds'} the budget {limit:g} {unit}",
                    )
                )
        ratio_limit = getattr(policy.relative_budgets, rel_attr)
        base = getattr(champ, attr) if champ is not None else None
        if ratio_limit is not None and value is not None and base:
            ratio = value / base
            floor = getattr(floors, attr)
            above = f" above {floor:g} {unit}" if floor is not None else ""
            seen = f"challenger {label} is {ratio:.2f}x the champion's ({value:.3g} vs {base:.3g} {unit})"
            if floor is not None and value <= floor:
                ok, why = (
                    True,
                    (
                        f"{seen}, but {value:.3g} {unit} is at or below the floor {floor:g} {unit} "
                        f"(gate.relative_budgets.floors.{attr}), where the relative budget does not apply"
                    ),
                )
            else:
                ok = ratio <= ratio_limit
                why = f"{seen}; budget {ratio_limit:g}x{above}"
            checks.append(
                Check(
                    f"relative_{rel_attr}",
                    ok,
                    f"{ratio:.2f}x ({value:.3g} {unit})",
                    f"<= {ratio_limit:g}x champion{above}",
                    why,
                )
            )
    return checks


def slice_checks(evidence: Evidence) -> list[Check]:
    """One check per judged slice: no confident regression beyond its margin (Holm)."""
    checks = []
    metric = evidence.primary_metric
    for s in evidence.slices:
        if s.skipped is not None or s.delta is None:
            continue
        shown = describe_delta(metric, s.delta)
        checks.append(
            Check(
                f"slice {s.column}={s.value}",
                not s.regressed,
                f"{shown} (n={s.n_rows}, Holm p={s.p_adjusted:.3g})",
                f"not worse than {required(metric, -s.margin)}",
                f"slice {s.column}={s.value}: {shown} on {s.n_rows} rows "
                + ("regressed beyond" if s.regressed else "no confident regression beyond")
                + f" the margin {s.margin:g} (Holm-adjusted p={s.p_adjusted:.3g})",
            )
        )
    return checks


def calibration_check(evidence: Evidence, policy: GateConfig) -> list[Check]:
    """The challenger's calibration may not be confidently worse than the champion's beyond a margin.

    ``calibration.metric: brier`` — and ECE on a holdout of fewer than ``calibration.min_rows``
    rows, where binned ECE measures its own noise more than calibration — is judged on the
    paired bounds of the Brier score: it fails only if even the most favourable bound of the
    increase exceeds ``max_increase``.
    """
    cfg = policy.calibration
    if cfg.max_increase is None or evidence.champion_version is None:
        return []
    small = cfg.metric == "ece" and evidence.n_rows < cfg.min_rows
    if cfg.metric == "brier" or small:
        row = evidence.secondary.get("brier", {})
        lower = row.get("lower")  # oriented: positive = challenger better (lower loss)
        if lower is None:
            return []
        # Worse calibration beyond the margin with confidence: the upper bound of the
        # oriented improvement is below -max_increase.
        upper = row.get("upper")
        assert upper is not None
        ok = upper >= -cfg.max_increase
        increase = natural("brier", upper)  # challenger − champion: the smallest plausible increase
        instead = (
            f" (ECE needs calibration.min_rows {cfg.min_rows} holdout rows, this one has "
            f"{evidence.n_rows}: judged on the Brier score's bounds instead)"
            if small
            else ""
        )
        return [
            Check(
                "calibration_brier",
                ok,
                f"Δ brier lower bound {increase:+.4f}",
                f"<= +{cfg.max_increase:g}",
                "Brier score (challenger − champion) "
                + ("not confidently worse" if ok else "confidently worse")
                + f" than the champion's beyond {cfg.max_increase:g}"
                + instead,
            )
        ]
    chal = evidence.calibration.get("ece_challenger")
    champ = evidence.calibration.get("ece_champion")
    if chal is None or champ is None:
        return []
    increase = chal - champ
    ok = increase <= cfg.max_increase
    return [
        Check(
            "calibration_ece",
            ok,
            f"{chal:.4f} vs champion {champ:.4f}",
            f"increase <= {cfg.max_increase:g}",
            f"expected calibration error {chal:.4f} vs the champion's {champ:.4f}: "
            + ("within" if ok else "beyond")
            + f" the tolerated increase {cfg.max_increase:g}",
        )
    ]
