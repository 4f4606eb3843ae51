"""The ``challenger`` command line.

Every command takes ``--config PATH``; ``--json`` makes stdout one JSON document and
nothing else (logs go to stderr). Exit codes: 0 success (a refused challenger is a
success), 2 bad input or configuration, 1 any other failure.

One module a group of commands: ``base`` (the app and the options every command shares),
``offline`` (demo, init, monitor, retrain, status, promote, rollback), ``ops`` (up, down),
``online`` (serve, online, online-demo, release, shadow, plan-ab). Importing them
registers their commands on ``app``.
"""

from __future__ import annotations

from challenger.cli import offline, online, ops  # noqa: F401  (register the commands)
from challenger.cli.base import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app()
