"""Running challenger as a service on one machine: ``challenger up`` and ``challenger down``.

``up`` starts, each as a detached process on a loopback address, a Prefect server (UI and
API), the MLflow UI on the configured store, one Prefect worker per work pool that
``prefect.yaml`` names, and the warm runner (``challenger.ops.runner``); it creates the process work pools and the ``retrain`` and
``online`` queues (one run at a time each), deploys ``prefect.yaml`` with
``prefect deploy --all``, and returns the two URLs. Pid files and logs live under
``service.state_dir`` (``.challenger/`` by default), as does the Prefect database unless
``service.prefect_database_url`` (or ``PREFECT_API_DATABASE_CONNECTION_URL``, which wins)
points elsewhere, e.g. at PostgreSQL; the MLflow UI serves ``mlflow.tracking_uri``. Both
URLs reach the servers through their environment, never their command line, and every
message shows them with the password replaced by ``***``. ``down`` stops what ``up``
started, by the recorded process ids only: the runner and the workers first, so no run is
picked up by a half-stopped system, then the servers.

The processes themselves are ``challenger.ops.processes``; the values ``prefect.yaml``
deploys with, ``challenger.ops.deploy``. Nothing here imports Prefect: the servers are
separate processes, driven through their command line and HTTP API.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx

from challenger.config import Settings
from challenger.errors import ConfigError, ServiceError
from challenger.ops import deploy, processes
from challenger.ops import runner as warm

__all__ = [
    "QUEUE_LIMITS",
    "down",
    "mlflow_ui_base",
    "prefect_api_url",
    "prefect_database_url",
    "prefect_url",
    "redact",
    "running",
    "up",
]

logger = logging.getLogger(__name__)

QUEUE_LIMITS: Mapping[str, int] = {"retrain": 1, "online": 1}
"""Work queues ``up`` creates with a concurrency limit: one retrain at a time, however it
was started (schedule, Run button or drift event), and one online analysis at a time;
further runs wait in the queue."""
_TELEMETRY_OFF = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
_STOP_ORDER = ("runner", "worker", "mlflow", "prefect-server")
_RETRY_STATUS = frozenset({429, 502, 503, 504})
#: Where Prefect reads its server's database URL; either one set in the environment wins.
PREFECT_DATABASE_ENV = (
    "PREFECT_API_DATABASE_CONNECTION_URL",
    "PREFECT_SERVER_DATABASE_CONNECTION_URL",
)
#: The Python driver each database URL scheme needs (installed by the ``scale`` extra).
_DRIVERS: Mapping[str, str] = {
    "postgresql": "psycopg",  # SQLAlchemy 2.1's default PostgreSQL driver is psycopg 3
    "postgresql+psycopg": "psycopg",
    "postgresql+psycopg2": "psycopg2",
    "postgresql+asyncpg": "asyncpg",
}


# --- addresses ------------------------------------------------------------------------------


def prefect_url(settings: Settings) -> str:
    """The Prefect UI that ``challenger up`` serves."""
    return f"http://{_host(settings)}:{settings.service.prefect_port}"


def runner_address(settings: Settings) -> str:
    """The warm runner's base URL (``challenger.ops.runner``)."""
    return f"http://{_host(settings)}:{settings.service.runner_port}"


def prefect_api_url(settings: Settings) -> str:
    """The Prefect API (what ``PREFECT_API_URL`` must be for clients of that server)."""
    return prefect_url(settings) + "/api"


def mlflow_ui_base(settings: Settings) -> str:
    """The MLflow UI for the configured store: a tracking server's own, else ``up``'s."""
    uri = settings.tracking_uri
    if uri.startswith(("http://", "https://")):
        return uri.rstrip("/")
    return f"http://{_host(settings)}:{settings.service.mlflow_port}"


def prefect_database_url(settings: Settings) -> str:
    """The database of the Prefect server ``up`` starts (it may hold a password).

    ``PREFECT_API_DATABASE_CONNECTION_URL`` (or ``PREFECT_SERVER_DATABASE_CONNECTION_URL``)
    from the environment, else ``service.prefect_database_url``, else ``prefect.db`` in the
    state folder (where Prefect puts it by default under that ``PREFECT_HOME``).
    """
    for name in PREFECT_DATABASE_ENV:
        if os.environ.get(name):
            return os.environ[name]
    configured = settings.service.prefect_database_url
    if configured is not None:
        return configured.get_secret_value()
    db = settings.path(settings.service.state_dir) / "prefect" / "prefect.db"
    return f"sqlite+aiosqlite:///{db}"


