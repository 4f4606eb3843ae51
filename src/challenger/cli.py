"""The ``challenger`` command line.

Every command takes ``--config PATH``; ``--json`` makes stdout one JSON document and
nothing else (logs go to stderr). Exit codes: 0 success (a refused challenger is a
success), 2 bad input or configuration, 1 any other failure.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from challenger import run_contract

if TYPE_CHECKING:
    from challenger.results import Judged

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


def _config_arg(config: Path | None) -> str | None:
    return str(config.resolve()) if config is not None else None


def _preflight(config: Path | None, training_data: Path | None = None) -> None:
    """Check the configuration, the store and a training file before a flow starts Prefect.

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


def _decision_panel(result: Judged, console: Console) -> None:
    dec = result.decision
    outcome = dec.outcome.value
    colour = {"PROMOTE": "green", "REJECT": "red", "INCONCLUSIVE": "yellow"}[outcome]
    console.print(
        f"[bold {colour}]{outcome}[/] v{result.challenger_version} "
        f"(champion before: {result.champion_before or 'none'}, after: v{result.champion_after})"
        if result.champion_after
        else f"[bold {colour}]{outcome}[/] v{result.challenger_version} (no champion)"
    )
    console.print(f"  {dec.reason}")
    table = Table("check", "result", "reason", show_lines=False)
    for c in dec.checks:
        table.add_row(c.name, "[green]pass[/]" if c.passed else "[red]fail[/]", c.reason)
    console.print(table)


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
        from challenger.demo.reset import mark_demo, reset_demo
        from challenger.store.registry import Registry

        settings = load_config(config)
        out = err if as_json else Console()
        registry = Registry.from_settings(settings)
        if reset:
            reset_demo(registry)
            d = settings.data
            for folder in (d.incoming_dir, d.accepted_dir, d.quarantine_dir, d.reports_dir):
                shutil.rmtree(settings.path(folder), ignore_errors=True)
        mark_demo(registry)
        out.print(
            f"[bold]challenger demo[/] — model [cyan]{settings.project.model_name}[/], store {settings.tracking_uri}"
        )
        from challenger.ops.service import prefect_for_demo

        prefect_env, runs_go_to = prefect_for_demo(settings)
        os.environ.update(prefect_env)  # before Prefect loads: it reads its settings once
        from flows.monitor import monitor_flow
        from flows.retrain import retrain_flow

        from challenger.demo.timeline import run_demo

        t0 = time.perf_counter()

        def show(row: dict[str, Any]) -> None:
            colour = {"PROMOTE": "green", "REJECT": "red", "INCONCLUSIVE": "yellow"}.get(
                row["decision"] or "", "white"
            )
            line = f"[bold]day {row['day']}[/] {row['story']}\n   → {row['event']}"
            if row["decision"]:
                line += f": [{colour}]{row['decision']}[/] v{row['challenger']}, champion v{row['champion']}"
            out.print(line)
            out.print(f"   [dim]{row.get('reason') or row['note']}[/]")

        rows = run_demo(settings, _config_arg(config), monitor_flow, retrain_flow, on_step=show)
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
) -> None:
    """Validate one batch, measure drift against the champion, retrain if a trigger fires.

    A batch that fails validation is copied to the quarantine folder with its report (the
    file itself stays where it is) and the command exits with code 2; the champion is not
    touched.
    """

    def work() -> dict[str, Any]:
        _preflight(config)
        from flows.monitor import monitor_flow

        from challenger.results import MonitorResult

        result = monitor_flow(
            batch=str(batch.resolve()),
            reason=reason,
            config=_config_arg(config),
            retrain=not no_retrain,
        )
        assert isinstance(result, MonitorResult)  # one batch was named
        if not as_json:
            c = Console()
            checked, trig = result.file, result.file.decision
            c.print(f"batch [bold]{checked.batch}[/]: accepted ({checked.rows} rows)")
            if checked.drift is not None:
                dr = checked.drift
                c.print(
                    f"drift: {dr.n_drifted} of {len(dr.columns)} features drifted ({dr.drift_share:.0%})"
                )
            c.print(
                f"retrain: {'yes' if trig.retrain else 'no'} ({trig.trigger}) — {'; '.join(trig.reasons)}"
            )
            if result.retrain is not None:
                _decision_panel(result.retrain, c)
        return result.to_dict()

    run_contract.emit(run_contract.run(as_json, work), as_json)


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
        _preflight(config, data)
        from flows.retrain import retrain_flow

        result = retrain_flow(
            reason=reason,
            data=str(data.resolve()) if data else None,
            candidates=list(candidate or []) or None,
            config=_config_arg(config),
        )
        if not as_json:
            _decision_panel(result, Console())
        return result.to_dict()

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
        _preflight(config)
        from flows.promote import promote_flow

        result = promote_flow(
            version=version,
            force=force,
            reason=reason,
            data=str(data.resolve()) if data else None,
            config=_config_arg(config),
        )
        if not as_json:
            _decision_panel(result, Console())
        return result.to_dict()

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
        _preflight(config)
        from flows.promote import rollback_flow

        result = rollback_flow(to=to, reason=reason, config=_config_arg(config))
        if not as_json:
            Console().print(
                f"champion [bold]v{result.was}[/] → [bold green]v{result.now}[/] ({reason})"
            )
        return result.to_dict()

    run_contract.emit(run_contract.run(as_json, work), as_json)


