"""Running challenger as a service on one machine: ``challenger up`` and ``challenger down``.

``up`` starts, each as a detached process on a loopback address, a Prefect server (UI and
API), the MLflow UI on the configured store, and one Prefect worker per work pool that
``prefect.yaml`` names; it creates the process work pools and the ``retrain`` and
``online`` queues (one run at a time each), deploys ``prefect.yaml`` with
``prefect deploy --all``, and returns the two URLs. Pid files and logs live under
``service.state_dir`` (``.challenger/`` by default), as does the Prefect database unless
``service.prefect_database_url`` (or ``PREFECT_API_DATABASE_CONNECTION_URL``, which wins)
points elsewhere, e.g. at PostgreSQL; the MLflow UI serves ``mlflow.tracking_uri``. Both
URLs reach the servers through their environment, never their command line, and every
message shows them with the password replaced by ``***``. ``down`` stops what ``up``
started, by the recorded process ids only: workers first, so no run is picked up by a
half-stopped system, then the servers.

:func:`deployment_values` is the build step ``prefect.yaml`` runs at deploy time: it reads
``challenger.yaml`` so the schedules (``triggers.interval``, ``rollout.review_minutes``) and
the configuration path have one source. Nothing here imports Prefect: the servers are
separate processes, driven through their command line and HTTP API.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import yaml

from challenger.config import DEFAULT_CONFIG_NAME, Settings, load_config
from challenger.errors import ConfigError, ServiceError

__all__ = [
    "PREFECT_FILE",
    "QUEUE_LIMITS",
    "deployment_values",
    "down",
    "mlflow_ui_base",
    "prefect_api_url",
    "prefect_database_url",
    "prefect_url",
    "redact",
    "rrule_every",
    "running",
    "up",
]

logger = logging.getLogger(__name__)

PREFECT_FILE = "prefect.yaml"
CHECKOUT = Path(__file__).resolve().parents[3]  # src/challenger/ops/service.py -> the clone
CONFIG_ENV = "CHALLENGER_CONFIG"
QUEUE_LIMITS: Mapping[str, int] = {"retrain": 1, "online": 1}
"""Work queues ``up`` creates with a concurrency limit: one retrain at a time, however it
was started (schedule, Run button or drift event), and one online analysis at a time;
further runs wait in the queue."""
_ANCHOR = "20260101T000000"  # fixed DTSTART: redeploying keeps the schedule's phase
_OFF_RRULE = "FREQ=WEEKLY;INTERVAL=1"  # a valid rule for a schedule that is switched off
_TELEMETRY_OFF = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
_STOP_ORDER = ("worker", "mlflow", "prefect-server")
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


@dataclass(frozen=True)
class _Proc:
    """A process ``up`` started, as recorded in its pid file."""

    name: str
    pid: int
    token: str  # a word of its command line, to tell it from a process that reused the pid
    log: Path
    popen: subprocess.Popen[bytes] | None = None  # set when this process started it


# --- addresses ------------------------------------------------------------------------------


def prefect_url(settings: Settings) -> str:
    """The Prefect UI that ``challenger up`` serves."""
    return f"http://{_host(settings)}:{settings.service.prefect_port}"


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


# --- the prefect.yaml build step ------------------------------------------------------------


def rrule_every(seconds: float) -> str:
    """An RFC 5545 rule repeating every ``seconds``, in the largest whole unit."""
    whole = max(1, round(seconds))
    for unit, size in (("WEEKLY", 604_800), ("DAILY", 86_400), ("HOURLY", 3_600)):
        if whole % size == 0:
            return f"DTSTART:{_ANCHOR}\nRRULE:FREQ={unit};INTERVAL={whole // size}"
    if whole % 60 == 0:
        return f"DTSTART:{_ANCHOR}\nRRULE:FREQ=MINUTELY;INTERVAL={whole // 60}"
    return f"DTSTART:{_ANCHOR}\nRRULE:FREQ=SECONDLY;INTERVAL={whole}"


def deployment_values(config: str | None = None) -> dict[str, Any]:
    """Values ``prefect.yaml`` templates into its deployments (a Prefect build step).

    Args:
        config: ``challenger.yaml`` to deploy with; default ``$CHALLENGER_CONFIG``, else
            ``./challenger.yaml`` if it exists, else the built-in defaults.

    Returns:
        ``config`` (absolute path or None), ``code_dir`` (where the flows are, the working
        directory of every run), the schedules as RRULEs with their on/off switches
        (``monitor_rrule``, ``monitor_active``, ``retrain_rrule``, ``retrain_active``,
        ``online_rrule``, ``online_active``) and ``model_name``. The online analysis is
        scheduled only for a binary task (the only one the serving app compares).

    Raises:
        ConfigError: The configuration is invalid (the deploy then stops with its message).
    """
    chosen = config or os.environ.get(CONFIG_ENV) or None
    path = Path(chosen).resolve() if chosen else None
    if path is None and (Path.cwd() / DEFAULT_CONFIG_NAME).is_file():
        path = (Path.cwd() / DEFAULT_CONFIG_NAME).resolve()
    settings = load_config(path)
    interval = settings.triggers.interval
    monitor = interval.monitor_minutes
    retrain = interval.retrain_hours
    review = settings.rollout.review_minutes if settings.data.task == "binary" else None
    return {
        "config": None if path is None else str(path),
        "code_dir": str(Path.cwd().resolve()),
        "monitor_rrule": rrule_every(monitor * 60)
        if monitor
        else f"DTSTART:{_ANCHOR}\nRRULE:{_OFF_RRULE}",
        "monitor_active": monitor is not None,
        "retrain_rrule": rrule_every(retrain * 3600)
        if retrain
        else f"DTSTART:{_ANCHOR}\nRRULE:{_OFF_RRULE}",
        "retrain_active": retrain is not None,
        "online_rrule": rrule_every(review * 60)
        if review
        else f"DTSTART:{_ANCHOR}\nRRULE:{_OFF_RRULE}",
        "online_active": review is not None,
        "model_name": settings.project.model_name,
    }


def find_prefect_file(settings: Settings) -> Path:
    """``prefect.yaml`` beside the configuration, else in the checkout the code runs from.

    Raises:
        ConfigError: Neither exists.
    """
    candidates = [settings.root / PREFECT_FILE, CHECKOUT / PREFECT_FILE]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise ConfigError(
        f"no {PREFECT_FILE} in {settings.root} or in the challenger checkout "
        f"({candidates[1].parent}); run from a clone of challenger or put one beside challenger.yaml"
    )


def pools_and_queues(prefect_file: Path) -> dict[str, set[str]]:
    """Work pools the deployments of ``prefect_file`` use, with their named work queues.

    Raises:
        ConfigError: The file is not YAML or a deployment names no work pool.
    """
    try:
        spec = yaml.safe_load(prefect_file.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read {prefect_file}: {exc}") from exc
    pools: dict[str, set[str]] = {}
    for deployment in spec.get("deployments") or []:
        pool = (deployment.get("work_pool") or {}).get("name")
        if not pool or "{{" in str(pool):
            raise ConfigError(
                f"deployment {deployment.get('name')!r} in {prefect_file} needs a literal "
                "work_pool.name (a process pool that challenger up starts a worker for)"
            )
        queue = (deployment.get("work_pool") or {}).get("work_queue_name")
        pools.setdefault(str(pool), set()).update([str(queue)] if queue else [])
    return pools


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
        prefect_file: The deployments to deploy; default :func:`find_prefect_file`.
        say: Where progress messages go.

    Returns:
        ``prefect_url``, ``prefect_api_url``, ``mlflow_url``, ``model_url``, the two
        databases with their passwords redacted (``prefect_database``, ``mlflow_store``),
        the deployments, the process ids and the state folder.

    Raises:
        ConfigError: A PostgreSQL URL is configured but its driver is not installed.
        ServiceError: A port is taken by another program, or a server did not come up
            within ``service.startup_timeout`` seconds (the message names its log).
    """
    prefect_file = prefect_file or find_prefect_file(settings)
    pools = pools_and_queues(prefect_file)
    state = settings.path(settings.service.state_dir)
    (state / "run").mkdir(parents=True, exist_ok=True)
    (state / "logs").mkdir(parents=True, exist_ok=True)
    started: dict[str, _Proc] = {}
    try:
        return _up(settings, config_path, prefect_file, pools, state, started, say)
    except BaseException:
        # Leave nothing half-started behind: stop what this call started, workers first.
        for proc in sorted(started.values(), key=lambda p: _rank(p.name)):
            if _alive(proc):
                _stop(proc, timeout=10)
            (state / "run" / f"{proc.name}.pid").unlink(missing_ok=True)
        raise


