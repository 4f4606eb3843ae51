"""The batch store: reading and writing batch files, fingerprints, accepted batches.

Validated batches are kept as Parquet files under ``data.accepted_dir``; retraining assembles
its window from them (``challenger.train.window``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from challenger.errors import DataError

READABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def read_table(path: Path | str) -> pd.DataFrame:
    """Read a CSV or Parquet file.

    Raises:
        DataError: The file is missing, has an unknown suffix or cannot be parsed.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"data file {p} does not exist; check the path")
    if not p.is_file():
        raise DataError(f"data path {p} is not a file; pass a CSV or Parquet file")
    suffix = p.suffix.lower()
    if suffix not in READABLE_SUFFIXES:
        raise DataError(
            f"data file {p} has suffix {suffix!r}; use one of {', '.join(READABLE_SUFFIXES)}"
        )
    try:
        if suffix == ".csv":
            return pd.read_csv(p)
        return pd.read_parquet(p)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except Exception as exc:
        raise DataError(f"data file {p} cannot be read as {suffix[1:]}: {exc}") from exc


def write_table(df: pd.DataFrame, path: Path) -> Path:
    """Write a frame as Parquet (or CSV by suffix), atomically via a temporary file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix.lower() == ".csv":
        df.to_csv(tmp, index=False)
    else:
        df.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


def fingerprint(df: pd.DataFrame) -> str:
    """A short, order-sensitive content hash of a frame (columns, dtypes and values)."""
    h = hashlib.sha256()
    h.update("|".join(f"{c}:{t}" for c, t in df.dtypes.astype(str).items()).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------------------
# The store of accepted batches
# --------------------------------------------------------------------------------------


def accept_batch(df: pd.DataFrame, batch_id: str, accepted_dir: Path) -> Path:
    """Keep a validated batch in the store that retraining assembles from (idempotent)."""
    return write_table(df, accepted_dir / f"{batch_id}.parquet")


def accepted_batches(accepted_dir: Path) -> list[Path]:
    """Accepted batch files, oldest first (by name, which the store keeps sortable)."""
    if not accepted_dir.is_dir():
        return []
    return sorted(p for p in accepted_dir.glob("*.parquet") if not p.name.startswith("."))


def assemble_window(
    accepted_dir: Path, window_batches: int, timestamp: str | None
) -> tuple[pd.DataFrame, list[str]]:
    """Concatenate the newest ``window_batches`` accepted batches, ordered by time.

    Raises:
        DataError: No batch has been accepted yet.
    """
    files = accepted_batches(accepted_dir)
    if not files:
        raise DataError(
            f"no accepted batches in {accepted_dir}; run `challenger monitor --batch PATH` first "
            "or pass `challenger retrain --data PATH`"
        )
    chosen = files[-window_batches:]
    frame = pd.concat([read_table(p) for p in chosen], ignore_index=True)
    if timestamp and timestamp in frame.columns:
        frame = frame.sort_values(timestamp, kind="stable", ignore_index=True)
    return frame, [p.stem for p in chosen]