@app.command()
def serve(
    config: ConfigOpt = None,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default: serving.host).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default: serving.port; 0 = a free port).")
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(help="Override rollout.strategy: champion, shadow, ab or canary."),
    ] = None,
) -> None:
    """Serve the champion (and the challenger, per rollout.strategy) over HTTP.

    POST /predict, POST /feedback, GET /health, GET /metrics, and admin endpoints behind
    serving.admin_token. Ctrl-C stops it cleanly: the prediction log and the shadow worker
    drain first.
    """

    def work() -> None:
        from challenger.config import load_config
        from challenger.errors import ConfigError
        from challenger.online.review import with_overrides
        from challenger.online.serve.server import build_app, is_loopback
        from challenger.online.serve.server import serve as run_server

        settings = load_config(config)
        if strategy is not None:
            if strategy not in ("champion", "shadow", "ab", "canary"):
                raise ConfigError(
                    f"--strategy {strategy!r} is not one of champion, shadow, ab, canary"
                )
            settings = with_overrides(settings, {"rollout": {"strategy": strategy}})
        where = host or settings.serving.host
        if not is_loopback(where):
            err.print(
                f"[yellow]warning:[/] listening on {where}, not loopback: put TLS and "
                "authentication in front of it"
            )
        fastapi_app = build_app(settings)
        err.print(
            f"serving {settings.project.model_name} ({settings.rollout.strategy}) on "
            f"http://{where}:{port if port is not None else settings.serving.port}"
        )
        run_server(fastapi_app, where, port if port is not None else settings.serving.port, "info")

    run_contract.run(False, work)


@app.command()
def online(
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    strategy: Annotated[
        str | None, typer.Option(help="Override rollout.strategy for this analysis.")
    ] = None,
) -> None:
    """Analyse what the serving app logged and promote, advance, keep watching or roll back."""

    def work() -> dict[str, Any]:
        from flows.online import online_flow

        result = online_flow(
            config=_config_arg(config),
            overrides={"rollout": {"strategy": strategy}} if strategy else None,
        )
        if not as_json:
            c = Console()
            dec = result["decision"]
            colour = {"PROMOTE": "green", "REJECT": "red", "INCONCLUSIVE": "yellow"}[dec["outcome"]]
            c.print(
                f"[bold {colour}]{dec['outcome']}[/] ({dec['action']}) {dec['strategy']} of "
                f"v{dec['challenger_version']} vs champion v{dec['champion_version']}"
            )
            c.print(f"  {dec['reason']}")
            c.print(f"  [dim]{result['done']}[/]")
        return result

    run_contract.emit(run_contract.run(as_json, work), as_json)


