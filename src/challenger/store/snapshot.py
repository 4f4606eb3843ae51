"""The registry snapshot of ``challenger status`` read straight from a SQLite store, read-only.

Importing MLflow and opening its SQLAlchemy store costs ``challenger status`` about 1.4 s of its
2 s; a status only reads five tables. :func:`read_snapshot` reads them with the standard
library's ``sqlite3`` (opened read-only) and returns the same dictionary as
:meth:`challenger.store.registry.Registry.snapshot`, or ``None`` whenever it cannot be sure it
reads what MLflow would (not a SQLite URI, a missing file or model, a table or column it does
not know): the caller then asks MLflow. A test checks both give the same snapshot.

Both read a version's summary tags, not its record artifact: everything ``challenger status``
and the lineage need is in them (:mod:`challenger.store.record`), and the history's lines are
parsed by the one parser (:mod:`challenger.store.history`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

from challenger.store import history as _history
from challenger.store.connection import sqlite_file
from challenger.store.history import HISTORY
from challenger.store.registry import CHAMPION

_HIDDEN_STAGE = "Deleted_Internal"  # MLflow's mark of a deleted version


def read_snapshot(tracking_uri: str, model_name: str) -> dict[str, Any] | None:
    """Aliases, every version (newest first) and the history, or None to ask MLflow."""
    path = sqlite_file(tracking_uri)
    if path is None or not path.exists():
        return None
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as db:
            return _read(db, tracking_uri, model_name)
    except sqlite3.Error:
        return None


def _read(db: sqlite3.Connection, tracking_uri: str, model_name: str) -> dict[str, Any] | None:
    columns = {row[1] for row in db.execute("PRAGMA table_info(model_versions)")}
    if not {"name", "version", "run_id", "current_stage", "creation_time"} <= columns:
        return None
    where, args = "name = ?", [model_name]
    if "workspace" in columns:
        where, args = "name = ? AND workspace = ?", [model_name, "default"]
    if db.execute(f"SELECT 1 FROM registered_models WHERE {where}", args).fetchone() is None:
        return None
    tags: dict[int, dict[str, str]] = {}
    for key, value, version in db.execute(
        f"SELECT key, value, version FROM model_version_tags WHERE {where}", args
    ):
        tags.setdefault(int(version), {})[key] = value
    aliases: dict[int, list[str]] = {}
    for alias, version in db.execute(
        f"SELECT alias, version FROM registered_model_aliases WHERE {where} ORDER BY alias", args
    ):
        aliases.setdefault(int(version), []).append(alias)
    versions = [
        {
            "name": model_name,
            "version": int(version),
            "run_id": run_id,
            "aliases": aliases.get(int(version), []),
            "stage": stage or "None",
            "tags": tags.get(int(version), {}),
            "created_ms": int(created or 0),
        }
        for version, run_id, stage, created in db.execute(
            f"SELECT version, run_id, current_stage, creation_time FROM model_versions "
            f"WHERE {where} AND (current_stage IS NULL OR current_stage != ?) "
            "ORDER BY version DESC",
            [*args, _HIDDEN_STAGE],
        )
    ]
    history = _history.entries(
        db.execute(
            f"SELECT key, value FROM registered_model_tags WHERE {where} AND key LIKE ?",
            [*args, HISTORY + "%"],
        )
    )
    found = {a: v["version"] for v in versions for a in v["aliases"]}
    return {
        "model_name": model_name,
        "tracking_uri": tracking_uri,
        "aliases": found,
        "champion": found.get(CHAMPION),
        "versions": versions,
        "history": history,
    }
