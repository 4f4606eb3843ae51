"""The offline commands: ``demo``, ``init``, ``monitor``, ``retrain``, ``status``, ``promote``,
``rollback`` (each a thin wrapper of a flow or a library call, rendered with rich)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from challenger import run_contract
from challenger.cli.base import (
    ConfigOpt,
    JsonOpt,
    app,
    config_arg,
    decision_panel,
    err,
    judged_output,
    preflight,
)

if TYPE_CHECKING:
    from challenger.config import Settings


@app.command()
def demo(
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    reset: Annotated[
        bool, typer.Option(help="Start from a clean slate (only the demo's own model and data).")
    ] = True,
) -> None:
    """Run a simulated production timeline through the real flows, end to end.

    Six days of loan applications: a first champion, quiet days with no retrain, a drifted
    day that triggers a retrain and a promotion, a corrupt batch that is quarantined, and a
    manual retrain of a cheaper model that the gate refuses. Results land in the MLflow
    store (default: ./mlflow) and the Prefect run history.
    """

    def work() -> list[dict[str, Any]]:
        from challenger.config import load_config
        from challenger.demo.reset import clean_slate, mark_demo
        from challenger.store.registry import Registry

        settings = load_config(config)
        out = err if as_json else Console()
        registry = Registry.from_settings(settings)
        if reset:
            clean_slate(settings, registry)
        mark_demo(registry)
        out.print(
            f"[bold]challenger demo[/] — model [cyan]{settings.project.model_name}[/], store {settings.tracking_uri}"
        )
        from challenger.ops.service import prefect_for_demo

        prefect_env, runs_go_to = prefect_for_demo(settings)
        os.environ.update(prefect_env)  # before Prefect loads: it reads its settings once
        from flows.common import without_heartbeats
        from flows.monitor import monitor_flow
        from flows.retrain import retrain_flow

        from challenger.demo.timeline import run_demo

        t0 = time.perf_counter()

        def show(row: dict[str, Any]) -> None:
            colour = {
                "PROMOTE": "green",
                "REJECT": "red",
                "INCONCLUSIVE": "yellow",
                "promote": "green",
                "rollback": "red",
                "keep_watching": "yellow",
            }.get(row["decision"] or "", "white")
            line = f"[bold]day {row['day']}[/] {row['story']}\n   → {row['event']}"
            if row["decision"]:
                line += f": [{colour}]{row['decision']}[/] v{row['challenger']}, champion v{row['champion']}"
            out.print(line)
            out.print(f"   [dim]{row.get('reason') or row['note']}[/]")

        with without_heartbeats():
            rows = run_demo(settings, config_arg(config), monitor_flow, retrain_flow, on_step=show)
        elapsed = time.perf_counter() - t0
        table = Table(
            "day", "event", "gate", "challenger", "champion", title="challenger demo: summary"
        )
        for r in rows:
            table.add_row(
                str(r["day"]),
                r["event"],
                r["decision"] or "—",
                f"v{r['challenger']}" if r["challenger"] else "—",
                f"v{r['champion']}" if r["champion"] else "—",
            )
        out.print(table)
        from challenger.ops.service import mlflow_ui_base, prefect_url

        mlflow_ui = mlflow_ui_base(settings)
        out.print(
            f"Done in {elapsed:.0f} s. Look at the evidence: `challenger up` serves the MLflow UI "
            f"at {mlflow_ui}/#/models/{settings.project.model_name} (aliases, stages, tags and "
            f"model cards) and the Prefect UI at {prefect_url(settings)}; the flow runs went to "
            f"{runs_go_to}. `challenger down` stops the servers.\n"
            "Quarantined batches: data/quarantine/ · drift reports: data/reports/ · `challenger status` for a summary."
        )
        return rows

    run_contract.emit(run_contract.run(as_json, work), as_json)


@app.command()
def monitor(
    batch: Annotated[
        Path,
        typer.Option("--batch", "-b", help="CSV or Parquet batch to validate and check for drift."),
    ],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    no_retrain: Annotated[
        bool, typer.Option("--no-retrain", help="Only report what would trigger a retrain.")
    ] = False,
    reason: Annotated[
        str, typer.Option(help="scheduled, or manual to force a retrain after a valid batch.")
    ] = "scheduled",
    fast: Annotated[
        bool,
        typer.Option(
            "--fast",
            help="Check the batch without Prefect: the same checks, files and MLflow monitor "
            "run, seconds sooner, but no monitor flow run in the Prefect UI. A retrain the "
            "check asks for still runs as the retrain flow.",
        ),
    ] = False,
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="Run the check in this process even when `challenger up` runs: by default "
            "the batch goes to up's warm runner, which has the libraries loaded already.",
        ),
    ] = False,
) -> None:
    """Validate one batch, measure drift against the champion, retrain if a trigger fires.

    A batch that fails validation is copied to the quarantine folder with its report (the
    file itself stays where it is) and the command exits with code 2; the champion is not
    touched. While `challenger up` runs for this project, its warm runner does the work
    (seconds sooner; the same flow run, files and result).
    """

    def work() -> dict[str, Any]:
        settings = preflight(config)
        out = None if local else _hand_over(settings, batch, config, reason, not no_retrain, fast)
        if out is None:
            from challenger import api
            from challenger.results import MonitorResult

            result = api.monitor(
                batch, config=config, reason=reason, retrain=not no_retrain, fast=fast
            )
            assert isinstance(result, MonitorResult)  # one batch was named
            out = result.to_dict()
        if not as_json:
            _print_monitor(out, Console())
        return out

    run_contract.emit(run_contract.run(as_json, work), as_json)


def _hand_over(
    settings: Settings, batch: Path, config: Path | None, reason: str, retrain: bool, fast: bool
) -> dict[str, Any] | None:
    """The result from ``challenger up``'s warm runner of this project, or None without one."""
    from challenger.config import find_config
    from challenger.ops import runner

    state = settings.path(settings.service.state_dir)
    out = runner.hand_over(
        state,
        find_config(config),
        settings.root,
        batch.resolve(),
        reason=reason,
        retrain=retrain,
        fast=fast,
    )
    if out is not None:
        err.print("[dim]checked by the warm runner of `challenger up` (--local: here)[/]")
    return out


