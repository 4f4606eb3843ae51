"""What a column's values are, category text, and row hashes that ignore storage types."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from challenger.monitor.kinds import (
    collision_probability,
    row_hashes,
    value_kind,
)
from challenger.store.batches import as_text


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (pd.Series([1, 2, 3]), "integer codes"),
        (pd.Series([1.0, np.nan, 3.0]), "integer codes"),  # ints with a gap, as pandas reads them
        (pd.Series([1.5, 2.0]), "numbers"),
        (pd.Series(["1", "2"]), "strings"),
        (pd.Series([True, False]), "booleans"),
        (pd.Series([1, "a"], dtype=object), "mixed"),
        (pd.Series([None, None], dtype=object), "empty"),
        (pd.Series(pd.to_datetime(["2026-01-01"])), "timestamps"),
    ],
)
def test_value_kind(values: pd.Series, kind: str) -> None:
    assert value_kind(values) == kind


def test_codes_are_one_category_whatever_their_storage() -> None:
    as_int = as_text(pd.Series([3, 4]))
    as_float = as_text(pd.Series([3.0, np.nan, 4.0]))
    text = pd.Series(["3", "4"], dtype=object)
    assert list(as_int) == ["3", "4"] and list(as_float) == ["3", None, "4"]
    assert as_text(text) is text


def test_row_hashes_ignore_how_a_file_stored_a_column() -> None:
    a = pd.DataFrame({"x": [1, 2], "c": [3, 4]})
    b = pd.DataFrame({"x": [1.0, 2.0], "c": ["3", "4"]})
    c = pd.DataFrame({"x": [1.0, 2.5], "c": ["3", "4"]})
    assert (row_hashes(a, ["x"], ["c"]) == row_hashes(b, ["x"], ["c"])).all()
    assert (row_hashes(a, ["x"], ["c"]) != row_hashes(c, ["x"], ["c"])).tolist() == [False, True]


def test_collision_probability() -> None:
    assert collision_probability(np.array([1, 2, 3], dtype=np.uint64)) == 0.0
    assert collision_probability(np.array([1, 1], dtype=np.uint64)) == 1.0
    # 4 rows, one pair: 2 ordered pairs of 12 coincide
    assert collision_probability(np.array([1, 1, 2, 3], dtype=np.uint64)) == pytest.approx(2 / 12)
    assert collision_probability(np.array([], dtype=np.uint64)) == 0.0