def redact(url: str) -> str:
    """``url`` with the password of its user part replaced by ``***`` (for messages)."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    userinfo, at, hostport = netloc.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{hostport}{slash}{path}"


def _passwords(*urls: str) -> tuple[str, ...]:
    """The passwords in ``urls``, to scrub from anything ``up`` shows."""
    found = []
    for url in urls:
        netloc = url.partition("://")[2].partition("/")[0]
        userinfo, at, _ = netloc.rpartition("@")
        if at and ":" in userinfo:
            password = userinfo.split(":", 1)[1]
            found += [password, unquote(password)]
    return tuple(p for p in found if p)


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _check_driver(url: str, key: str) -> None:
    """Fail before starting a server whose database driver is missing."""
    module = _DRIVERS.get(url.partition("://")[0])
    if module is not None and importlib.util.find_spec(module) is None:
        raise ConfigError(
            f"{key} is a PostgreSQL URL ({redact(url)}) but its driver {module!r} is not "
            "installed; install challenger with the scale extra (pip install -c "
            "constraints.txt -e '.[scale]')"
        )


def _host(settings: Settings) -> str:
    host = settings.service.host
    return f"[{host}]" if ":" in host else host


# --- up -------------------------------------------------------------------------------------


def up(
    settings: Settings,
    config_path: Path | None,
    *,
    prefect_file: Path | None = None,
    say: Callable[[str], None] = logger.info,
) -> dict[str, Any]:
    """Start the servers and a worker on loopback, deploy ``prefect.yaml``; return the URLs.

    Processes that are already running (their pid files point at live processes) are kept;
    only what is missing is started. Deploying again is harmless: deployments are updated
    in place.

    Args:
        settings: The configuration (``service`` section, the MLflow store).
        config_path: The ``challenger.yaml`` the deployments run with (None: defaults).
        prefect_file: The deployments to deploy; default :func:`deploy.find_prefect_file`.
        say: Where progress messages go.

    Returns:
        ``prefect_url``, ``prefect_api_url``, ``mlflow_url``, ``model_url``, ``runner_url``, the two
        databases with their passwords redacted (``prefect_database``, ``mlflow_store``),
        the deployments, the process ids and the state folder.

    Raises:
        ConfigError: A PostgreSQL URL is configured but its driver is not installed.
        ServiceError: A port is taken by another program, or a server did not come up
            within ``service.startup_timeout`` seconds (the message names its log).
    """
    prefect_file = prefect_file or deploy.find_prefect_file(settings)
    pools = deploy.pools_and_queues(prefect_file)
    state = settings.path(settings.service.state_dir)
    (state / "run").mkdir(parents=True, exist_ok=True)
    (state / "logs").mkdir(parents=True, exist_ok=True)
    started: dict[str, processes.Proc] = {}
    try:
        return _up(settings, config_path, prefect_file, pools, state, started, say)
    except BaseException:
        # Leave nothing half-started behind: stop what this call started, workers first.
        for proc in sorted(started.values(), key=lambda p: _rank(p.name)):
            if processes.alive(proc):
                processes.stop(proc, timeout=10)
            (state / "run" / f"{proc.name}.pid").unlink(missing_ok=True)
        raise


def _up(
    settings: Settings,
    config_path: Path | None,
    prefect_file: Path,
    pools: dict[str, set[str]],
    state: Path,
    started: dict[str, processes.Proc],
    say: Callable[[str], None],
) -> dict[str, Any]:
    env = _environment(settings, config_path)
    timeout = settings.service.startup_timeout
    host = settings.service.host
    mlflow_url = mlflow_ui_base(settings)
    database = prefect_database_url(settings)
    store = settings.tracking_uri
    serves_store = not store.startswith(("http://", "https://"))
    hide = _passwords(database, store)
    _check_driver(database, "service.prefect_database_url")
    if serves_store:
        _check_driver(store, "mlflow.tracking_uri")
    # Both servers start at once: each takes seconds (the MLflow UI migrates a new store).
    server = processes.running_named(state, "prefect-server")
    if server is None:
        _port_is_free(host, settings.service.prefect_port, "prefect_port")
        say(f"starting the Prefect server on {prefect_url(settings)} (database {redact(database)})")
        server = processes.spawn(
            state,
            "prefect-server",
            _prefect_argv(
                "server", "start", "--host", host, "--port", str(settings.service.prefect_port)
            ),
            # Only the server reads its database; the URL stays off every command line.
            {**env, PREFECT_DATABASE_ENV[0]: database},
            token="prefect",
        )
        started["prefect-server"] = server
    ui: processes.Proc | None = None
    if serves_store:
        ui = processes.running_named(state, "mlflow")
        if ui is None:
            _port_is_free(host, settings.service.mlflow_port, "mlflow_port")
            _prepare_store(settings)
            say(f"starting the MLflow UI on {mlflow_url} (store {redact(store)})")
            ui = processes.spawn(
                state,
                "mlflow",
                [
                    sys.executable,
                    "-m",
                    "mlflow",
                    "server",
                    "--default-artifact-root",
                    settings.artifact_root,
                    "--host",
                    host,
                    "--port",
                    str(settings.service.mlflow_port),
                    "--workers",
                    "1",
                ],
                {**env, "MLFLOW_BACKEND_STORE_URI": store},  # read by `mlflow server`
                token="mlflow",
            )
            started["mlflow"] = ui
    _wait_http(f"{prefect_api_url(settings)}/health", server, timeout, hide)

    workers: dict[str, processes.Proc] = {}
    for pool, queues in pools.items():
        _ensure_pool(settings, env, state, pool, queues)
        name = f"worker-{pool}"
        worker = processes.running_named(state, name)
        if worker is None:
            say(f"starting a worker for the {pool!r} work pool")
            worker = processes.spawn(
                state,
                name,
                _prefect_argv("worker", "start", "--pool", pool, "--type", "process"),
                env,
                token="worker",
            )
            started[name] = worker
        workers[pool] = worker

    say(f"deploying {prefect_file}")
    _prefect_cli(
        ["--no-prompt", "deploy", "--all", "--prefect-file", str(prefect_file)],
        env,
        state / "logs" / "deploy.log",
        cwd=prefect_file.parent,
        what=f"deploying {prefect_file}",
    )
    runner = processes.running_named(state, "runner")
    runner_url = runner_address(settings)
    if runner is None:
        _port_is_free(host, settings.service.runner_port, "runner_port")
        say(f"starting the warm runner on {runner_url} (`challenger monitor` hands batches to it)")
        token = warm.new_token(state, runner_url, config_path, settings.root)
        runner = processes.spawn(
            state,
            "runner",
            [sys.executable, "-m", "challenger.ops.runner"],
            {**env, warm.TOKEN_ENV: token, warm.ROOT_ENV: str(settings.root.resolve())},
            token="challenger.ops.runner",
        )
        started["runner"] = runner
    for pool, worker in workers.items():
        _wait_pool_ready(settings, pool, worker, timeout, hide)
    if ui is not None:
        _wait_http(f"{mlflow_url}/health", ui, timeout, hide)
    _wait_http(f"{runner_url}/health", runner, timeout, hide)

    deployments = _deployments(settings)
    info = {
        "prefect_url": prefect_url(settings),
        "prefect_api_url": prefect_api_url(settings),
        "mlflow_url": mlflow_url,
        "model_url": f"{mlflow_url}/#/models/{settings.project.model_name}",
        "runner_url": runner_url,
        "prefect_database": redact(database),
        "mlflow_store": redact(store),
        "deployments": deployments,
        "started": {name: proc.pid for name, proc in started.items()},
        "processes": {p.name: p.pid for p in running(settings)},
        "state_dir": str(state),
        "config": None if config_path is None else str(config_path),
    }
    (state / "run" / "up.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def _environment(settings: Settings, config_path: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PREFECT_DATABASE_ENV}
    env.update(_TELEMETRY_OFF)
    env.setdefault("GIT_PYTHON_REFRESH", "quiet")
    env["PREFECT_HOME"] = str(settings.path(settings.service.state_dir) / "prefect")
    env["PREFECT_API_URL"] = prefect_api_url(settings)
    # The MLflow UI only browses runs and the registry: no GenAI job runners (five more
    # processes) on a small machine.
    env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    if config_path is not None:
        env[deploy.CONFIG_ENV] = str(Path(config_path).resolve())
    else:
        env.pop(deploy.CONFIG_ENV, None)
    return env


def _prefect_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "prefect", *args]


def _port_is_free(host: str, port: int, key: str) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.settimeout(1)
        if probe.connect_ex((host, port)) == 0:
            raise ServiceError(
                f"port {port} on {host} is in use by another program; stop it or set "
                f"service.{key} in challenger.yaml to a free port"
            )


def _prepare_store(settings: Settings) -> None:
    """The MLflow UI's store must open read-write; only the embedded default may be new."""
    from challenger.store.connection import check_store, may_create, sqlite_file

    create = may_create(settings)
    check_store(settings.tracking_uri, create=create)
    path = sqlite_file(settings.tracking_uri)
    if path is not None and create:
        path.parent.mkdir(parents=True, exist_ok=True)


