"""The prediction log: every answered record, every shadow output, labels and rollout state.

One SQLite database in WAL mode, so the serving app, the shadow worker and the online
analysis can read and write it at the same time. This module holds what the log is: its
tables, the rows the request path hands over, and ``LogStore`` (schema, reads, the
compare-and-set state). The request path never touches the disk: it queues rows for the
writer thread of ``challenger.online.log_writer``.

Durability: the database is in WAL mode with ``synchronous=NORMAL`` by default: a committed
transaction is in the WAL file (written before COMMIT returns) and survives a crash or a
kill -9 of any process; only a power cut or an OS crash can lose the last transactions
(``serving.log_synchronous: full`` syncs the WAL on every commit and survives those too).
The serving app answers a request only after its rows are committed (group commit, see
``challenger.online.log_writer``).

Tables:
    predictions  one row per answered record: id, time, variant, version, fingerprint, score,
                 latency (wall time of the request), model_ms (CPU time of the prediction),
                 status (ok / fallback / error), flagged (fields outside the champion's
                 training profile, when ``serving.out_of_profile`` is flag), proba
    shadows      one row per record and shadow model: score, model_ms (CPU time of a request
                 predicted alone; NULL when micro-batched or cold), error, proba

The score follows ``data.task``: P(class 1) for a binary model, the predicted value for a
regression, the predicted class's code (its index among the champion's sorted classes) for
a multiclass model, whose class probabilities are in ``proba`` (a JSON list in code order;
NULL for the other tasks and in logs written before it existed). A multiclass label is the
true class's code, too.
    feedback     labels (and an optional business value) by request id and record index;
                 the first label of a record wins, a different one is refused unless the
                 sender asks to overwrite it
    assignments  sticky A/B assignments of a balanced experiment
    state        small JSON documents with a revision for compare-and-set (the rollout state)
    events       what the app did on its own: model swaps, rollbacks, flag errors
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson
import pandas as pd

log = logging.getLogger(__name__)

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS predictions (
    request_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    ts REAL NOT NULL,
    user_id TEXT,
    strategy TEXT NOT NULL,
    experiment TEXT,
    arm TEXT NOT NULL,
    variant TEXT NOT NULL,
    model_version INTEGER,
    challenger_version INTEGER,
    stage INTEGER,
    fingerprint TEXT NOT NULL,
    score REAL,
    model_ms REAL,
    latency_ms REAL NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    attributes TEXT,
    flagged TEXT,
    proba TEXT,
    PRIMARY KEY (request_id, idx)
);
CREATE INDEX IF NOT EXISTS predictions_ts ON predictions (ts);
CREATE TABLE IF NOT EXISTS shadows (
    request_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    model TEXT NOT NULL,
    ts REAL NOT NULL,
    model_version INTEGER NOT NULL,
    score REAL,
    model_ms REAL,
    error TEXT,
    proba TEXT,
    PRIMARY KEY (request_id, idx, model)
);
CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    label REAL,
    value REAL,
    ts REAL NOT NULL,
    PRIMARY KEY (request_id, idx)
);
CREATE TABLE IF NOT EXISTS assignments (
    experiment TEXT NOT NULL,
    user_id TEXT NOT NULL,
    arm TEXT NOT NULL,
    stratum TEXT NOT NULL,
    ts REAL NOT NULL,
    PRIMARY KEY (experiment, user_id)
);
CREATE TABLE IF NOT EXISTS state (
    key TEXT PRIMARY KEY,
    revision INTEGER NOT NULL,
    value TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""

INSERT_EVENT: Final = "INSERT INTO events (ts, kind, detail) VALUES (?,?,?)"

#: Columns added after the first release: (table, column, type), added to older databases.
_ADDED_COLUMNS: Final = (
    ("predictions", "flagged", "TEXT"),
    ("predictions", "proba", "TEXT"),
    ("shadows", "proba", "TEXT"),
)

#: ``serving.log_synchronous`` → SQLite's ``PRAGMA synchronous`` value.
SYNCHRONOUS: Final = {"normal": "NORMAL", "full": "FULL"}


def score_and_proba(value: Any) -> tuple[float | None, str | None]:
    """The log's ``score`` and ``proba`` of one model output: a number is the score itself;
    a row of class probabilities gives the predicted class's code and the row as JSON."""
    if value is None:
        return None, None
    if isinstance(value, list | tuple | np.ndarray):
        row = [float(p) for p in value]
        return float(np.argmax(row)), orjson.dumps(row).decode()
    return float(value), None


def read_proba(texts: pd.Series) -> np.ndarray:
    """The (n, k) class probabilities of logged rows (``proba``); NaN rows where missing."""
    rows = [orjson.loads(t) if isinstance(t, str) else None for t in texts]
    k = max((len(r) for r in rows if r is not None), default=0)
    out = np.full((len(rows), k), np.nan)
    for i, r in enumerate(rows):
        if r is not None and len(r) == k:
            out[i] = r
    return out


