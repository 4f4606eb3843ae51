"""What a table holds: the task its target implies and the kind of every other column.

:func:`profile_table` reads a frame the way a careful person would before writing a
configuration: the target's values say binary (0/1), multiclass (a few labels) or regression
(numbers); a unique integer or string column named like an id is the id; a column of
parseable dates is the timestamp; numbers are numeric features, strings and integers with a
few values are categories; free text, constant, empty and row-number columns are ignored,
and each choice carries the reason it was made.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from challenger.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

Kind = Literal["id", "timestamp", "numeric", "categorical", "ignored"]
Task = Literal["binary", "multiclass", "regression"]

MAX_CLASSES = 50
"""A text or integer target with more distinct values than this is not learnt as classes."""
MAX_CATEGORIES = 50
"""A string column with more distinct values than this (or than half its rows) is free text."""
MAX_INT_CODES = 10
"""An integer column with 3 to this many distinct values is taken as integer-coded categories."""
MIN_ROWS = 67
"""Fewest labelled rows: 30 % of them must leave 20 holdout rows for the gate."""
MIN_CLASS_ROWS = 3
"""Fewest rows of a class: one for the holdout, two for cross-validation."""
MAX_NULL_SHARE = 0.5
"""A feature missing in more than this share of rows is ignored."""
PARSED_SHARE = 0.95
"""A text column is a timestamp when at least this share of its values parse as dates."""

_ID_NAME = re.compile(r"(^|[\W_])(id|uuid|guid|key)$|^(id|uuid)([\W_]|$)|[a-z]Id$|ID$", re.I)
_ROW_NUMBER_NAME = re.compile(r"^(unnamed: ?\d+|index|row|row_?(number|id|nr)|)$", re.I)
_TIME_NAME = re.compile(r"(time|date|^ts$|_ts$|_at$|timestamp|created|updated|day|month)", re.I)


@dataclass(frozen=True)
class ColumnProfile:
    """One column, its kind and why.

    Attributes:
        name: The column.
        kind: id, timestamp, numeric, categorical or ignored.
        why: Why this kind, one phrase (it becomes the comment in ``challenger.yaml``).
        null_share: Share of rows without a value.
        distinct: Distinct non-null values.
        low: Smallest value (numeric columns).
        high: Largest value (numeric columns).
        integer: Every value is a whole number (numeric columns).
    """

    name: str
    kind: Kind
    why: str
    null_share: float = 0.0
    distinct: int = 0
    low: float | None = None
    high: float | None = None
    integer: bool = False


@dataclass(frozen=True)
class TargetProfile:
    """The target column and the task its values imply.

    Attributes:
        name: The column.
        task: binary, multiclass or regression.
        why: Why this task, one phrase.
        labelled: Rows with a value.
        unlabelled: Rows without one.
        classes: Classification: the labels, sorted; None for a regression.
        smallest_class: Classification: rows of the rarest class.
        std: Regression: the target's standard deviation (the RMSE of predicting its mean).
    """

    name: str
    task: Task
    why: str
    labelled: int
    unlabelled: int
    classes: tuple[Any, ...] | None = None
    smallest_class: int | None = None
    std: float | None = None


@dataclass(frozen=True)
class Profile:
    """A table's target and columns, as a configuration is drawn from them."""

    rows: int
    target: TargetProfile
    columns: tuple[ColumnProfile, ...]
    warnings: tuple[str, ...] = field(default=())

    def names(self, kind: Kind) -> tuple[str, ...]:
        """The columns of one kind, in the file's order."""
        return tuple(c.name for c in self.columns if c.kind == kind)

    def column(self, name: str) -> ColumnProfile:
        """One column's profile."""
        return next(c for c in self.columns if c.name == name)

    @property
    def ignored(self) -> tuple[ColumnProfile, ...]:
        """Columns the configuration leaves out, each with its reason."""
        return tuple(c for c in self.columns if c.kind == "ignored")