@app.command("online-demo")
def online_demo(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Replay simulated traffic through the real app on loopback: a shadow comparison, a
    canary that advances to a promotion, and a broken canary that is rolled back at once.

    Uses the demo's registered model (reset first, like `challenger demo`).
    """

    def work() -> list[dict[str, Any]]:
        from flows.online import online_flow

        from challenger.config import load_config
        from challenger.demo.online import run_online_demo

        settings = load_config(config)
        out = err if as_json else Console()
        out.print(f"[bold]challenger online demo[/] — store {settings.tracking_uri}")

        def show(row: dict[str, Any]) -> None:
            out.print(f"[bold]{row['scene']}[/] → {row['event']}: {row['note']}")
            if row.get("agreement") is not None:
                added = row.get("added_ms_p99")  # None until enough shadow predictions are timed
                out.print(
                    f"   [dim]agreement {row['agreement']:.1%}, PSI of scores {row['psi']:.3f}, "
                    f"added p99 latency {'n/a' if added is None else f'{added:+.2f} ms'}[/]"
                )
            if row.get("served"):
                out.print(f"   [dim]served: {row['served']}[/]")

        return run_online_demo(settings, _config_arg(config), online_flow, on_step=show)

    run_contract.emit(run_contract.run(as_json, work), as_json)


@app.command()
def release(
    name: Annotated[
        str, typer.Argument(help="Quarantine folder name (see `challenger status`) or file name.")
    ],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="A fixed copy to release instead of the quarantined file."),
    ] = None,
    to: Annotated[
        Path | None,
        typer.Option(
            "--to",
            help="Folder to release into, inside the incoming or accepted folder "
            "(default: the incoming folder).",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Release without validating it again.")
    ] = False,
) -> None:
    """Release a fixed batch or label file from quarantine.

    The file is validated again (a batch against the monitor's suite, a label file for
    joining accepted rows); if it passes it goes back to the incoming folder it came from
    (or --to a folder inside the incoming or accepted folder; nowhere else) and its
    quarantine record moves to quarantine/released/. If it still fails, it stays where it
    is and the command exits with code 2.
    """

    def work() -> dict[str, Any]:
        from challenger.config import load_config
        from challenger.monitor.quarantine import release_quarantined
        from challenger.store.connection import may_create, store_exists
        from challenger.store.registry import Registry
        from challenger.store.tracking import Tracking

        settings = load_config(config)

        def reference() -> Any:
            uri = settings.tracking_uri
            if may_create(settings) and not store_exists(uri):
                return None  # no store yet, so no champion; a release creates none
            champion = Registry(uri, settings.project.model_name).champion()
            tracking = Tracking(uri, settings.project.experiment, settings.artifact_root)
            return tracking.load_reference(champion.run_id) if champion else None

        out = release_quarantined(
            settings,
            name,
            reference,
            replacement=file.resolve() if file else None,
            destination=to.resolve() if to else None,
            force=force,
        )
        if not as_json:
            c = Console()
            c.print(f"released [bold]{out['name']}[/] to {out['released_to']}")
            c.print(f"  {'forced, not validated' if force else out['revalidation']}")
            c.print(f"  record kept in {out['record']}; next: {out['next']}")
        return out

    run_contract.emit(run_contract.run(as_json, work), as_json)


@app.command()
def up(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Start the Prefect server, a worker and the MLflow UI on loopback, and deploy prefect.yaml.

    The processes run in the background (pid files and logs under service.state_dir);
    `challenger down` stops them. Running it again starts only what is not running and
    redeploys.
    """

    def work() -> dict[str, Any]:
        from challenger.config import find_config, load_config
        from challenger.ops.service import up as start

        settings = load_config(config)
        out = err if as_json else Console()
        found = find_config(config)
        info = start(
            settings, found.resolve() if found else None, say=lambda m: out.print(f"[dim]{m}[/]")
        )
        out.print(f"[bold green]Prefect UI[/]  {info['prefect_url']}")
        out.print(f"[bold green]MLflow UI[/]   {info['model_url']}")
        for d in info["deployments"]:
            sched = ", ".join(
                f"cron {s['cron']} UTC" + ("" if s["active"] else " (off)")
                for s in d["schedules"]
                if s.get("cron")
            )
            out.print(f"  deployment [cyan]{d['name']}[/] {sched or 'no schedule'}")
        out.print(
            f"Use that server from this shell: export PREFECT_API_URL={info['prefect_api_url']}\n"
            "Stop everything with: challenger down"
        )
        return info

    run_contract.emit(run_contract.run(as_json, work), as_json)


@app.command()
def down(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Stop the worker, the MLflow UI and the Prefect server that `challenger up` started."""

    def work() -> dict[str, Any]:
        from challenger.config import load_config
        from challenger.ops.service import down as stop

        info = stop(load_config(config))
        if not as_json:
            c = Console()
            if not info["stopped"]:
                c.print("nothing was running")
            for name, pid in info["stopped"].items():
                killed = " (had to be killed)" if name in info["killed"] else ""
                c.print(f"stopped {name} (pid {pid}){killed}")
        return info

    run_contract.emit(run_contract.run(as_json, work), as_json)


@app.command()
def shadow(
    batch: Annotated[Path, typer.Option(help="A batch file to score with champion and shadows.")],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Batch shadow: score a batch with the champion and every configured shadow version."""

    def work() -> dict[str, Any]:
        from challenger.config import load_config
        from challenger.online.batch_shadow import run_file
        from challenger.store.registry import Registry

        settings = load_config(config)
        out = run_file(settings, Registry.from_settings(settings), batch)
        rows = 0 if out.champion_scores is None else len(out.champion_scores)
        result = {
            "batch": out.batch_id,
            "scored": out.scored,
            "rows": rows,
            "shadow_errors": {str(k): v for k, v in out.shadow_errors.items()},
        }
        if not as_json:
            done = f"{rows} rows scored" if out.scored else "already in the log: nothing added"
            Console().print(f"batch {out.batch_id}: {done}")
            for version, error in out.shadow_errors.items():
                Console().print(f"  [yellow]shadow v{version} failed[/]: {error}")
        return result

    run_contract.emit(run_contract.run(as_json, work), as_json)


@app.command("plan-ab")
def plan_ab(
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    mde: Annotated[
        float | None, typer.Option(help="Smallest per-user improvement worth detecting.")
    ] = None,
    sd: Annotated[float | None, typer.Option(help="Per-user sd of the metric.")] = None,
    daily_users: Annotated[float | None, typer.Option(help="New users a day.")] = None,
) -> None:
    """Plan an A/B test before starting it: users per arm, days, the sequential test's stop.

    statsmodels' two-sample t-test power on the per-user metric the A/B judge uses, with the
    baseline sd and the traffic read from the prediction log unless given.
    """

    def work() -> dict[str, Any]:
        from challenger.config import load_config
        from challenger.online.plan import baseline_of, plan_experiment
        from challenger.online.review import store_for

        settings = load_config(config)
        ab = settings.rollout.ab
        store = store_for(settings)
        rows = store.predictions()
        baseline = baseline_of(rows, ab.metric, ab.experiment) if len(rows) else None
        plan = plan_experiment(ab, baseline, mde=mde, sd=sd, daily_users=daily_users)
        if not as_json:
            c = Console()
            c.print(
                f"A/B [bold]{plan['experiment']}[/] on {plan['metric']}: detect +{plan['mde']:g} "
                f"(sd {plan['sd']:.4g}, from {plan['sd_from']}) at alpha {plan['alpha']:g}, "
                f"power {plan['power']:.0%}, split {plan['split']:.0%}"
            )
            c.print(
                f"fixed horizon: {plan['users_challenger']:,} challenger + "
                f"{plan['users_champion']:,} champion users, "
                f"about {plan['days']:.1f} days at {plan['daily_users']:,.0f} users a day"
            )
            stop = plan["sequential_expected_users"]
            if stop is not None:
                c.print(
                    f"sequential test (mSPRT, tau {ab.mixture_sd:g}): expected to stop near "
                    f"{stop:,} users, about {plan['sequential_expected_days']:.1f} days"
                )
            if plan["max_users_enough"] is False:
                c.print(f"[yellow]rollout.ab.max_users {ab.max_users} is below the plan[/]")
        return plan

    run_contract.emit(run_contract.run(as_json, work), as_json)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
