"""One connection to an MLflow store, shared by the registry and the tracking of runs.

This is the one place that connects. A store is opened read-write or not at all: a SQLite
store is checked before MLflow touches it (MLflow would silently turn a 0-byte or mistyped
path into a new, empty registry, and a read-only one fails only at its first write, after
all the work). A new store is created only when asked (``create=True``): the flows ask for
the project's embedded default, ``<project>/mlflow/mlflow.db``, on first use; a store named
explicitly (``mlflow.tracking_uri`` or ``MLFLOW_TRACKING_URI``) must already exist.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from challenger.errors import RegistryUnavailable

if TYPE_CHECKING:
    from challenger.config import Settings

SQLITE_HEADER = b"SQLite format 3\x00"
_PROBE = "challenger_write_probe"  # created and rolled back: proves the store is writable
BUSY_SECONDS = 30.0

STORE_TEMPLATE: Path | None = None
"""A pristine, empty SQLite store of this MLflow version, copied for a new store instead of
running MLflow's migrations again (about a second each). The test suite sets it, once per
session; None (the default) lets MLflow initialise every new store itself."""


def sqlite_file(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for any other store or in-memory)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    path = tracking_uri.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def may_create(settings: Settings) -> bool:
    """Whether the configured store may be created on first use: only the embedded default."""
    return settings.tracking_uri == settings.embedded_tracking_uri


def store_exists(tracking_uri: str) -> bool:
    """False only for a SQLite store whose file does not exist (servers are assumed to)."""
    path = sqlite_file(tracking_uri)
    return path is None or path.exists()


def check_store(tracking_uri: str, *, create: bool = False) -> None:
    """Fail in one sentence, naming the store, unless it can be opened read-write.

    Only SQLite stores are checked here (a server or database store is checked by
    connecting). Nothing is created: a missing store that ``create`` allows is left for
    MLflow to initialise.

    Args:
        tracking_uri: The MLflow store.
        create: Whether a missing store may be created (the project's embedded default).

    Raises:
        RegistryUnavailable: The store is missing (and may not be created), is an empty or
            non-SQLite file, is not an MLflow store, is corrupt or is not writable.
    """
    path = sqlite_file(tracking_uri)
    if path is None:
        return
    where = f"the MLflow store {tracking_uri}"
    if not path.exists():
        if create:
            return
        raise RegistryUnavailable(
            f"{where} does not exist (no file {path}); correct mlflow.tracking_uri or "
            "MLFLOW_TRACKING_URI, or drop it to use the project's embedded store "
            "(mlflow/mlflow.db, created on first use)"
        )
    if not path.is_file():
        raise RegistryUnavailable(f"{where} is not a file ({path}); point it at a SQLite file")
    try:
        with path.open("rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise RegistryUnavailable(f"{where} cannot be read ({exc}); check its permissions") from exc
    if not header:
        raise RegistryUnavailable(
            f"{where} is an empty (0-byte) file, not an MLflow store; point mlflow.tracking_uri "
            f"or MLFLOW_TRACKING_URI at your store, or delete {path} if it should be a new one"
        )
    if header != SQLITE_HEADER:
        raise RegistryUnavailable(
            f"{where} is not a SQLite database ({path} holds something else); point "
            "mlflow.tracking_uri or MLFLOW_TRACKING_URI at your MLflow store"
        )
    _check_database(path, where, create)


def _check_database(path: Path, where: str, create: bool) -> None:
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=BUSY_SECONDS)
    except sqlite3.Error as exc:
        raise RegistryUnavailable(
            f"{where} cannot be opened read-write ({exc}); check the permissions of {path} "
            "and its folder"
        ) from exc
    conn.isolation_level = None  # explicit transactions below
    try:
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
            pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
        except sqlite3.DatabaseError as exc:
            raise RegistryUnavailable(
                f"{where} is corrupt ({exc}); restore {path} from a backup"
            ) from exc
        if path.stat().st_size < page_size * pages:
            raise RegistryUnavailable(
                f"{where} is corrupt ({path} is shorter than its {pages} pages: truncated); "
                "restore it from a backup"
            )
        if "experiments" not in tables and (tables or not create):
            raise RegistryUnavailable(
                f"{where} is a SQLite database but not an MLflow store (no experiments "
                "table); point mlflow.tracking_uri or MLFLOW_TRACKING_URI at your MLflow store"
            )
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(f"CREATE TABLE {_PROBE} (x)")
            conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise RegistryUnavailable(
                f"{where} is not writable ({exc}); make {path} and its folder writable, "
                "or point MLFLOW_TRACKING_URI at a writable copy"
            ) from exc
    finally:
        conn.close()


def connect(tracking_uri: str, *, create: bool = False) -> tuple[Any, Any]:
    """Point MLflow at ``tracking_uri``; returns ``(mlflow module, MlflowClient)``.

    The store is checked first (:func:`check_store`): it must exist, unless ``create``
    allows a new one, and be writable.

    ``mlflow.set_tracking_uri`` also exports ``MLFLOW_TRACKING_URI``, which our configuration
    reads as the user's override: it is restored, so that connecting to one project's store
    never redirects the next project loaded in this process.

    Raises:
        RegistryUnavailable: The store is missing, not a store, corrupt, read-only or down.
    """
    check_store(tracking_uri, create=create)
    import mlflow
    from mlflow import MlflowClient

    path = sqlite_file(tracking_uri)
    if path is not None and create:
        path.parent.mkdir(parents=True, exist_ok=True)
        if STORE_TEMPLATE is not None and not path.exists():
            partial = path.with_name(f".{path.name}.{os.getpid()}.new")
            shutil.copyfile(STORE_TEMPLATE, partial)
            os.replace(partial, path)  # whole or not at all
    if tracking_uri.startswith(("http://", "https://")):
        # Fail fast instead of retrying for minutes against a store that is down.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    user_uri = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    if user_uri is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = user_uri
    try:
        # The client opens (and for a new SQLite file, initialises) the store at once.
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    except Exception as exc:
        raise unavailable(tracking_uri, exc) from exc
    return mlflow, client


def create_store(tracking_uri: str) -> None:
    """Create a new, empty MLflow store at ``tracking_uri`` (an existing one is only checked).

    What a set-up step calls to ask for a store at an explicit path.
    """
    connect(tracking_uri, create=True)


def unavailable(tracking_uri: str, exc: Exception) -> RegistryUnavailable:
    """The error for a store that cannot be reached or opened."""
    return RegistryUnavailable(
        f"the MLflow store {tracking_uri} cannot be reached or opened ({type(exc).__name__}: {exc}); "
        "start it or point MLFLOW_TRACKING_URI at a working store"
    )
