"""The words and pictures of a decision: the model card, the decision table, the gate report, plots."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from challenger.artifact import Artifact
from challenger.gate.decide import GateDecision
from challenger.gate.describe import describe_bounds, describe_delta, natural, natural_bounds
from challenger.gate.evidence import Check, Evidence
from challenger.train.leakage import Finding
from challenger.train.selection import CVResult, KSensitivity

#: Longest reason a table cell shows; the whole text stays in gate/report.md and decision.json.
REASON_WIDTH = 120
#: The same in the Prefect table artifact, whose detail column is narrower (about 70
#: characters fit beside the side panel at 1,440 px).
TABLE_REASON_WIDTH = 68


@dataclass(frozen=True)
class RunLinks:
    """Addresses in the MLflow UI of the run a decision was recorded on (classic runs view)."""

    base: str  # the MLflow UI, e.g. http://127.0.0.1:5000
    experiment_id: str
    run_id: str

    def run(self) -> str:
        """The run's page."""
        return f"{self.base}/#/experiments/{self.experiment_id}/runs/{self.run_id}"

    def artifact(self, path: str) -> str:
        """One artifact of the run, opened in its Artifacts tab."""
        return f"{self.run()}/artifactPath/{path}"


def _artifact(path: str, links: RunLinks | None) -> str:
    return f"[`{path}`]({links.artifact(path)})" if links else f"`{path}`"


def shorten(text: str, width: int = REASON_WIDTH) -> str:
    """``text`` on one line, cut at a word before ``width`` characters (with an ellipsis)."""
    return textwrap.shorten(" ".join(str(text).split()), width=width, placeholder=" …")


def failed_first(checks: Sequence[Check]) -> list[Check]:
    """Failing checks first (hard before soft), then the passing ones, each in gate order."""
    return sorted(checks, key=lambda c: (c.passed, not c.hard))


def checks_table(checks: Sequence[Check]) -> list[str]:
    """Every check as markdown table rows, failing ones first, reasons shortened."""
    rows = ["| check | result | value | threshold | reason |", "|---|---|---|---|---|"]
    for c in failed_first(checks):
        result = "pass" if c.passed else ("**FAIL**" if c.hard else "fail (soft)")
        cells = (c.name, result, c.value, c.threshold, shorten(c.reason))
        rows.append("| " + " | ".join(str(x).replace("|", "\\|") for x in cells) + " |")
    return rows


def card_footer(links: RunLinks | None) -> str:
    """The model card's pointer to the full evidence (a link when the MLflow UI is known)."""
    where = f"[the run]({links.run()})" if links else "the run"
    return (
        f"\n\nFull evidence (slices, latency, plots): {_artifact('gate/report.md', links)} "
        f"on {where}."
    )


def training_section(
    metric: str,
    ksens: tuple[KSensitivity, ...] | list[KSensitivity],
    warnings: tuple[Finding, ...] | list[Finding],
    best: CVResult,
    max_search_rows: int = 10,
) -> str:
    """Markdown for the model card: search results, k-sensitivity and leakage warnings."""
    lines: list[str] = []
    if best.search:
        what = "nested CV: the inner search's choice per outer fold" if best.nested else "search"
        cols = list(best.search[0])
        if not best.nested:
            cols = [
                c for c in cols if c == "rank" or c.startswith("param.") or c.startswith(metric)
            ]
        lines += [
            "",
            f"**Search of `{best.candidate}`** ({what}, best first):",
            "",
            "| " + " | ".join(cols) + " |",
            "|" + "---|" * len(cols),
        ]
        for row in best.search[:max_search_rows]:
            lines.append("| " + " | ".join(_cell(row.get(c)) for c in cols) + " |")
    if ksens:
        lines += [
            "",
            f"**k-sensitivity of `{best.candidate}`** ({best.strategy}): how the CV estimate of "
            f"{metric} moves with the number of folds.",
            "",
            "| k | folds | mean | sd |",
            "|---|---|---|---|",
        ]
        lines += [f"| {k.k} | {k.n_folds} | {k.mean:.4f} | {_cell(k.std)} |" for k in ksens]
    if warnings:
        lines += ["", "**Leakage warnings:**", ""]
        lines += [f"- `{w.guard}` on `{w.column}`: {w.message}" for w in warnings]
    return "\n".join(lines)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return "—" if v != v else f"{v:.4g}"
    return "—" if v is None else str(v)


