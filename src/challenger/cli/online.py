"""The online commands: ``serve``, ``online``, ``online-demo``, ``release``, ``shadow`` and
``plan-ab`` (the serving app, its analysis, and the planning of an A/B test)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from challenger import run_contract
from challenger.cli.base import (
    ConfigOpt,
    JsonOpt,
    app,
    config_arg,
    err,
)

if TYPE_CHECKING:
    pass


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
        from flows.common import without_heartbeats
        from flows.online import online_flow

        with without_heartbeats():
            result = online_flow(
                config=config_arg(config),
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
        from flows.common import without_heartbeats
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

        with without_heartbeats():
            return run_online_demo(settings, config_arg(config), online_flow, on_step=show)

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
def shadow(
    batch: Annotated[Path, typer.Option(help="A batch file to score with champion and shadows.")],
    labels: Annotated[
        Path | None,
        typer.Option(help="A label file (id column and target) for the rows of --batch."),
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Batch shadow: score a batch with the champion and every configured shadow version.

    Both outputs go to the prediction log (once per batch: a re-run adds nothing); with
    --labels, the labels of those rows are stored too, and `challenger online` judges each
    shadow on the labelled rows. Inside the monitor, `rollout.shadow.batch: true` does this
    for every accepted batch and label file.
    """

    def work() -> dict[str, Any]:
        from challenger.config import load_config
        from challenger.online.batch_shadow import label_file, run_file
        from challenger.store.registry import Registry

        settings = load_config(config)
        registry = Registry.from_settings(settings)
        out = run_file(settings, registry, batch)
        rows = 0 if out.champion_scores is None else len(out.champion_scores)
        stored = label_file(settings, registry, batch, labels) if labels else 0
        result = {
            "batch": out.batch_id,
            "scored": out.scored,
            "rows": rows,
            "labels_stored": stored,
            "shadow_errors": {str(k): v for k, v in out.shadow_errors.items()},
        }
        if not as_json:
            done = f"{rows} rows scored" if out.scored else "already in the log: nothing added"
            Console().print(f"batch {out.batch_id}: {done}")
            if labels:
                Console().print(f"  {stored} labels stored from {labels}")
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
