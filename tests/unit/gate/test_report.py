"""Unit tests for challenger.gate.report."""

from __future__ import annotations

import numpy as np
from tests.helpers import run_jobs

from challenger.config import CalibrationConfig, CandidateConfig, GateConfig, Settings
from challenger.demo.simulator import simulate_batch
from challenger.gate import report
from challenger.gate.decide import GateDecision, decide
from challenger.gate.evidence import Check, Evidence, gather_evidence
from challenger.train.plan import plan_training
from challenger.train.selection import (
    summarize,
)

SMALL = simulate_batch(0, 400, seed=2)


def _settings(**cv: object) -> Settings:
    return Settings(training={"cv": cv, "primary_metric": "roc_auc"})  # type: ignore[arg-type]


def _train(settings: Settings, *candidates: CandidateConfig):  # type: ignore[no-untyped-def]
    plan = plan_training(SMALL, settings, candidates)
    return plan, summarize(plan, run_jobs(plan, settings), settings)


GRID = CandidateConfig(
    name="lr_grid",
    estimator="sklearn.linear_model.LogisticRegression",
    params={"max_iter": 300},
    search="grid",
    search_space={"C": [0.001, 1.0]},
)


def test_model_card_section_shows_search_k_sensitivity_and_warnings() -> None:
    from challenger.gate.report import training_section
    from challenger.train.leakage import Finding
    from challenger.train.selection import KSensitivity

    s = _settings(strategy="stratified_kfold", n_splits=3)
    _, (r,) = _train(s, GRID)
    text = training_section(
        "roc_auc",
        (KSensitivity(3, 0.8, 0.01, 3), KSensitivity(5, 0.81, float("nan"), 5)),
        (Finding("duplicates", "age, income", "warn", "12 validation rows duplicate"),),
        r,
    )
    assert (
        "**Search of `lr_grid`**" in text
        and "| rank | param.C | roc_auc_mean | roc_auc_std |" in text
    )
    assert "| 5 | 5 | 0.8100 | — |" in text
    assert "- `duplicates` on `age, income`: 12 validation rows duplicate" in text


# ---- what the UIs show: the card, the decision table, the report's links ---------------------

LONG = "the challenger's p99 latency of 12.3 ms exceeds the budget of 5 ms " * 6
CHECKS = (
    Check("smoke_test", True, "20 rows", "predicts", "fine"),
    Check("slice_regression", False, "1 regressed", "0", "region=north regressed", hard=False),
    Check("budget_latency_p99_ms", False, "12.3", "5", LONG),
)


def _card() -> tuple[str, GateDecision, Evidence]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 600)
    champion = 1 / (1 + np.exp(-(y + rng.normal(0, 1.2, 600))))
    challenger = 1 / (1 + np.exp(-(2 * y + rng.normal(0, 1.2, 600))))
    evidence = gather_evidence(
        y, challenger, champion, primary_metric="roc_auc", champion_version=1,
        challenger_version=2, confidence=0.95, n_resamples=200, seed=0,
    )  # fmt: skip
    decision = decide(
        evidence, CHECKS, GateConfig(calibration=CalibrationConfig(max_increase=None))
    )
    card = report.promotion_card(
        model_name="m", version=2, trigger="manual", reason=None, evidence=evidence,
        decision=decision, fingerprint="abc", earlier="",
    )  # fmt: skip
    return card, decision, evidence


def test_the_model_card_lists_every_check_failed_first_in_paragraphs() -> None:
    card, decision, _ = _card()
    assert decision.outcome.value == "REJECT"
    lines = card.splitlines()
    table = lines[lines.index("| check | result | value | threshold | reason |") + 2 :]
    names = [r.split("|")[1].strip() for r in table if r.startswith("| ")]
    assert names[:2] == ["budget_latency_p99_ms", "slice_regression"]  # hard failure first
    assert {c.name for c in decision.checks} <= set(names)  # every check, passed ones too
    assert "| slice_regression | fail (soft) |" in card and "| **FAIL** |" in card
    assert table[0].endswith(" … |") and len(table[0]) < len(LONG)  # its reason shortened
    # Every prose line is its own paragraph: MLflow's markdown would join adjacent lines.
    for i, line in enumerate(lines[:-1]):
        if line.startswith("**") and lines[i + 1]:
            raise AssertionError(f"no blank line after {line!r}")


def test_the_decision_table_puts_failing_checks_first_with_short_reasons() -> None:
    _, decision, _ = _card()
    result = {
        "decision": decision.to_dict(),
        "challenger_version": 2,
        "champion_before": 1,
        "candidate": "lr",
    }
    rows = report.decision_table(result)
    checks = [r for r in rows if r["item"].startswith("check: ")]
    assert [r["item"] for r in checks[:2]] == [
        "check: budget_latency_p99_ms",
        "check: slice_regression",
    ]
    assert [r["value"] for r in checks] == ["FAIL", "FAIL"] + ["pass"] * (len(checks) - 2)
    assert all(len(r["detail"]) <= report.TABLE_REASON_WIDTH for r in rows)
    assert checks[0]["detail"].startswith("the challenger's p99 latency of 12.3 ms")


def test_report_and_card_link_into_the_mlflow_runs_view() -> None:
    card, decision, evidence = _card()
    links = report.RunLinks("http://127.0.0.1:5001", "7", "r1")
    run = "http://127.0.0.1:5001/#/experiments/7/runs/r1"
    text = report.gate_report(
        model_name="m", version=2, evidence=evidence, decision=decision, card=card,
        plots=["gate/roc_pr.png"], links=links,
    )  # fmt: skip
    assert f"[`gate/roc_pr.png`]({run}/artifactPath/gate/roc_pr.png)" in text
    assert f"]({run})" in text
    footer = report.card_footer(links)
    assert f"[`gate/report.md`]({run}/artifactPath/gate/report.md)" in footer
    assert "gate/report.md" not in text  # the report does not point to itself
    plain = report.gate_report(
        model_name="m", version=2, evidence=evidence, decision=decision, card=card,
        plots=["gate/roc_pr.png"],
    )  # fmt: skip
    assert "- `gate/roc_pr.png`" in plain and "http" not in plain


def test_shorten_keeps_short_text_and_cuts_long_text_at_a_word() -> None:
    assert report.shorten("a  b\nc") == "a b c"
    cut = report.shorten("word " * 100, width=30)
    assert len(cut) <= 30 and cut.endswith(" …") and "wor …" not in cut
