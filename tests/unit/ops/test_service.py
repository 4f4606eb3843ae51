"""Unit tests for challenger.service: the deploy-time values, prefect.yaml, pid files and down."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from challenger.config import Settings, load_config
from challenger.errors import ConfigError
from challenger.ops import deploy, processes, service

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("minutes", "cron"),
    [
        (15, "*/15 * * * *"),
        (1, "* * * * *"),
        (60, "0 * * * *"),
        (6 * 60, "0 */6 * * *"),
        (1440, "0 0 * * *"),
        (7 * 1440, "0 0 * * 0"),
        (365 * 1440, "0 0 1 1 *"),
    ],
)
def test_intervals_become_crons_the_ui_reads_as_words(minutes: int, cron: str) -> None:
    assert deploy.cron_every(minutes, "k") == cron


@pytest.mark.parametrize("minutes", [45, 90, 5 * 60, 2 * 1440, 0.5])
def test_an_interval_no_cron_repeats_evenly_is_refused_with_its_key(minutes: float) -> None:
    with pytest.raises(ConfigError, match=r"^the\.key must be a schedule"):
        deploy.cron_every(minutes, "the.key")


def test_deployment_values_come_from_the_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "challenger.yaml"
    cfg.write_text(
        "project: {model_name: m}\ntriggers: {interval: {monitor_minutes: 30, retrain_hours: null}}\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(deploy.CONFIG_ENV, raising=False)

    values = deploy.deployment_values()

    assert values["config"] == str(cfg.resolve()) and values["code_dir"] == str(tmp_path.resolve())
    assert values["monitor_cron"] == "*/30 * * * *"
    assert values["monitor_active"] is True and values["retrain_active"] is False
    assert values["online_active"] is False  # no serving app: no online analysis runs
    assert values["model_name"] == "m"
    cfg.write_text("serving: {enabled: true}\n")
    values = deploy.deployment_values()
    assert values["online_cron"] == "*/15 * * * *" and values["online_active"] is True
    cfg.write_text("serving: {enabled: true}\nrollout: {strategy: champion}\n")
    assert deploy.deployment_values()["online_active"] is False  # nothing to compare
    cfg.write_text(
        "data: {task: regression}\ntraining: {primary_metric: rmse}\nserving: {enabled: true}\n"
    )
    assert deploy.deployment_values()["online_active"] is True  # every task is compared online
    cfg.write_text("rollout: {strategy: champion, shadow: {batch: true}}\n")
    assert deploy.deployment_values()["online_active"] is True  # batch shadows to judge
    monkeypatch.setenv(deploy.CONFIG_ENV, str(REPO / "challenger.yaml"))
    assert deploy.deployment_values()["config"] == str(REPO / "challenger.yaml")
    cfg.write_text("triggers: {interval: {monitor_minutes: -1}}\n")
    with pytest.raises(ConfigError, match="monitor_minutes"):
        deploy.deployment_values(str(cfg))


def test_the_shipped_prefect_yaml_runs_everything_on_one_process_pool() -> None:
    pools = deploy.pools_and_queues(REPO / "prefect.yaml")
    assert pools == {"challenger": {"monitor", "retrain", "online"}}
    assert service.QUEUE_LIMITS["retrain"] == 1 and service.QUEUE_LIMITS["online"] == 1
    assert deploy.find_prefect_file(Settings(root=REPO)) == REPO / "prefect.yaml"


def test_urls_follow_the_service_section_and_an_mlflow_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("service: {prefect_port: 4300, mlflow_port: 5100, runner_port: 4310}\n")
    settings = load_config(cfg)
    assert service.prefect_api_url(settings) == "http://127.0.0.1:4300/api"
    assert service.runner_address(settings) == "http://127.0.0.1:4310"
    assert service.mlflow_ui_base(settings) == "http://127.0.0.1:5100"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000/")
    assert service.mlflow_ui_base(settings) == "http://mlflow.internal:5000"


def test_the_prefect_database_comes_from_the_environment_the_file_or_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in service.PREFECT_DATABASE_ENV:
        monkeypatch.delenv(name, raising=False)
    default = Settings(root=tmp_path)
    state = tmp_path / ".challenger"
    assert (
        service.prefect_database_url(default) == f"sqlite+aiosqlite:///{state}/prefect/prefect.db"
    )
    cfg = tmp_path / "c.yaml"
    cfg.write_text("service: {prefect_database_url: 'postgresql+asyncpg://u:s3cret@db:5432/p'}\n")
    configured = load_config(cfg)
    assert service.prefect_database_url(configured) == "postgresql+asyncpg://u:s3cret@db:5432/p"
    assert "s3cret" not in repr(configured.service)
    monkeypatch.setenv("CHALLENGER_SERVICE__PREFECT_DATABASE_URL", "postgresql+asyncpg://v:y@h/r")
    assert service.prefect_database_url(Settings(root=tmp_path)) == "postgresql+asyncpg://v:y@h/r"
    monkeypatch.setenv("PREFECT_API_DATABASE_CONNECTION_URL", "postgresql+asyncpg://e:x@h/q")
    assert service.prefect_database_url(configured) == "postgresql+asyncpg://e:x@h/q"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://me:p%40ss@db:5432/mlflow", "postgresql://me:***@db:5432/mlflow"),
        ("postgresql+asyncpg://me:a@b@db/prefect", "postgresql+asyncpg://me:***@db/prefect"),
        ("postgresql://me@db/mlflow", "postgresql://me@db/mlflow"),
        ("sqlite:////tmp/a:b@c/mlflow.db", "sqlite:////tmp/a:b@c/mlflow.db"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ],
)
def test_redact_hides_only_the_password(url: str, shown: str) -> None:
    assert service.redact(url) == shown


def test_passwords_are_scrubbed_raw_and_percent_decoded() -> None:
    hide = service._passwords("postgresql://me:p%40ss@db/m", "sqlite:///x.db")
    assert service._scrub("auth failed for p%40ss (p@ss)", hide) == "auth failed for *** (***)"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://u:pw@db/prefect", "has the scheme 'postgresql'"),
        ("u:pw@db/prefect", "is not a URL"),
    ],
)
def test_a_prefect_database_without_an_async_driver_is_refused_without_its_password(
    tmp_path: Path, url: str, message: str
) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"service: {{prefect_database_url: '{url}'}}\n")
    with pytest.raises(ConfigError, match=message) as exc:
        load_config(cfg)
    assert "postgresql+asyncpg://user:password@host" in str(exc.value)
    assert "pw" not in str(exc.value).replace("password", "")


def test_a_missing_database_driver_is_named_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(service._DRIVERS, "postgresql", "no_such_driver_module")
    with pytest.raises(ConfigError, match=r"'no_such_driver_module' is not installed") as exc:
        service._check_driver("postgresql://me:hunter2@db/mlflow", "mlflow.tracking_uri")
    assert "hunter2" not in str(exc.value) and "scale" in str(exc.value)
    service._check_driver("sqlite:///x.db", "mlflow.tracking_uri")  # no driver to check


def test_servers_listen_on_loopback_only(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("service: {host: 0.0.0.0}\n")
    with pytest.raises(ConfigError, match="not a loopback address"):
        load_config(cfg)


def test_down_stops_recorded_processes_and_skips_stale_or_reused_pids(tmp_path: Path) -> None:
    settings = Settings(root=tmp_path)
    state = settings.path(settings.service.state_dir)
    (state / "run").mkdir(parents=True)
    (state / "logs").mkdir()
    sleeper = processes.spawn(
        state,
        "worker-test",
        [sys.executable, "-c", "import time; time.sleep(60)"],
        dict(os.environ),
        token="time.sleep",
    )
    # a pid file whose pid now belongs to another program (this test process)
    (state / "run" / "mlflow.pid").write_text(
        json.dumps({"pid": os.getpid(), "token": "mlflow server", "log": "x"})
    )
    # Until the child has exec'd, /proc shows the parent's command line: wait for it.
    deadline = time.monotonic() + 10
    while b"time.sleep" not in Path(f"/proc/{sleeper.pid}/cmdline").read_bytes():
        assert time.monotonic() < deadline, "the child never started"
        time.sleep(0.02)
    assert [p.name for p in service.running(settings)] == ["worker-test"]

    out = service.down(settings, timeout=5)

    assert out["stopped"] == {"worker-test": sleeper.pid}
    assert out["stale"] == ["mlflow"] and out["killed"] == []
    assert sleeper.popen is not None and sleeper.popen.wait(timeout=5) == -15  # SIGTERM
    assert list((state / "run").glob("*.pid")) == []
    assert service.down(settings)["stopped"] == {}