@dataclass(frozen=True)
class CardInputs:
    """What every model card starts from, however the version came to be judged.

    Attributes:
        model_name: The registered model.
        version: The version the card is for.
        trigger: What started the judgement (a retrain's trigger, ``manual``, ...).
        trigger_reasons: Why, in words (the card joins them after the trigger).
        evidence: The comparison on the holdout.
        decision: The gate's decision.
        fingerprint: The training data's fingerprint.
    """

    model_name: str
    version: int
    trigger: str
    trigger_reasons: Sequence[str]
    evidence: Evidence
    decision: GateDecision
    fingerprint: str


def retrain_card(
    *,
    model_name: str,
    version: int,
    best: CVResult,
    all_cv: tuple[CVResult, ...],
    trigger: str,
    trigger_reasons: tuple[str, ...] | list[str],
    evidence: Evidence,
    decision: GateDecision,
    fingerprint: str,
    n_train: int,
    k_sensitivity: tuple[KSensitivity, ...],
    warnings: tuple[Finding, ...],
    cv_test: Mapping[str, Any] | None,
) -> str:
    """The model card of a freshly trained version: the card, the training section, the CV test."""
    metric = evidence.primary_metric
    inputs = CardInputs(
        model_name, version, trigger, trigger_reasons, evidence, decision, fingerprint
    )
    card = model_card(inputs, cv=best, all_cv=all_cv, n_train=n_train)
    card += training_section(metric, k_sensitivity, warnings, best)
    if cv_test is not None:
        card += (
            f"\n\nBest vs runner-up candidate on the same CV folds (Nadeau–Bengio corrected t-test): "
            f"Δ{metric} {cv_test['mean_difference']:+.4f} vs {cv_test['runner_up']}, p={cv_test['p_value']:.3g}."
        )
    return card


def promotion_card(
    *,
    model_name: str,
    version: int,
    trigger: str,
    reason: str | None,
    evidence: Evidence,
    decision: GateDecision,
    fingerprint: str,
    earlier: str,
) -> str:
    """The model card of an existing version judged again (``challenger promote``)."""
    reasons = [reason] if reason else []
    card = model_card(
        CardInputs(model_name, version, trigger, reasons, evidence, decision, fingerprint)
    )
    if earlier:
        card += "\n\n---\n**Earlier record of this version:**\n\n" + earlier[:1500]
    return card


def model_card(
    inputs: CardInputs,
    cv: CVResult | None = None,
    all_cv: tuple[CVResult, ...] = (),
    n_train: int = 0,
) -> str:
    """A short markdown model card: what this version is and how it compared.

    ``cv=None`` (a manual promotion of an existing version) leaves out the training part:
    the model, its training data (``n_train`` rows) and the candidates' CV results
    (``all_cv``).
    """
    evidence, decision = inputs.evidence, inputs.decision
    m = evidence.primary_metric
    # One paragraph per line: MLflow's markdown joins lines that a single newline separates.
    lines = [
        f"## {inputs.model_name} v{inputs.version}: {decision.outcome.value}",
        "",
        f"**Decision:** {decision.outcome.value} → {decision.action.replace('_', ' ')} ({decision.mode} gate, {decision.rule}).",
        "",
        f"**Why:** {decision.reason}",
        "",
        f"**Task:** {evidence.task}; primary metric `{m}` "
        f"({'higher' if evidence.higher_is_better else 'lower'} is better).",
        "",
        f"**Trigger:** {inputs.trigger}"
        + (f" — {'; '.join(inputs.trigger_reasons)}" if inputs.trigger_reasons else ""),
    ]
    if cv is not None:
        lines += [
            "",
            f"**Model:** `{cv.estimator}` (candidate `{cv.candidate}`), params `{cv.params}`",
            "",
            f"**Training data:** {n_train} rows, fingerprint `{inputs.fingerprint}`; "
            f"CV {cv.strategy} k={cv.n_splits}: {m} {cv.mean(m):.4f} ± {cv.std(m):.4f}",
            "",
            "| candidate | CV " + m + " (mean ± sd) |",
            "|---|---|",
            *[f"| {r.candidate} | {r.mean(m):.4f} ± {r.std(m):.4f} |" for r in all_cv],
        ]
    lines += ["", holdout_line(evidence), "", "| metric | champion | challenger |", "|---|---|---|"]
    for metric, row in evidence.secondary.items():
        champ = row.get("champion")
        lines.append(
            f"| {metric} | {'—' if champ is None else f'{champ:.4f}'} | {row['challenger']:.4f} |"
        )
    if evidence.primary is not None:
        bs = evidence.primary
        lines += [
            "",
            f"Paired comparison vs champion v{evidence.champion_version} (challenger − champion): "
            f"{describe_delta(m, bs.delta)}, {describe_bounds(bs)}; {bs.n_resamples} bootstrap resamples.",
        ]
        for name, b in evidence.decision.items():
            lines += [
                "",
                f"Decision metric: {describe_delta(name, b.delta)}, {describe_bounds(b)}.",
            ]
    failed = [c for c in decision.checks if not c.passed]
    lines += [
        "",
        f"**Checks:** {len(decision.checks) - len(failed)} of {len(decision.checks)} passed"
        + (f"; failed: {', '.join(c.name for c in failed)}." if failed else "."),
        "",
        *checks_table(decision.checks),
    ]
    return "\n".join(lines)


