"""Real servers for the scale tests: PostgreSQL from the system's packages; retrain processes.

Helpers for processes on loopback (free ports, a clean environment, running the command line
and Prefect's) are those of the end-to-end test, tests/e2e/test_e2e_service.py.

:class:`Postgres` runs ``initdb`` and ``pg_ctl`` from the Debian packages (``apt-get install
postgresql``) in a temporary folder, listening on a free loopback port. ``initdb`` refuses
to run as root, so as root the server runs as the unprivileged ``postgres`` user (through
``runuser``) in a folder that user owns. Every command has a time-out, and :meth:`stop`
ends the server even when ``pg_ctl stop`` does not.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.e2e.test_e2e_service import REPO, RUN_TIMEOUT, free_port

DB_USER = "postgres"  # the unprivileged system user that runs the server when we are root
ROLE = "challenger"  # the database role the URLs log in as
COMMAND_TIMEOUT = 120


def retrain(
    config: Path, data: Path, env: dict[str, str], reason: str = "manual"
) -> subprocess.Popen[str]:
    """`challenger retrain --json` as its own process (start several to make them race)."""
    argv = [
        sys.executable, "-m", "challenger.cli", "retrain",
        "--config", str(config), "--data", str(data), "--reason", reason, "--json",
    ]  # fmt: skip
    return subprocess.Popen(
        argv, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    """The JSON document a `--json` command printed; it must have succeeded."""
    out, err = proc.communicate(timeout=RUN_TIMEOUT)
    assert proc.returncode == 0, err[-4000:]
    return dict(json.loads(out))


def pg_bindir() -> Path:
    """The newest PostgreSQL server binaries Debian installed (or ``initdb`` on PATH).

    Raises:
        RuntimeError: No PostgreSQL server is installed.
    """
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(re.sub(r"\D", "", Path(p).parts[-3]) or 0),
    )
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent
    raise RuntimeError(
        "no PostgreSQL server binaries (initdb, pg_ctl) on this machine; install them with "
        "`apt-get install -y postgresql` (.ci/run does) and run make test-scale again"
    )


class Postgres:
    """A throw-away PostgreSQL server on 127.0.0.1 (use :meth:`start`, then :meth:`stop`)."""

    def __init__(self) -> None:
        self.bindir = pg_bindir()
        self.port = free_port()
        self.password = secrets.token_hex(12)  # unique: tests search for it in every output
        self.as_root = os.geteuid() == 0
        self.folder = Path(tempfile.mkdtemp(prefix="challenger-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"

    def url(self, database: str, driver: str = "postgresql") -> str:
        """A SQLAlchemy URL of ``database`` for the ``challenger`` role (with the password)."""
        return f"{driver}://{ROLE}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _argv(self, argv: Sequence[str]) -> list[str]:
        return ["runuser", "-u", DB_USER, "--", *argv] if self.as_root else list(argv)

    def _run(self, argv: Sequence[str], *, as_server: bool = True) -> str:
        env = {**os.environ, "PGPASSWORD": self.password, "LC_ALL": "C"}
        done = subprocess.run(
            self._argv(argv) if as_server else list(argv),
            env=env,
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(argv)} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}\n"
                + (self.log.read_text(errors="replace")[-3000:] if self.log.exists() else "")
            )
        return done.stdout

    def start(self) -> Postgres:
        """initdb (password authentication), then start the server on loopback only."""
        socket_dir = self.folder / "socket"
        socket_dir.mkdir()
        pwfile = self.folder / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.as_root:
            try:
                user = pwd.getpwnam(DB_USER)
            except KeyError as exc:
                raise RuntimeError(
                    f"running as root, but there is no {DB_USER!r} user to run PostgreSQL as; "
                    "`apt-get install -y postgresql` creates it"
                ) from exc
            for path in (self.folder, socket_dir, pwfile):
                os.chown(path, user.pw_uid, user.pw_gid)
        pwfile.chmod(0o600)
        self._run(
            [
                str(self.bindir / "initdb"),
                "--pgdata", str(self.data),
                "--username", ROLE,
                "--pwfile", str(pwfile),
                "--auth", "scram-sha-256",
                "--encoding", "UTF8",
                "--no-locale",
                "--no-sync",  # a test server: no fsync of the new cluster (seconds saved)
            ]
        )  # fmt: skip
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={self.port}",
                f"-c unix_socket_directories={socket_dir}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "--pgdata", str(self.data),
                "--log", str(self.log),
                "--options", options,
                "--wait", "--timeout", "60",
                "start",
            ]
        )  # fmt: skip
        return self

    def create_database(self, name: str) -> None:
        """``createdb`` over TCP as the ``challenger`` role."""
        self._run(
            [
                str(self.bindir / "createdb"),
                "--host", "127.0.0.1",
                "--port", str(self.port),
                "--username", ROLE,
                name,
            ],
            as_server=False,
        )  # fmt: skip

    def query(self, database: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of one SQL statement, read with psycopg (the driver MLflow's store uses)."""
        import psycopg

        with psycopg.connect(self.url(database), connect_timeout=10) as conn:
            return list(conn.execute(sql, tuple(params)).fetchall())

    def stop(self) -> None:
        """``pg_ctl stop -m fast``; SIGKILL the postmaster if that fails; remove the folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(
                    [
                        str(self.bindir / "pg_ctl"),
                        "--pgdata", str(self.data),
                        "--mode", "fast",
                        "--wait", "--timeout", "30",
                        "stop",
                    ]
                )  # fmt: skip
        except (RuntimeError, subprocess.TimeoutExpired):
            self._kill_postmaster()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def _kill_postmaster(self) -> None:
        with contextlib.suppress(OSError, ValueError, IndexError):
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                os.kill(pid, 0)  # raises once it is gone
                time.sleep(0.1)