def _print_monitor(out: dict[str, Any], c: Console) -> None:
    """A monitor result (``MonitorResult.to_dict()``) for people."""
    trig, drift = out["trigger"], out["drift"]
    c.print(f"batch [bold]{out['batch']}[/]: accepted ({out['rows']} rows)")
    if drift is not None:
        c.print(
            f"drift: {drift['n_drifted']} of {len(drift['columns'])} features drifted "
            f"({drift['drift_share']:.0%})"
        )
    c.print(
        f"retrain: {'yes' if trig['retrain'] else 'no'} ({trig['trigger']}) — "
        f"{'; '.join(trig['reasons'])}"
    )
    if out["retrain"] is not None:
        decision_panel(out["retrain"], c)


@app.command()
def init(
    data: Annotated[Path, typer.Argument(help="CSV or Parquet file with the target and features.")],
    target: Annotated[str, typer.Option("--target", "-t", help="The column to predict.")],
    config: Annotated[Path, typer.Option("--config", "-c", help="The file to write.")] = Path(
        "challenger.yaml"
    ),
    task: Annotated[
        str | None,
        typer.Option(help="binary, multiclass or regression (default: inferred from the target)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write a commented, checked challenger.yaml for DATA and print the command to run next."""

    def work() -> dict[str, Any]:
        from challenger.errors import ConfigError
        from challenger.onboard.init import initialise
        from challenger.problem import TASKS

        if task is not None and task not in TASKS:
            raise ConfigError(f"--task {task!r} is not a task; use one of {', '.join(TASKS)}")
        result = initialise(data, target, config, task=task, force=force)  # type: ignore[arg-type]
        if not as_json:
            out = Console()
            doc = result.to_dict()
            out.print(
                f"wrote [bold]{escape(str(result.config))}[/]: {doc['task']} model of "
                f"{escape(doc['target'])} ({escape(doc['task_reason'])}), {doc['rows']} rows, "
                f"metric {doc['primary_metric']}, candidates {', '.join(doc['candidates'])}"
            )
            for ignored in doc["ignored"]:
                out.print(f"  left out {escape(ignored['column'])}: {escape(ignored['reason'])}")
            for warning in doc["warnings"]:
                out.print(f"[yellow]warning:[/] {escape(warning)}")
            out.print(f"next: [bold]{escape(result.next_command)}[/]")
        return result.to_dict()

    run_contract.emit(run_contract.run(as_json, work), as_json)


@app.command()
def retrain(
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    reason: Annotated[
        str, typer.Option(help="Why: manual, interval, data_change or performance.")
    ] = "manual",
    data: Annotated[
        Path | None,
        typer.Option(help="Train on this CSV/Parquet instead of the newest accepted batches."),
    ] = None,
    candidate: Annotated[
        list[str] | None,
        typer.Option("--candidate", help="Candidate name from challenger.yaml (repeatable)."),
    ] = None,
) -> None:
    """Train candidates, register the best as `challenger` and run the promotion gate."""

    def work() -> dict[str, Any]:
        preflight(config, data)
        from flows.common import without_heartbeats
        from flows.retrain import retrain_flow

        with without_heartbeats():
            result = retrain_flow(
                reason=reason,
                data=str(data.resolve()) if data else None,
                candidates=list(candidate or []) or None,
                config=config_arg(config),
            )
        return judged_output(result, as_json)

    run_contract.emit(run_contract.run(as_json, work), as_json)


@app.command()
def status(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Show the champion, the challenger, every version's gate decision and quarantined batches."""

    def work() -> dict[str, Any]:
        from challenger.api import status as snapshot_of
        from challenger.store.record import VersionRecord

        snapshot = snapshot_of(config)
        if not as_json:
            c = Console()
            champ = snapshot["aliases"].get("champion")
            c.print(f"model [bold cyan]{snapshot['model_name']}[/] in {snapshot['tracking_uri']}")
            c.print(f"champion: [bold green]v{champ}[/]" if champ else "champion: none yet")
            table = Table("version", "aliases", "stage", "gate", "trigger", "candidate", "holdout")
            for v in snapshot["versions"]:
                record = VersionRecord.from_tags(v["tags"])
                metric = next((f"{m} {x:.4f}" for m, x in record.holdout.items()), "")
                table.add_row(
                    f"v{v['version']}",
                    ", ".join(v["aliases"]),
                    v["stage"],
                    record.gate_decision or "",
                    record.trigger or "",
                    record.candidate or "",
                    metric,
                )
            c.print(table)
            if snapshot["history"]:
                hist = Table("#", "when", "move", "kind", "why", title="champion history")
                for h in snapshot["history"][-10:]:
                    move = f"v{h.get('from') or '—'} → v{h.get('to')}"
                    hist.add_row(
                        str(h.get("n", "")),
                        str(h.get("at", "")),
                        move,
                        str(h.get("kind", "")),
                        str(h.get("reason", ""))[:90],
                    )
                c.print(hist)
            effect = snapshot["effectiveness"]
            if effect["alarm"]:
                c.print(f"[bold yellow]{escape(effect['message'])}[/]")
            c.print(
                f"accepted batches: {len(snapshot['accepted_batches'])}; quarantined: {len(snapshot['quarantined'])}"
            )
            for q in snapshot["quarantined"]:
                c.print(f"  [red]{q['batch']}[/] → {q['path']}: {q['summary']}")
        return snapshot

    run_contract.emit(run_contract.run(as_json, work), as_json)


@app.command()
def promote(
    version: Annotated[int, typer.Argument(help="The registered version to promote.")],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    force: Annotated[
        bool, typer.Option(help="Promote even if the gate refuses; needs --reason.")
    ] = False,
    reason: Annotated[
        str | None, typer.Option(help="Why; recorded in the registry's history.")
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Judge on this CSV/Parquet's newest rows instead of the accepted batches."
        ),
    ] = None,
) -> None:
    """Judge VERSION against the champion on the newest holdout and promote it if the gate passes.

    With --force the version is promoted whatever the gate says; the override, the user's
    reason and the gate's own verdict are recorded.
    """

    def work() -> dict[str, Any]:
        preflight(config)
        from flows.common import without_heartbeats
        from flows.promote import promote_flow

        with without_heartbeats():
            result = promote_flow(
                version=version,
                force=force,
                reason=reason,
                data=str(data.resolve()) if data else None,
                config=config_arg(config),
            )
        return judged_output(result, as_json)

    run_contract.emit(run_contract.run(as_json, work), as_json)


@app.command()
def rollback(
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    to: Annotated[
        int | None, typer.Option("--to", help="Version to restore (default: previous-champion).")
    ] = None,
    reason: Annotated[
        str, typer.Option(help="Why; recorded in the registry's history.")
    ] = "manual rollback",
) -> None:
    """Move `champion` back to the previous champion (or --to VERSION), mirror stages, record why."""

    def work() -> dict[str, Any]:
        preflight(config)
        from flows.common import without_heartbeats
        from flows.promote import rollback_flow

        with without_heartbeats():
            result = rollback_flow(to=to, reason=reason, config=config_arg(config))
        if not as_json:
            Console().print(
                f"champion [bold]v{result.was}[/] → [bold green]v{result.now}[/] ({reason})"
            )
        return result.to_dict()

    run_contract.emit(run_contract.run(as_json, work), as_json)
