"""The batch store: reading and writing batch files, their dtypes, fingerprints, accepted batches.

Every batch is brought to the schema's dtypes once, by :func:`conform`, whatever file it came
from (a CSV keeps timestamps as text and integer-coded categories as integers, a Parquet file
keeps its own types): timestamps in UTC, categories and ids as text, numeric features as
floats. The monitor, the retrain's ``--data``, the release of a quarantined file and the join
of labels all read through it, so batches from different files always concatenate and compare.

Validated batches are kept as Parquet files under ``data.accepted_dir``, ordered by time:
by their newest timestamp, then by when they were accepted (never by file name). Retraining
assembles its window from the newest of them (``challenger.train.window``).
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from challenger.config import DataConfig
from challenger.errors import DataError

READABLE_SUFFIXES = (".csv", ".parquet", ".pq")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
WIDTH_EXPECTATION = "expect_column_integers_to_fit_in_64_bits"
_INTEGER_TEXT = re.compile(r"\s*[+-]?\d+\s*")
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%f"  # in UTC
UTC_NS = pd.DatetimeTZDtype("ns", "UTC")
_NEWEST = b"challenger.newest"  # Parquet metadata: the batch's newest timestamp
_ACCEPTED = b"challenger.accepted_at"  # Parquet metadata: when the batch was first accepted


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


def read_chunks(
    path: Path | str, columns: Sequence[str] | None = None, rows: int = 250_000
) -> Iterator[pd.DataFrame]:
    """A Parquet file as frames of at most ``rows`` rows (only ``columns``, default all), the
    dtypes as :func:`read_table` gives them: its memory is one chunk's, whatever the file's
    size. (pyarrow's ``pre_buffer``, on by default, keeps what it read ahead: off here.)"""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path, pre_buffer=False)
    wanted = None if columns is None else list(columns)
    for batch in pf.iter_batches(batch_size=rows, columns=wanted, use_threads=False):
        yield batch.to_pandas()


def parquet_columns(path: Path | str) -> list[str]:
    """The column names of a Parquet file, from its footer (no rows read)."""
    import pyarrow.parquet as pq

    return list(pq.read_schema(path).names)


def write_table(
    df: pd.DataFrame, path: Path, metadata: Mapping[bytes, bytes] | None = None
) -> Path:
    """Write a frame as Parquet (or CSV by suffix), atomically via a temporary file.

    ``metadata`` is added to a Parquet file's schema metadata.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix.lower() == ".csv":
        df.to_csv(tmp, index=False)
    elif metadata:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(df, preserve_index=False)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
        pq.write_table(table, tmp)
    else:
        df.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes (how a file is recognised after it was copied)."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def fingerprint(df: pd.DataFrame) -> str:
    """A short, order-sensitive content hash of a frame (columns, dtypes and values)."""
    h = hashlib.sha256()
    h.update("|".join(f"{c}:{t}" for c, t in df.dtypes.astype(str).items()).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------------------
# The schema's dtypes
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DtypeProblem:
    """Values no dtype of the schema can hold (an integer beyond 64 bits)."""

    column: str
    count: int
    message: str


@dataclass(frozen=True)
class Conformed:
    """A batch in the schema's dtypes, and the values that could not be brought there."""

    frame: pd.DataFrame
    problems: tuple[DtypeProblem, ...] = ()


def conform(frame: pd.DataFrame, data: DataConfig) -> Conformed:
    """Bring a batch (features, or a label file) to the schema's dtypes.

    * the timestamp: parsed, ``datetime64[ns, UTC]`` (a value without an offset is UTC);
    * categorical columns and the id: text, nulls kept (``2.0`` read from a CSV with gaps
      becomes ``"2"``, like the ``2`` of a file without gaps);
    * numeric features: ``float64``;
    * integers beyond the signed 64-bit range, in a numeric feature or the target, are
      reported as problems (validation fails the batch with them), never passed on.

    A column whose values do not all convert (text in a numeric column, an unparseable
    timestamp) is left as it is, so that validation names the bad values. Columns the
    schema does not know are kept unchanged. Idempotent.
    """
    if frame.columns.duplicated().any():
        return Conformed(frame)  # validation refuses duplicate columns by name
    replacements: dict[str, pd.Series] = {}
    problems: list[DtypeProblem] = []
    for column in frame.columns:
        series = frame[column]
        if column in data.numeric or column == data.target:
            wide = _too_wide(series)
            if wide is not None:
                problems.append(wide)
            if column in data.numeric:
                replacements[column] = _as_float(series)
        elif column in data.categorical or column == data.id_column:
            replacements[column] = as_text(series)
        elif column == data.timestamp:
            replacements[column] = as_time(series)
    changed = {c: s for c, s in replacements.items() if s is not frame[c]}
    out = frame.assign(**changed) if changed else frame
    return Conformed(out, tuple(problems))


def read_batch(path: Path | str, data: DataConfig) -> Conformed:
    """Read a batch or label file in the schema's dtypes (:func:`read_table`, :func:`conform`)."""
    return conform(read_table(path), data)


def as_text(series: pd.Series) -> pd.Series:
    """Each non-null value as text, nulls as None; whole-number floats as integer text."""
    if series.dtype == object and pd.api.types.infer_dtype(series, skipna=True) in (
        "string",
        "empty",
    ):
        return series
    values = series
    if pd.api.types.is_float_dtype(series.dtype):
        finite = series.dropna()
        if len(finite) and bool(np.all(np.isfinite(finite))) and bool((finite % 1 == 0).all()):
            values = series.astype("Int64")
    mask = values.isna().to_numpy()
    strings = values.astype(str).to_numpy(dtype=object)
    strings[mask] = None
    return pd.Series(strings, index=series.index, name=series.name, dtype=object)


def as_time(series: pd.Series) -> pd.Series:
    """Timestamps as UTC ``datetime64[ns, UTC]``; unchanged if any value does not parse.

    One policy for every file: a value with an offset is converted to UTC, a value without
    one is taken to be UTC already.
    """
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series if series.dtype == UTC_NS else _to_ns(series.dt.tz_convert("UTC"))
    if pd.api.types.is_datetime64_dtype(series.dtype):
        return _to_ns(series.dt.tz_localize("UTC"))
    if pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return series  # a number is no time: validation says so, rather than a guessed epoch
    with warnings.catch_warnings():
        # pandas warns when it cannot infer one format and parses value by value.
        warnings.simplefilter("ignore", UserWarning)
        try:
            parsed = pd.to_datetime(series, errors="coerce", utc=True)
        except (TypeError, ValueError, OverflowError):
            return series
    if bool((series.notna() & parsed.isna()).any()):
        return series
    return _to_ns(parsed)


def _to_ns(series: pd.Series) -> pd.Series:
    try:
        return series.astype(UTC_NS)
    except (OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
        return series  # beyond nanosecond range (year 2262): keep the unit it came with


def _as_float(series: pd.Series) -> pd.Series:
    """Numbers as ``float64``; unchanged when a value is not a number (validation says so)."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return series
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series if series.dtype == np.float64 else series.astype("float64")
    if isinstance(series.dtype, pd.CategoricalDtype):
        series = series.astype(object)
    values = pd.to_numeric(series, errors="coerce")
    if bool((series.notna() & values.isna()).any()):
        return series
    return values.astype("float64")


def _too_wide(series: pd.Series) -> DtypeProblem | None:
    """The integers of a column that do not fit a signed 64-bit integer, as a problem."""
    if pd.api.types.is_unsigned_integer_dtype(series.dtype):
        values = series.dropna().astype("uint64")
        bad = values[values > INT64_MAX].tolist()
    elif series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
        bad = [v for v in series.dropna().tolist() if _beyond_int64(v)]
    else:
        return None
    if not bad:
        return None
    example = str(bad[0])
    shown = example if len(example) <= 24 else f"{example[:20]}… ({len(example)} digits)"
    return DtypeProblem(
        column=str(series.name),
        count=len(bad),
        message=(
            f"Column {series.name!r} failed {WIDTH_EXPECTATION} on {len(bad)} rows (integers "
            f"beyond the 64-bit range, e.g. {shown}); fix those values or write them as decimals."
        ),
    )


def _beyond_int64(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | np.integer):
        return not INT64_MIN <= int(value) <= INT64_MAX
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        return not INT64_MIN <= int(value) <= INT64_MAX
    return False


# --------------------------------------------------------------------------------------
# The store of accepted batches
# --------------------------------------------------------------------------------------


def _stamp(moment: datetime | pd.Timestamp) -> bytes:
    return moment.strftime(_TIME_FORMAT).encode()


def _metadata(path: Path) -> Mapping[bytes, bytes]:
    import pyarrow.parquet as pq

    try:
        return pq.read_schema(path).metadata or {}
    except Exception:  # an unreadable file sorts by its modification time; reading it fails later
        return {}


def accept_batch(
    df: pd.DataFrame, batch_id: str, accepted_dir: Path, timestamp: str | None = None
) -> Path:
    """Keep a validated batch in the store that retraining assembles from (idempotent).

    The file records the batch's newest ``timestamp`` and when it was first accepted, which
    order the store (:func:`accepted_batches`).
    """
    path = accepted_dir / f"{batch_id}.parquet"
    first = _metadata(path).get(_ACCEPTED) if path.exists() else None
    newest = b""
    if timestamp and timestamp in df.columns:
        latest = as_time(df[timestamp]).max()
        if isinstance(latest, pd.Timestamp) and not pd.isna(latest):
            newest = _stamp(latest)
    meta = {_NEWEST: newest, _ACCEPTED: first or _stamp(datetime.now(UTC))}
    return write_table(df, path, meta)


def rewrite_batch(df: pd.DataFrame, path: Path) -> Path:
    """Replace an accepted batch's rows (e.g. with labels), keeping its place in the order."""
    kept = {k: v for k, v in _metadata(path).items() if k.startswith(b"challenger.")}
    return write_table(df, path, kept)


def _order(path: Path, timestamp: str | None) -> tuple[str, str, str]:
    meta = _metadata(path)
    newest = meta.get(_NEWEST)
    if newest is None and timestamp:  # a batch accepted before the store kept its time
        try:
            column = pd.read_parquet(path, columns=[timestamp])[timestamp]
            latest = as_time(column).max()
            newest = _stamp(latest) if isinstance(latest, pd.Timestamp) else b""
        except Exception:
            newest = b""
    accepted = meta.get(_ACCEPTED) or _stamp(datetime.fromtimestamp(path.stat().st_mtime, UTC))
    return (newest or b"").decode(), accepted.decode(), path.name


def accepted_batches(accepted_dir: Path, timestamp: str | None = None) -> list[Path]:
    """Accepted batch files, oldest first.

    Ordered by each batch's newest timestamp, then by when it was accepted; batches without
    timestamps come first. ``timestamp`` names the column to read in batches accepted before
    the store recorded their time.
    """
    if not accepted_dir.is_dir():
        return []
    files = [p for p in accepted_dir.glob("*.parquet") if not p.name.startswith(".")]
    return sorted(files, key=lambda p: _order(p, timestamp))


def assemble_window(
    accepted_dir: Path, window_batches: int, data: DataConfig
) -> tuple[pd.DataFrame, list[str]]:
    """Concatenate the newest ``window_batches`` accepted batches, in the schema's dtypes, by time.

    Raises:
        DataError: No batch has been accepted yet, or one holds values no dtype can hold.
    """
    files = accepted_batches(accepted_dir, data.timestamp)
    if not files:
        raise DataError(
            f"no accepted batches in {accepted_dir}; run `challenger monitor --batch PATH` first "
            "or pass `challenger retrain --data PATH`"
        )
    chosen = files[-window_batches:]
    frames = []
    for path in chosen:
        batch = read_batch(path, data)
        if batch.problems:
            raise DataError(f"accepted batch {path}: {batch.problems[0].message}")
        frames.append(batch.frame)
    frame = pd.concat(frames, ignore_index=True)
    ts = data.timestamp
    if ts and ts in frame.columns and frame[ts].dtype == UTC_NS:
        frame = frame.sort_values(ts, kind="stable", ignore_index=True)
    return frame, [p.stem for p in chosen]