def _wait_until(
    ready: Callable[[], bool], proc: processes.Proc, what: str, timeout: float, hide: Sequence[str]
) -> bool:
    """Poll ``ready`` every half second while ``proc`` lives; False when ``timeout`` passes.

    Raises:
        ServiceError: ``proc`` exited (``what`` names it), with the end of its log.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not processes.alive(proc):
            raise ServiceError(
                f"{what} (pid {proc.pid}) exited while starting; see {proc.log}:\n"
                + _scrub(processes.tail(proc.log), hide)
            )
        if ready():
            return True
        time.sleep(0.5)
    return False


def _wait_http(url: str, proc: processes.Proc, timeout: float, hide: Sequence[str] = ()) -> None:
    def answers() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    if not _wait_until(answers, proc, proc.name, timeout, hide):
        raise ServiceError(
            f"{proc.name} did not answer {url} within {timeout:.0f} s; see {proc.log} "
            "(raise service.startup_timeout on a slow machine)"
        )


def _api(settings: Settings, method: str, path: str, body: Any = None) -> httpx.Response:
    """One Prefect API call, retried while the server is busy (503/429 under load, as
    Prefect's own client does) for up to half a minute."""
    url = f"{prefect_api_url(settings)}{path}"
    deadline = time.monotonic() + 30
    delay = 0.5
    while True:
        try:
            response = httpx.request(method, url, json=body, timeout=30)
            if response.status_code not in _RETRY_STATUS or time.monotonic() > deadline:
                return response
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 4)