def _up(
    settings: Settings,
    config_path: Path | None,
    prefect_file: Path,
    pools: dict[str, set[str]],
    state: Path,
    started: dict[str, _Proc],
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
    server = _running(state, "prefect-server")
    if server is None:
        _port_is_free(host, settings.service.prefect_port, "prefect_port")
        say(f"starting the Prefect server on {prefect_url(settings)} (database {redact(database)})")
        server = _spawn(
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
    ui: _Proc | None = None
    if serves_store:
        ui = _running(state, "mlflow")
        if ui is None:
            _port_is_free(host, settings.service.mlflow_port, "mlflow_port")
            _prepare_store(settings)
            say(f"starting the MLflow UI on {mlflow_url} (store {redact(store)})")
            ui = _spawn(
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

    workers: dict[str, _Proc] = {}
    for pool, queues in pools.items():
        _ensure_pool(settings, env, state, pool, queues)
        name = f"worker-{pool}"
        worker = _running(state, name)
        if worker is None:
            say(f"starting a worker for the {pool!r} work pool")
            worker = _spawn(
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
    for pool, worker in workers.items():
        _wait_pool_ready(settings, pool, worker, timeout, hide)
    if ui is not None:
        _wait_http(f"{mlflow_url}/health", ui, timeout, hide)

    deployments = _deployments(settings)
    info = {
        "prefect_url": prefect_url(settings),
        "prefect_api_url": prefect_api_url(settings),
        "mlflow_url": mlflow_url,
        "model_url": f"{mlflow_url}/#/models/{settings.project.model_name}",
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
        env[CONFIG_ENV] = str(Path(config_path).resolve())
    else:
        env.pop(CONFIG_ENV, None)
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


def _spawn(state: Path, name: str, argv: list[str], env: dict[str, str], *, token: str) -> _Proc:
    """Start a detached process in its own session; record its pid."""
    log = state / "logs" / f"{name}.log"
    with log.open("ab") as out:
        out.write(f"\n--- {datetime.now(UTC).isoformat()} {' '.join(argv)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=state,
            start_new_session=True,  # its own process group: down stops it and its children
        )
    record = {"pid": proc.pid, "token": token, "log": str(log), "argv": argv}
    (state / "run" / f"{name}.pid").write_text(json.dumps(record) + "\n", encoding="utf-8")
    return _Proc(name, proc.pid, token, log, proc)


def _wait_http(url: str, proc: _Proc, timeout: float, hide: Sequence[str] = ()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(proc):
            raise ServiceError(
                f"{proc.name} (pid {proc.pid}) exited while starting; see {proc.log}:\n"
                + _scrub(_tail(proc.log), hide)
            )
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
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
    settings: Settings, pool: str, worker: _Proc, timeout: float, hide: Sequence[str] = ()
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(worker):
            raise ServiceError(
                f"the worker for {pool!r} (pid {worker.pid}) exited; see {worker.log}:\n"
                + _scrub(_tail(worker.log), hide)
            )
        response = _api(settings, "GET", f"/work_pools/{pool}")
        if response.status_code == 200 and response.json().get("status") == "READY":
            return
        time.sleep(0.5)
    raise ServiceError(f"the worker for {pool!r} did not report ready; see {worker.log}")


def _deployments(settings: Settings) -> list[dict[str, Any]]:
    flows = {f["id"]: f["name"] for f in _api(settings, "POST", "/flows/filter", {}).json()}
    out = []
    for d in _api(settings, "POST", "/deployments/filter", {}).json():
        out.append(
            {
                "name": f"{flows.get(d['flow_id'], '?')}/{d['name']}",
                "schedules": [
                    {"rrule": s["schedule"].get("rrule"), "active": s["active"]}
                    for s in d.get("schedules", [])
                ],
                "work_queue": d.get("work_queue_name"),
                "url": f"{prefect_url(settings)}/deployments/deployment/{d['id']}",
            }
        )
    return sorted(out, key=lambda d: d["name"])


# --- down -----------------------------------------------------------------------------------


def running(settings: Settings) -> list[_Proc]:
    """The processes ``up`` started that are still alive."""
    state = settings.path(settings.service.state_dir)
    return [p for p in _recorded(state) if _alive(p)]


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
    procs = sorted(_recorded(state), key=lambda p: _rank(p.name))
    stopped: dict[str, int] = {}
    killed: list[str] = []
    stale: list[str] = []
    for proc in procs:
        if not _alive(proc):
            stale.append(proc.name)
        else:
            if not _stop(proc, timeout):
                killed.append(proc.name)
            stopped[proc.name] = proc.pid
        (state / "run" / f"{proc.name}.pid").unlink(missing_ok=True)
    (state / "run" / "up.json").unlink(missing_ok=True)
    return {"stopped": stopped, "killed": killed, "stale": stale, "state_dir": str(state)}


def _rank(name: str) -> int:
    for i, prefix in enumerate(_STOP_ORDER):
        if name.startswith(prefix):
            return i
    return len(_STOP_ORDER)


def _stop(proc: _Proc, timeout: float) -> bool:
    """SIGTERM the process group, SIGKILL it after ``timeout``; True if it ended politely."""
    _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group_alive(proc.pid):
            return True
        time.sleep(0.2)
    _signal_group(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    return False


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _has_live_member(pgid)


def _has_live_member(pgid: int) -> bool:
    """Whether a non-zombie process is left in the group (Linux /proc; else assume so)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _recorded(state: Path) -> Iterator[_Proc]:
    for pid_file in sorted((state / "run").glob("*.pid")):
        try:
            record = json.loads(pid_file.read_text(encoding="utf-8"))
            yield _Proc(
                pid_file.stem, int(record["pid"]), str(record["token"]), Path(record["log"])
            )
        except (OSError, ValueError, KeyError, TypeError):
            logger.warning("Ignoring unreadable pid file %s", pid_file)


def _running(state: Path, name: str) -> _Proc | None:
    for proc in _recorded(state):
        if proc.name == name and _alive(proc):
            return proc
    return None


def _alive(proc: _Proc) -> bool:
    if proc.popen is not None:  # our own child: its command line may not be exec'd yet
        return proc.popen.poll() is None
    try:
        os.kill(proc.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # not ours: a reused pid
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    if cmdline.exists():
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            stat = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return False
        return proc.token in text and stat[0] != "Z"
    return True


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