def profile_table(frame: pd.DataFrame, target: str, task: Task | None = None) -> Profile:
    """Profile ``frame`` for a model of ``target``.

    Args:
        frame: The table (as :func:`challenger.store.batches.read_table` reads it).
        target: The column to predict.
        task: Force the task instead of inferring it from the target's values.

    Raises:
        DataError: The target does not exist or cannot be learnt (empty, constant, text with
            too many values, a class too rare), the table is too small, or no column is left
            to learn from.
    """
    if target not in frame.columns:
        import difflib

        close = difflib.get_close_matches(target, [str(c) for c in frame.columns], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        shown = ", ".join(map(str, frame.columns[:15])) + (
            " ..." if len(frame.columns) > 15 else ""
        )
        raise DataError(f"--target {target!r} is not a column of the data ({shown}){hint}")
    tp = _target(frame[target], target, task)
    warnings: list[str] = []
    if tp.unlabelled:
        warnings.append(
            f"{tp.unlabelled} of {len(frame)} rows have no value in {target!r}; training refuses "
            "unlabelled rows, so drop them from the file you train on (batches to monitor may "
            "leave the target empty)"
        )
    labelled = frame[frame[target].notna()]
    columns: list[ColumnProfile] = []
    for name in frame.columns:
        if name == target:
            continue
        columns.append(_column(frame[name], str(name), len(frame)))
    columns = _one_of_each(columns)
    columns = _drop_target_copies(columns, labelled, tp)
    if not any(c.kind in ("numeric", "categorical") for c in columns):
        why = "; ".join(f"{c.name}: {c.why}" for c in columns) or "the target is its only column"
        raise DataError(f"no column of the data can be a feature ({why}); add feature columns")
    ts = next((c for c in columns if c.kind == "timestamp"), None)
    if ts is not None and frame[ts.name].dtype == object and not _sorts_in_time(frame[ts.name]):
        warnings.append(
            f"timestamp {ts.name!r} is text that does not sort in time order (not ISO 8601, "
            "e.g. 2024-05-31 14:00:00); write it as ISO dates so that the holdout is the newest rows"
        )
    return Profile(len(frame), tp, tuple(columns), tuple(warnings))


def _target(y: pd.Series, name: str, task: Task | None) -> TargetProfile:
    import pandas as pd

    values = y.dropna()
    labelled, unlabelled = len(values), int(y.isna().sum())
    if labelled == 0:
        raise DataError(f"target {name!r} has no values; a model needs labelled rows")
    if values.nunique() < 2:
        raise DataError(
            f"target {name!r} has the single value {values.iloc[0]!r} in every labelled row; "
            "there is nothing to learn"
        )
    if labelled < MIN_ROWS:
        raise DataError(
            f"target {name!r} has {labelled} labelled rows; challenger needs at least {MIN_ROWS} "
            "(30 % of them are held out to judge the model on)"
        )
    if pd.api.types.is_datetime64_any_dtype(values):
        raise DataError(f"target {name!r} holds dates; predict a number or a label instead")
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if task is None:
        task, why = _infer_task(values, numeric)
    else:
        why = "as --task says"
    if task == "regression":
        if not numeric:
            raise DataError(
                f"target {name!r} holds text (e.g. {values.iloc[0]!r}); a regression needs numbers "
                "(leave --task out to learn its values as classes)"
            )
        std = float(np.std(values.to_numpy(dtype=float)))
        return TargetProfile(name, "regression", why, labelled, unlabelled, std=std)
    counts = values.value_counts()
    if len(counts) > MAX_CLASSES:
        raise DataError(
            f"target {name!r} has {len(counts)} distinct values, too many classes to learn "
            f"(at most {MAX_CLASSES}); is it an id or free text? (numbers: --task regression)"
        )
    if task == "binary" and not set(counts.index.tolist()) <= {0, 1}:
        raise DataError(
            f"target {name!r} holds {sorted(map(str, counts.index))[:5]}, not 0 and 1; a binary "
            "target must be 0/1 (leave --task out to learn the labels as classes)"
        )
    rare = counts[counts < MIN_CLASS_ROWS]
    if not rare.empty:
        label = rare.index[0]
        label = label.item() if isinstance(label, np.generic) else label
        raise DataError(
            f"class {label!r} of target {name!r} has {int(rare.iloc[0])} row(s); every "
            f"class needs at least {MIN_CLASS_ROWS} (holdout and cross-validation): drop or merge it"
        )
    classes = tuple(sorted(counts.index.tolist(), key=lambda v: (isinstance(v, str), v)))
    return TargetProfile(
        name, task, why, labelled, unlabelled, classes, smallest_class=int(counts.min())
    )


def _infer_task(values: pd.Series, numeric: bool) -> tuple[Task, str]:
    import pandas as pd

    uniq = values.unique()
    if pd.api.types.is_bool_dtype(values) or (numeric and set(uniq.tolist()) <= {0, 1}):
        return "binary", "its values are 0 and 1"
    if not numeric:
        return "multiclass", f"{len(uniq)} text labels"
    v = values.to_numpy(dtype=float)
    whole = bool(np.all(np.isfinite(v)) and np.all(v == np.round(v)))
    few = len(uniq) <= min(MAX_INT_CODES * 2, max(2, len(values) // 20))
    if whole and few:
        labels = ", ".join(f"{x:g}" for x in sorted(uniq.tolist())[:6])
        return "multiclass", f"{len(uniq)} whole-number labels ({labels})"
    return "regression", f"numbers with {len(uniq)} distinct values"


def _column(s: pd.Series, name: str, n: int) -> ColumnProfile:
    import pandas as pd

    values = s.dropna()
    null_share = 1.0 - len(values) / n if n else 0.0
    distinct = int(values.nunique())
    base: dict[str, Any] = {"null_share": null_share, "distinct": distinct}
    if not len(values):
        return ColumnProfile(name, "ignored", "empty: no value in any row", **base)
    if distinct == 1:
        return ColumnProfile(name, "ignored", f"constant: always {values.iloc[0]!r}", **base)
    if null_share > MAX_NULL_SHARE:
        return ColumnProfile(name, "ignored", f"mostly empty ({null_share:.0%} of rows)", **base)
    is_bool = pd.api.types.is_bool_dtype(values)
    is_int = pd.api.types.is_integer_dtype(values) and not is_bool
    is_num = pd.api.types.is_numeric_dtype(values) and not is_bool
    unique = distinct == len(values) and null_share == 0.0
    if unique and is_int and _ROW_NUMBER_NAME.match(name) and _consecutive(values):
        return ColumnProfile(name, "ignored", "a row number (0, 1, 2, ...), not a feature", **base)
    if unique and (is_int or values.dtype == object) and _ID_NAME.search(name):
        return ColumnProfile(name, "id", "unique in every row and named like an id", **base)
    if pd.api.types.is_datetime64_any_dtype(values):
        return ColumnProfile(name, "timestamp", "dates", **base)
    if values.dtype == object and _parses_as_dates(values):
        return ColumnProfile(name, "timestamp", "text that parses as dates", **base)
    if is_num:
        v = values.to_numpy(dtype=float)
        if not np.all(np.isfinite(v)):
            return ColumnProfile(name, "ignored", "holds infinite values", **base)
        whole = bool(np.all(v == np.round(v)))
        low, high = float(v.min()), float(v.max())
        if is_int and 3 <= distinct <= MAX_INT_CODES:
            codes = ", ".join(f"{x:g}" for x in sorted(np.unique(v))[:6])
            return ColumnProfile(
                name, "categorical", f"integer codes with {distinct} values ({codes}"
                + (", ..." if distinct > 6 else "") + "); move it to numeric if it is a count",
                **base,
            )  # fmt: skip
        return ColumnProfile(
            name, "numeric", _range_text(low, high, whole), low=low, high=high, integer=whole,
            **base,
        )  # fmt: skip
    if is_bool:
        return ColumnProfile(name, "categorical", "true/false", **base)
    if distinct > min(MAX_CATEGORIES, max(2, len(values) // 2)):
        why = "unique text, like an id" if distinct == len(values) else "free text"
        return ColumnProfile(name, "ignored", f"{why} ({distinct} distinct values)", **base)
    return ColumnProfile(name, "categorical", f"text with {distinct} values", **base)


def _range_text(low: float, high: float, whole: bool) -> str:
    kind = "whole numbers" if whole else "numbers"
    return f"{kind} from {low:.4g} to {high:.4g}"


def _consecutive(values: pd.Series) -> bool:
    v = np.sort(values.to_numpy(dtype=np.int64))
    return bool(v[0] in (0, 1) and np.all(np.diff(v) == 1))


def _parses_as_dates(values: pd.Series) -> bool:
    import pandas as pd

    sample = values.astype(str).head(500)
    if pd.to_numeric(sample, errors="coerce").notna().mean() > 0.5:
        return False  # numbers written as text are not dates
    if sample.str.len().min() < 6:
        return False
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "could not infer format" for mixed text
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= PARSED_SHARE)


def _sorts_in_time(values: pd.Series) -> bool:
    import warnings

    import pandas as pd

    text = values.dropna().astype(str)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(text, errors="coerce", format="mixed")
    by_text = parsed.iloc[np.argsort(text.to_numpy(), kind="stable")].dropna()
    return bool(by_text.is_monotonic_increasing)


def _one_of_each(columns: list[ColumnProfile]) -> list[ColumnProfile]:
    """One id and one timestamp (``data`` has room for one of each); the others are ignored."""
    out = list(columns)
    for kind, hint, label in (
        ("id", _ID_NAME, "another id"),
        ("timestamp", _TIME_NAME, "another timestamp"),
    ):
        found = [i for i, c in enumerate(out) if c.kind == kind]
        if len(found) < 2:
            continue
        keep = next((i for i in found if hint.search(out[i].name)), found[0])
        chosen = out[keep].name
        for i in found:
            if i != keep:
                c = out[i]
                out[i] = ColumnProfile(
                    c.name, "ignored", f"{label} ({chosen!r} is data.{'id_column' if kind == 'id' else 'timestamp'})",
                    c.null_share, c.distinct,
                )  # fmt: skip
    return out


def _drop_target_copies(
    columns: list[ColumnProfile], labelled: pd.DataFrame, tp: TargetProfile
) -> list[ColumnProfile]:
    """Features the leakage guard would refuse (they alone reproduce the target) are ignored."""
    from challenger.config import LeakageConfig
    from challenger.problem import encode_target
    from challenger.train.leakage import target_copy

    features = [c.name for c in columns if c.kind in ("numeric", "categorical")]
    if not features:
        return columns
    y = labelled[tp.name]
    if tp.task == "multiclass":
        y_codes = encode_target(y, "multiclass", tp.name, tp.classes)
    else:
        y_codes = encode_target(y, tp.task, tp.name)
    guard = LeakageConfig()
    found = {f.column for f in target_copy(labelled[features], y_codes, tp.task, guard)}
    out = []
    for c in columns:
        if c.name in found:
            c = ColumnProfile(
                c.name, "ignored",
                f"alone reproduces the target (association >= {guard.max_target_association:g}): "
                "probably derived from the label, which the leakage guard refuses",
                c.null_share, c.distinct,
            )  # fmt: skip
        out.append(c)
    return out


def nice_bounds(low: float, high: float, integer: bool, pad_share: float) -> tuple[float, float]:
    """A validation range around ``[low, high]``: padded by ``pad_share`` of its width, rounded
    outward to 3 significant digits (whole numbers for whole-number columns), and never below 0
    for a column that never is."""
    width = high - low
    pad = pad_share * width if width > 0 else max(abs(high) * pad_share, 1.0)
    lo, hi = low - pad, high + pad
    if low >= 0:
        lo = max(lo, 0.0)
    lo, hi = _round(lo, math.floor), _round(hi, math.ceil)
    if integer:
        lo, hi = float(math.floor(lo)), float(math.ceil(hi))
    return lo, hi


def _round(x: float, direction: Any) -> float:
    if x == 0:
        return 0.0
    digits = 3 - math.floor(math.log10(abs(x))) - 1
    scale = 10.0**digits
    return float(round(direction(x * scale) / scale, max(digits, 0)))
