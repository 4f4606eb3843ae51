"""The promotion lock: held by whoever moves ``champion``, released even when its holder dies.

A lock that outlives a crashed holder blocks every later promotion (a Prefect global
concurrency slot does: it stays taken until its lease expires or someone repairs it). So the
lock lives where the registry lives, in something the operating system or the database
releases the moment the holding process goes away:

* a SQLite store (the embedded default): an exclusive ``flock`` on ``<store>.promotion.lock``
  beside the database; the kernel drops it when the process exits or is killed;
* a PostgreSQL store: a session-level ``pg_advisory_lock`` on its own connection; the server
  drops it when the connection closes, which a killed process's connection does at once;
* any other store (an MLflow tracking server over HTTP): no lock of ours can reach its
  database, so :func:`promotion_lock` returns None and the caller supplies one (the flows use
  Prefect's global concurrency limit, whose slots are leased).

Every lock waits at most ``timeout`` seconds and then raises :class:`LockTimeout` naming the
holder when it can.

:func:`record_lock` is a second lock of the same kinds, per registered model, held only while
one version's record is read, merged and written (``Registry.update_record``): stages that
write a record outside the promotion lock (registration, marking a challenger, the repair of
abandoned versions) would otherwise lose each other's fields. It is never taken while held,
and the promotion lock may be held around it, never the other way round.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import socket
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

from challenger.errors import LockTimeout

POLL_SECONDS = 0.05


def _sqlite_path(tracking_uri: str) -> Path | None:
    if tracking_uri.startswith("sqlite:///"):
        return Path(tracking_uri.removeprefix("sqlite:///"))
    return None


@contextlib.contextmanager
def file_lock(path: Path, timeout: float, what: str) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` (created if missing); the holder's pid is written in it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = path.read_text(encoding="utf-8", errors="replace").strip() or "unknown"
                    raise LockTimeout(
                        f"the {what} ({path}) is still held after {timeout:.0f} s by {holder}; "
                        "wait for that run to finish, or stop it"
                    ) from None
                time.sleep(POLL_SECONDS)
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _advisory_key(name: str) -> int:
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def advisory_lock(tracking_uri: str, name: str, timeout: float, what: str) -> Iterator[None]:
    """A PostgreSQL session-level advisory lock on its own connection."""
    import sqlalchemy

    url = (
        "postgresql://" + tracking_uri.split("://", 1)[1]
        if tracking_uri.startswith("postgres://")
        else tracking_uri
    )
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    key = _advisory_key(name)
    try:
        with engine.connect() as conn:
            deadline = time.monotonic() + timeout
            while not conn.execute(
                sqlalchemy.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}
            ).scalar():
                conn.rollback()
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"the {what} (PostgreSQL advisory lock {key}) is still held after "
                        f"{timeout:.0f} s; wait for that run to finish, or stop it"
                    )
                time.sleep(POLL_SECONDS)
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
    finally:
        engine.dispose()


def promotion_lock(
    tracking_uri: str, model_name: str, timeout: float = 600.0
) -> AbstractContextManager[None] | None:
    """The crash-safe promotion lock of a registered model, or None where the store has none.

    Args:
        tracking_uri: The MLflow store.
        model_name: The registered model (each model has its own lock).
        timeout: Seconds to wait for the lock before :class:`LockTimeout`.
    """
    return _store_lock(tracking_uri, model_name, "promotion", timeout)


def record_lock(
    tracking_uri: str, model_name: str, timeout: float = 120.0
) -> AbstractContextManager[None] | None:
    """The crash-safe lock around a version record's read-merge-write (None where the store
    has none: an MLflow tracking server over HTTP)."""
    return _store_lock(tracking_uri, model_name, "record", timeout)


def _store_lock(
    tracking_uri: str, model_name: str, kind: str, timeout: float
) -> AbstractContextManager[None] | None:
    """The ``kind`` lock of a registered model in the store's own terms (module docstring)."""
    what = f"{kind} lock of {model_name!r}"
    db = _sqlite_path(tracking_uri)
    if db is not None:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in model_name)
        return file_lock(db.with_name(f"{db.name}.{safe}.{kind}.lock"), timeout, what)
    if tracking_uri.startswith(("postgresql://", "postgresql+", "postgres://")):
        return advisory_lock(tracking_uri, f"challenger-{kind}:{model_name}", timeout, what)
    return None