def _prefect_cli(
    args: list[str], env: dict[str, str], log: Path, *, cwd: Path | None = None, what: str
) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    with log.open("a", encoding="utf-8") as out:
        out.write(f"\n--- prefect {' '.join(args)} (exit {done.returncode})\n{output}")
    if done.returncode != 0:
        raise ServiceError(f"{what} failed (exit {done.returncode}); see {log}:\n{output[-2000:]}")
    return output


def _ensure_pool(
    settings: Settings, env: dict[str, str], state: Path, pool: str, queues: set[str]
) -> None:
    log = state / "logs" / "setup.log"
    if _api(settings, "GET", f"/work_pools/{pool}").status_code == 404:
        _prefect_cli(
            ["work-pool", "create", pool, "--type", "process"],
            env,
            log,
            what=f"creating the work pool {pool!r}",
        )
    existing = _api(settings, "POST", f"/work_pools/{pool}/queues/filter", {}).json()
    names = {q["name"]: q for q in existing}
    for queue in sorted(queues):
        limit = QUEUE_LIMITS.get(queue)
        if queue not in names:
            response = _api(
                settings,
                "POST",
                f"/work_pools/{pool}/queues",
                {"name": queue, "concurrency_limit": limit},
            )
        elif names[queue].get("concurrency_limit") != limit:
            response = _api(
                settings,
                "PATCH",
                f"/work_pools/{pool}/queues/{queue}",
                {"concurrency_limit": limit},
            )
        else:
            continue
        if response.is_error:
            raise ServiceError(
                f"could not set up the work queue {queue!r} of {pool!r}: "
                f"{response.status_code} {response.text[:500]}"
            )


