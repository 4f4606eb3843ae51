"""What every command shares: the typer app, the ``--config``/``--json`` options, the
pre-flight check of configuration and store, and the rendering of a gate decision."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from challenger import run_contract

if TYPE_CHECKING:
    from challenger.config import Settings
    from challenger.results import PromotionResult, RetrainResult

app = typer.Typer(
    name="challenger",
    help=(
        "Prove that a new model beats the one in production before it ships.\n\n"
        "challenger validates each batch (Great Expectations), measures drift (Evidently), "
        "retrains candidates with cross-validation, registers the best in the MLflow registry "
        "and promotes it only when a paired bootstrap bound says it is better than the champion."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = run_contract.err

# Prefect gives its temporary server 20 s to start: on a busy two-core machine that is not
# enough, and the command would fail before it began. Read once, when Prefect loads.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="challenger.yaml to use (default: ./challenger.yaml, else built-in defaults).",
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout and nothing else.")
]


@app.callback()
def _options(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose", "-v", help="Show Prefect's full report (tracebacks) of expected outcomes."
        ),
    ] = False,
) -> None:
    """Prove that a new model beats the one in production before it ships."""
    run_contract.set_verbose(verbose)


def config_arg(config: Path | None) -> str | None:
    return str(config.resolve()) if config is not None else None


def preflight(config: Path | None, training_data: Path | None = None) -> Settings:
    """Check the configuration, the store and a training file before a flow starts Prefect;
    returns the configuration.

    The flow checks them again; this only saves the seconds of starting a server for a
    command that cannot work (a read-only, corrupt or mistyped store, a training file that
    lacks a column the configuration declares).
    """
    from challenger.config import load_config
    from challenger.store.connection import check_store, may_create

    settings = load_config(config)
    if training_data is not None:
        from challenger.onboard.columns import check_file_columns

        check_file_columns(settings, training_data, "training")
    check_store(settings.tracking_uri, create=may_create(settings))
    return settings


def judged_output(result: RetrainResult | PromotionResult, as_json: bool) -> dict[str, Any]:
    """A judged step's ``--json`` document; without ``--json`` its decision panel is printed."""
    out = result.to_dict()
    if not as_json:
        decision_panel(out, Console())
    return out


def decision_panel(judged: dict[str, Any], console: Console) -> None:
    """A judged step's decision, from its JSON document (``RetrainResult.to_dict()`` or
    ``PromotionResult.to_dict()``, whichever process produced it)."""
    dec = judged["decision"]
    outcome = dec["outcome"]
    colour = {"PROMOTE": "green", "REJECT": "red", "INCONCLUSIVE": "yellow"}[outcome]
    version, before, after = (
        judged["challenger_version"],
        judged["champion_before"],
        judged["champion_after"],
    )
    console.print(
        f"[bold {colour}]{outcome}[/] v{version} (champion before: {before or 'none'}, after: v{after})"
        if after
        else f"[bold {colour}]{outcome}[/] v{version} (no champion)"
    )
    console.print(f"  {dec['reason']}")
    table = Table("check", "result", "reason", show_lines=False)
    for c in dec["checks"]:
        table.add_row(c["name"], "[green]pass[/]" if c["passed"] else "[red]fail[/]", c["reason"])
    console.print(table)