def holdout_line(evidence: Evidence) -> str:
    """Where the holdout came from and how many of its rows each model had trained on."""
    held = evidence.holdout
    if not held:
        return f"**Holdout:** {evidence.n_rows} rows."

    def seen(role: str) -> str:
        value = held.get(f"seen_by_{role}", "—")
        return "unknown" if value is None else str(value)

    parts = [f"**Holdout:** {evidence.n_rows} rows, {held.get('how', 'drawn from the window')}"]
    if held.get("excluded"):
        parts.append(f"{held['excluded']} rows left out because a compared model trained on them")
    roles = ["challenger"] + (["champion"] if "seen_by_champion" in held else [])
    parts.append(
        "seen in training: "
        + ", ".join(f"{r} {seen(r)}" for r in roles)
        + " (by row fingerprint; the gate needs 0)"
    )
    return "; ".join(parts) + "."


def decision_table(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows for the Prefect table artifact of a retrain: failing checks first, reasons short."""
    decision = result["decision"]
    rows = [
        {
            "item": "outcome",
            "value": decision["outcome"],
            "detail": shorten(decision["reason"], TABLE_REASON_WIDTH),
        },
        {
            "item": "action",
            "value": decision["action"],
            "detail": f"mode {decision['mode']}, rule {decision['rule']}",
        },
        {
            "item": "challenger",
            "value": f"v{result['challenger_version']}",
            "detail": result.get("candidate", ""),
        },
        {
            "item": "champion before",
            "value": "none"
            if result["champion_before"] is None
            else f"v{result['champion_before']}",
            "detail": "",
        },
    ]
    checks = sorted(decision["checks"], key=lambda c: (c["passed"], not c.get("hard", True)))
    rows += [
        {
            "item": f"check: {c['name']}",
            "value": "pass" if c["passed"] else "FAIL",
            "detail": shorten(c["reason"], TABLE_REASON_WIDTH),
        }
        for c in checks
    ]
    return rows


# ---- the full gate report and its plots ------------------------------------------------------


def gate_report(
    *,
    model_name: str,
    version: int,
    evidence: Evidence,
    decision: GateDecision,
    card: str,
    plots: list[str],
    links: RunLinks | None = None,
) -> str:
    """The markdown report logged with every decision: the card plus every number behind it.

    With ``links`` the plots and the run are links into the MLflow UI.
    """
    lines = [card]
    if links:
        lines += ["", f"Recorded on MLflow run [{links.run_id}]({links.run()})."]
    lines += ["", "### Cross-checks", ""]
    for name, value in evidence.cross_checks.items():
        shown = (
            ", ".join(f"{k} {_cell(v)}" for k, v in value.items())
            if isinstance(value, Mapping)
            else str(value)
        )
        lines.append(f"- **{name}**: {shown}")
    if evidence.slices:
        lines += [
            "",
            f"### Slices ({evidence.primary_metric}, Δ = challenger − champion, Holm-adjusted regression tests)",
            "",
            "| slice | rows | Δ | bounds | Holm p | verdict |",
            "|---|---|---|---|---|---|",
        ]
        for s in evidence.slices:
            if s.skipped or s.delta is None:
                lines.append(
                    f"| {s.column}={s.value} | {s.n_rows} | — | — | — | not judged: {s.skipped} |"
                )
            else:
                verdict = "**regressed**" if s.regressed else "ok"
                metric = evidence.primary_metric
                lo, hi = natural_bounds(metric, s.lower or 0.0, s.upper or 0.0)
                lines.append(
                    f"| {s.column}={s.value} | {s.n_rows} | {natural(metric, s.delta):+.4f} | [{lo:+.4f}, {hi:+.4f}] "
                    f"| {s.p_adjusted:.3g} | {verdict} |"
                )
    if evidence.operational:
        lines += [
            "",
            "### Operational indicators",
            "",
            "| indicator | champion | challenger |",
            "|---|---|---|",
        ]
        champ = evidence.operational.get("champion")
        chal = evidence.operational.get("challenger")
        for key in (
            "latency_p50_ms",
            "latency_p99_ms",
            "batch_ms_per_1k_rows",
            "model_size_mb",
            "training_seconds",
            "peak_memory_mb",
        ):
            a = getattr(champ, key) if champ else None
            b = getattr(chal, key) if chal else None
            lines.append(
                f"| {key} | {'—' if a is None else f'{a:.3g}'} | {'—' if b is None else f'{b:.3g}'} |"
            )
    if evidence.calibration:
        lines += ["", "### Calibration", ""]
        lines += [f"- {k}: {v:.4f}" for k, v in evidence.calibration.items() if v is not None]
    if plots:
        lines += ["", "### Plots", ""] + [f"- {_artifact(p, links)}" for p in plots]
    lines += [
        "",
        f"_Decision for {model_name} v{version}: {decision.outcome.value}, action {decision.action}._",
    ]
    return "\n".join(lines)


_MODELS = (("champion", "tab:blue"), ("challenger", "tab:orange"))


def _task_figure(
    plt: Any, y: np.ndarray, champion: np.ndarray | None, challenger: np.ndarray, task: str
) -> tuple[Any, str]:
    scored = [
        (name, scores, colour)
        for (name, colour), scores in zip(_MODELS, (champion, challenger), strict=True)
        if scores is not None
    ]
    if task == "binary":
        from sklearn.metrics import precision_recall_curve, roc_curve

        fig, (ax_roc, ax_pr) = plt.subplots(1, 2, figsize=(10, 4.2))
        for name, scores, colour in scored:
            fpr, tpr, _ = roc_curve(y, scores)
            prec, rec, _ = precision_recall_curve(y, scores)
            ax_roc.plot(fpr, tpr, color=colour, label=name)
            ax_pr.plot(rec, prec, color=colour, label=name)
        ax_roc.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
        ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
        ax_pr.set(xlabel="recall", ylabel="precision", title="Precision–recall")
        ax_roc.legend(loc="lower right")
        ax_pr.legend(loc="upper right")
        return fig, "roc_pr.png"
    if task == "multiclass":
        from sklearn.metrics import confusion_matrix

        k = challenger.shape[1]
        fig, axes = plt.subplots(1, len(scored), figsize=(5 * len(scored), 4.4), squeeze=False)
        for ax, (name, scores, _) in zip(axes[0], scored, strict=True):
            cm = confusion_matrix(y, np.argmax(scores, axis=1), labels=range(k), normalize="true")
            ax.imshow(cm, vmin=0, vmax=1, cmap="Blues")
            for i in range(k):
                for j in range(k):
                    ax.text(j, i, f"{cm[i, j]:.2f}", ha="center", va="center", fontsize=8)
            ax.set(xlabel="predicted class", ylabel="true class", title=f"{name}: recall per class")
        return fig, "confusion.png"
    fig, (ax_fit, ax_res) = plt.subplots(1, 2, figsize=(10, 4.2))
    lo, hi = float(np.min(y)), float(np.max(y))
    for name, scores, colour in scored:
        ax_fit.scatter(y, scores, s=4, alpha=0.3, color=colour, label=name)
        ax_res.hist(y - scores, bins=50, alpha=0.5, color=colour, label=name)
    ax_fit.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--")
    ax_fit.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual")
    ax_res.set(xlabel="residual (actual − predicted)", ylabel="rows", title="Residuals")
    ax_fit.legend(loc="upper left")
    ax_res.legend(loc="upper right")
    return fig, "predicted_vs_actual.png"


def write_plots(
    y: np.ndarray,
    champion: np.ndarray | None,
    challenger: np.ndarray,
    evidence: Evidence,
    threshold: float,
    folder: Path,
) -> list[Path]:
    """Both models on the holdout, the bootstrap distribution of Δ and per-slice deltas.

    The first figure depends on the task: ROC and precision-recall curves (binary), the
    row-normalised confusion matrices (multiclass), or predicted against actual values
    with the residual distributions (regression).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []

    fig, name = _task_figure(plt, y, champion, challenger, evidence.task)
    fig.suptitle(f"Holdout of {len(y)} rows")
    fig.tight_layout()
    paths.append(folder / name)
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    bs = evidence.primary
    if bs is not None:
        # Drawn as challenger − champion in the metric's units (a loss's axis is flipped).
        sign = 1.0 if bs.higher_is_better else -1.0
        q = np.sort(sign * np.asarray(bs.quantiles))
        delta = natural(bs.metric, bs.delta)
        lo, hi = natural_bounds(bs.metric, bs.lower, bs.upper)
        limit = natural(bs.metric, threshold)
        fig, ax = plt.subplots(figsize=(7, 3.8))
        # The 101 stored percentiles of Δ*, drawn as a histogram of equal-mass bins.
        widths = np.diff(q)
        heights = np.where(widths > 0, 0.01 / np.maximum(widths, 1e-12), 0.0)
        ax.bar(
            q[:-1],
            heights,
            width=widths,
            align="edge",
            color="tab:orange",
            alpha=0.5,
            label="bootstrap Δ",
        )
        ax.axvline(delta, color="black", label=f"observed Δ {delta:+.4f}")
        ax.axvline(lo, color="tab:green", ls="--", label=f"lower bound {lo:+.4f}")
        ax.axvline(hi, color="tab:red", ls="--", label=f"upper bound {hi:+.4f}")
        ax.axvline(limit, color="grey", ls=":", label=f"threshold {limit:+g}")
        better = "right" if bs.higher_is_better else "left"
        ax.set(
            xlabel=f"Δ {bs.metric} (challenger − champion; challenger better to the {better})",
            ylabel="density",
            title=f"Paired bootstrap, {bs.n_resamples} resamples; {bs.confidence:.0%} one-sided bounds ({bs.method})",
        )
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(folder / "bootstrap_delta.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)

    judged = [s for s in evidence.slices if s.delta is not None]
    if judged:
        fig, ax = plt.subplots(figsize=(7, 0.5 * len(judged) + 1.5))
        labels = [f"{s.column}={s.value} (n={s.n_rows})" for s in judged]
        metric = evidence.primary_metric
        sign = 1.0 if evidence.higher_is_better else -1.0
        deltas = sign * np.array([s.delta for s in judged], dtype=float)
        ends = np.array(
            [natural_bounds(metric, s.lower or 0.0, s.upper or 0.0) for s in judged], dtype=float
        )
        below, above = deltas - ends[:, 0], ends[:, 1] - deltas
        colours = ["tab:red" if s.regressed else "tab:blue" for s in judged]
        ax.errorbar(deltas, np.arange(len(judged)), xerr=[below, above], fmt="none", ecolor="grey")
        ax.scatter(deltas, np.arange(len(judged)), c=colours, zorder=3)
        ax.axvline(0, color="black", lw=0.8)
        worst = natural(metric, -judged[0].margin)
        ax.axvline(worst, color="tab:red", ls=":", label=f"margin {worst:+g}")
        ax.set_yticks(np.arange(len(judged)), labels)
        ax.set(
            xlabel=f"Δ {evidence.primary_metric} per slice (challenger − champion)",
            title="Per-slice deltas (red: regressed)",
        )
        ax.legend(fontsize=8)
        fig.tight_layout()
        paths.append(folder / "slices.png")
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths


def gate_artifacts(
    model_name: str, version: int, result: Mapping[str, Any], text: str
) -> list[Artifact]:
    """The ``gate-decision`` table and the ``gate-report`` markdown of a judged version."""
    outcome = result["decision"]["outcome"]
    return [
        Artifact(
            "gate-decision", f"{model_name} v{version}: {outcome}", table=decision_table(result)
        ),
        Artifact("gate-report", f"Gate report of v{version}", markdown=text),
    ]