def fingerprint_record(record: Mapping[str, Any]) -> str:
    """A short, key-order-independent hash of one input record."""
    data = orjson.dumps(record, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    return hashlib.blake2b(data, digest_size=8).hexdigest()


@dataclass(frozen=True)
class PredictionRow:
    """One answered record, as the request path hands it to the writer."""

    request_id: str
    idx: int
    ts: float
    user_id: str | None
    strategy: str
    experiment: str | None
    arm: str
    variant: str
    model_version: int | None
    challenger_version: int | None
    stage: int | None
    record: Mapping[str, Any]
    score: float | None
    model_ms: float | None
    latency_ms: float
    status: str
    error: str | None
    attributes: Mapping[str, str] = field(default_factory=dict)
    flagged: str | None = None
    proba: str | None = None

    @classmethod
    def for_records(
        cls,
        records: Sequence[Mapping[str, Any]],
        scores: Sequence[Any] | np.ndarray | None,
        *,
        request_id: str,
        ts: float,
        user_id: str | None,
        strategy: str,
        experiment: str | None,
        arm: str,
        variant: str,
        model_version: int | None,
        challenger_version: int | None,
        stage: int | None,
        model_ms: float | None,
        latency_ms: float,
        status: str,
        error: str | None,
        attributes: Mapping[str, str],
        flagged: Mapping[int, str] | None = None,
    ) -> list[PredictionRow]:
        """One row per record of an answered request (``idx`` is the record's position).

        Args:
            records: The request's records, in order.
            scores: The score of each record (a row of class probabilities for a multiclass
                model, see ``score_and_proba``), or None when the model failed.
            request_id: The request every row belongs to; the other keywords are the
                fields of the same name, shared by every record of the request.
            flagged: Record index → its fields outside the training profile (comma-separated).
        """
        flags = flagged or {}
        outputs = [
            score_and_proba(None if scores is None else scores[i]) for i in range(len(records))
        ]
        return [
            cls(
                request_id=request_id,
                idx=i,
                ts=ts,
                user_id=user_id,
                strategy=strategy,
                experiment=experiment,
                arm=arm,
                variant=variant,
                model_version=model_version,
                challenger_version=challenger_version,
                stage=stage,
                record=record,
                score=outputs[i][0],
                model_ms=model_ms,
                latency_ms=latency_ms,
                status=status,
                error=error,
                attributes=attributes,
                flagged=flags.get(i),
                proba=outputs[i][1],
            )
            for i, record in enumerate(records)
        ]


@dataclass(frozen=True)
class ShadowRow:
    """One shadow model's output for one record."""

    request_id: str
    idx: int
    model: str
    ts: float
    model_version: int
    score: float | None
    model_ms: float | None
    error: str | None
    proba: str | None = None


@dataclass(frozen=True)
class FeedbackRow:
    """A ground-truth label (and optional business value) for one answered record.

    The first label of a record wins: a row that contradicts the recorded one is refused
    (reported to the sender as a conflict) unless ``overwrite`` is set; one that only adds
    what is missing (a business value after the label) completes it.
    """

    request_id: str
    idx: int
    label: float | None
    value: float | None
    ts: float
    overwrite: bool = False


@dataclass(frozen=True)
class AssignmentRow:
    """A sticky A/B assignment of a balanced experiment."""

    experiment: str
    user_id: str
    arm: str
    stratum: str
    ts: float


@dataclass(frozen=True)
class EventRow:
    """Something the app did on its own (a swap, a rollback, a bad flags file)."""

    kind: str
    detail: Mapping[str, Any]
    ts: float


Row = PredictionRow | ShadowRow | FeedbackRow | AssignmentRow | EventRow


class LogStore:
    """Schema, reads and the compare-and-set state of one prediction-log database.

    Args:
        path: The SQLite file (created with its folder when missing).
        synchronous: ``serving.log_synchronous`` (normal or full, see the module docstring).
    """

    def __init__(self, path: Path, synchronous: str = "normal") -> None:
        self.path = Path(path)
        self.synchronous = SYNCHRONOUS[synchronous]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)
            for table, column, kind in _ADDED_COLUMNS:
                have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
                if column not in have:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def open_connection(self) -> sqlite3.Connection:
        """A new connection in autocommit mode (transactions are explicit), the caller's to close."""
        conn = sqlite3.connect(
            self.path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
        except BaseException:
            conn.close()
            raise
        return conn

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A short-lived connection (autocommit; transactions are explicit)."""
        conn = self.open_connection()
        try:
            yield conn
        finally:
            conn.close()

    # ---- reads ------------------------------------------------------------------------
    def count(self, table: str) -> int:
        """Rows in one of the log's tables."""
        if table not in {"predictions", "shadows", "feedback", "assignments", "events"}:
            raise ValueError(f"unknown prediction-log table {table!r}")
        with self.connect() as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def records_of(self, request_id: str) -> int | None:
        """How many records a logged request had, or None when it is not in the log."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT MAX(idx) FROM predictions WHERE request_id = ?", (request_id,)
            ).fetchone()
        return None if row is None or row[0] is None else int(row[0]) + 1

    def frame(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        """Run a read query into a frame."""
        with self.connect() as conn:
            return pd.read_sql_query(sql, conn, params=list(params))

    def predictions(
        self, *, since: float | None = None, challenger_version: int | None = None
    ) -> pd.DataFrame:
        """Answered records joined with their labels (NaN until feedback arrives)."""
        sql = (
            "SELECT p.*, f.label AS label, f.value AS value FROM predictions p "
            "LEFT JOIN feedback f ON f.request_id = p.request_id AND f.idx = p.idx WHERE 1=1"
        )
        params: list[Any] = []
        if since is not None:
            sql += " AND p.ts >= ?"
            params.append(since)
        if challenger_version is not None:
            sql += " AND p.challenger_version = ?"
            params.append(challenger_version)
        return self.frame(sql + " ORDER BY p.ts", params)

    def shadow_pairs(self, model_version: int, *, since: float | None = None) -> pd.DataFrame:
        """Served records paired with one shadow version's output on the same record."""
        sql = (
            "SELECT p.request_id, p.idx, p.ts, p.user_id, p.model_version AS champion_version, "
            "p.score AS champion_score, p.model_ms AS champion_ms, p.status AS champion_status, "
            "s.model AS shadow, s.model_version AS shadow_version, s.score AS shadow_score, "
            "s.model_ms AS shadow_ms, s.error AS shadow_error, f.label AS label, "
            "p.proba AS champion_proba, s.proba AS shadow_proba "
            "FROM shadows s JOIN predictions p ON p.request_id = s.request_id AND p.idx = s.idx "
            "LEFT JOIN feedback f ON f.request_id = s.request_id AND f.idx = s.idx "
            "WHERE s.model_version = ? AND p.variant = 'champion'"
        )
        params: list[Any] = [model_version]
        if since is not None:
            sql += " AND p.ts >= ?"
            params.append(since)
        return self.frame(sql + " ORDER BY p.ts", params)

    def assignments(self, experiment: str) -> list[tuple[str, str, str]]:
        """(user, arm, stratum) of every sticky assignment of an experiment, oldest first."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT user_id, arm, stratum FROM assignments WHERE experiment = ? ORDER BY ts",
                (experiment,),
            ).fetchall()
        return [(str(u), str(a), str(s)) for u, a, s in rows]

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Events, oldest first (optionally of one kind)."""
        sql, params = "SELECT ts, kind, detail FROM events", []
        if kind is not None:
            sql += " WHERE kind = ?"
            params.append(kind)
        with self.connect() as conn:
            rows = conn.execute(sql + " ORDER BY id", params).fetchall()
        return [{"ts": ts, "kind": k, "detail": json.loads(d)} for ts, k, d in rows]

    # ---- state (compare-and-set) --------------------------------------------------------
    def read_state(self, key: str) -> tuple[int, dict[str, Any]] | None:
        """(revision, document) of a state key, or None."""
        with self.connect() as conn:
            row = conn.execute("SELECT revision, value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else (int(row[0]), json.loads(row[1]))

    def write_state(self, key: str, value: Mapping[str, Any], expected_revision: int | None) -> int:
        """Write a state document if its revision is still ``expected_revision``.

        Args:
            key: The state's name (e.g. "rollout").
            value: The new JSON document.
            expected_revision: The revision the caller read; None when it read no document.

        Returns:
            The new revision, or -1 when someone else wrote in between (nothing written).
        """
        text = json.dumps(dict(value), default=str)
        now = time.time()
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT revision FROM state WHERE key = ?", (key,)).fetchone()
            current = None if row is None else int(row[0])
            if current != expected_revision:
                conn.execute("ROLLBACK")
                return -1
            revision = 1 if current is None else current + 1
            conn.execute(
                "INSERT OR REPLACE INTO state (key, revision, value, ts) VALUES (?,?,?,?)",
                (key, revision, text, now),
            )
            conn.execute("COMMIT")
        return revision

    def add_event(self, kind: str, detail: Mapping[str, Any]) -> None:
        """Record an event synchronously (for callers outside the request path)."""
        with self.connect() as conn:
            conn.execute(INSERT_EVENT, (time.time(), kind, json.dumps(dict(detail), default=str)))
