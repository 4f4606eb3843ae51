"""``up`` and ``down``: the MLflow UI, the Prefect server and its workers as background
processes (challenger.ops.service)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console

from challenger import run_contract
from challenger.cli.base import (
    ConfigOpt,
    JsonOpt,
    app,
    err,
)

if TYPE_CHECKING:
    pass


@app.command()
def up(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Start the Prefect server, a worker, the MLflow UI and the warm runner on loopback, and
    deploy prefect.yaml.

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
        out.print(
            f"[dim]warm runner {info['runner_url']}: `challenger monitor` hands batches to it[/]"
        )
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
    """Stop the warm runner, the worker, the MLflow UI and the Prefect server that
    `challenger up` started."""

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
