"""Running the serving app under uvicorn: in the foreground (``challenger serve``) or on a
background thread (tests, benchmarks, the online demo), always on a socket the caller chose.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from challenger.config import Settings
from challenger.errors import ConfigError


def is_loopback(host: str) -> bool:
    """Whether a host name or address is on the loopback interface."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0: a free port chosen by the OS).

    Raises:
        ConfigError: The address cannot be bound (in use, or not an address of this machine).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port"
        ) from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _config(app: Any, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=30,
    )


def serve(app: Any, host: str, port: int, log_level: str = "info") -> None:
    """Serve in the foreground until SIGINT/SIGTERM; shutdown drains the log and the shadows."""
    sock = bind(host, port)
    server = uvicorn.Server(_config(app, log_level))
    server.run(sockets=[sock])


class BackgroundServer:
    """A real uvicorn server on a background thread, on loopback, on a free port.

    Use as a context manager; ``url`` is its base URL. Leaving the block shuts it down
    gracefully (lifespan shutdown: the log and the shadow worker drain).

    Args:
        app: The ASGI app.
        host: A loopback address.
        port: 0 for a free port.
        log_level: uvicorn's log level.
        startup_timeout: Seconds to wait for the server to accept connections.

    Raises:
        ConfigError: ``host`` is not a loopback address.
    """

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        log_level: str = "warning",
        startup_timeout: float = 120.0,
    ) -> None:
        if not is_loopback(host):
            raise ConfigError(f"background servers listen on loopback only, not {host!r}")
        self.app = app
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self.server = uvicorn.Server(_config(app, log_level))
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:54321."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> BackgroundServer:
        """Start and wait until it accepts requests.

        Raises:
            RuntimeError: The server did not start (e.g. the app's startup failed).
        """
        self._sock = bind(self.host, self.port)
        self.port = int(self._sock.getsockname()[1])
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self._sock]}, name="uvicorn", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the serving app failed to start; see the log above")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the serving app did not start in {self.startup_timeout:.0f} s")
            time.sleep(0.02)
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """Shut down gracefully and wait for the thread."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def build_app(settings: Settings) -> Any:
    """The configured serving app (loads the models)."""
    from challenger.online.serve.app import create_app

    return create_app(settings)