def _wait_pool_ready(
    settings: Settings, pool: str, worker: processes.Proc, timeout: float, hide: Sequence[str] = ()
) -> None:
    def ready() -> bool:
        response = _api(settings, "GET", f"/work_pools/{pool}")
        return response.status_code == 200 and response.json().get("status") == "READY"

    if not _wait_until(ready, worker, f"the worker for {pool!r}", timeout, hide):
        raise ServiceError(f"the worker for {pool!r} did not report ready; see {worker.log}")


def _deployments(settings: Settings) -> list[dict[str, Any]]:
    flows = {f["id"]: f["name"] for f in _api(settings, "POST", "/flows/filter", {}).json()}
    out = []
    for d in _api(settings, "POST", "/deployments/filter", {}).json():
        out.append(
            {
                "name": f"{flows.get(d['flow_id'], '?')}/{d['name']}",
                "schedules": [
                    {"cron": s["schedule"].get("cron"), "active": s["active"]}
                    for s in d.get("schedules", [])
                ],
                "work_queue": d.get("work_queue_name"),
                "url": f"{prefect_url(settings)}/deployments/deployment/{d['id']}",
            }
        )
    return sorted(out, key=lambda d: d["name"])


# --- down -----------------------------------------------------------------------------------


def running(settings: Settings) -> list[processes.Proc]:
    """The processes ``up`` started that are still alive."""
    state = settings.path(settings.service.state_dir)
    return [p for p in processes.recorded(state) if processes.alive(p)]


def prefect_for_demo(settings: Settings) -> tuple[dict[str, str], str]:
    """Where the demo's flow runs go so that ``challenger up`` shows them; (environment, where).

    ``up``'s Prefect server when it runs (its API URL); else Prefect's temporary server on
    ``up``'s own home and database, so the runs are there when ``up`` starts later. Nothing
    changes when the user named a server (``PREFECT_API_URL``) or Prefect is already loaded in
    this process (its settings are read once, at import). Creates ``up``'s Prefect home.
    """
    if os.environ.get("PREFECT_API_URL"):
        return {}, f"the Prefect server at {os.environ['PREFECT_API_URL']} (PREFECT_API_URL)"
    if "prefect" in sys.modules:
        return {}, "the Prefect server this process already uses"
    if any(p.name == "prefect-server" for p in running(settings)):
        url = prefect_api_url(settings)
        return {
            "PREFECT_API_URL": url
        }, f"the running `challenger up` server ({prefect_url(settings)})"
    home = settings.path(settings.service.state_dir) / "prefect"
    home.mkdir(parents=True, exist_ok=True)  # Prefect creates its home, not the folders above it
    env = {"PREFECT_HOME": str(home), PREFECT_DATABASE_ENV[0]: prefect_database_url(settings)}
    where = (
        f"`challenger up`'s Prefect database ({redact(env[PREFECT_DATABASE_ENV[0]])}); "
        f"`challenger up` shows them at {prefect_url(settings)}"
    )
    return env, where


def down(settings: Settings, *, timeout: float = 20.0) -> dict[str, Any]:
    """Stop what ``up`` started: workers, then the MLflow UI, then the Prefect server.

    Each process group gets SIGTERM, then SIGKILL if it is still there after ``timeout``
    seconds. Only processes recorded in the pid files are touched, and only while their
    command line still matches (a reused pid is left alone).

    Returns:
        ``stopped`` (name → pid), ``killed`` (those that needed SIGKILL) and ``stale``
        (pid files whose process was already gone).
    """
    state = settings.path(settings.service.state_dir)
    procs = sorted(processes.recorded(state), key=lambda p: _rank(p.name))
    stopped: dict[str, int] = {}
    killed: list[str] = []
    stale: list[str] = []
    for proc in procs:
        if not processes.alive(proc):
            stale.append(proc.name)
        else:
            if not processes.stop(proc, timeout):
                killed.append(proc.name)
            stopped[proc.name] = proc.pid
        (state / "run" / f"{proc.name}.pid").unlink(missing_ok=True)
    (state / "run" / "up.json").unlink(missing_ok=True)
    warm.runner_file(state).unlink(missing_ok=True)
    return {"stopped": stopped, "killed": killed, "stale": stale, "state_dir": str(state)}


def _rank(name: str) -> int:
    for i, prefix in enumerate(_STOP_ORDER):
        if name.startswith(prefix):
            return i
    return len(_STOP_ORDER)
