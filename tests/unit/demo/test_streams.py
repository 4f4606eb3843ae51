"""The labelled streams with a known change point (benchmark and tests)."""

from __future__ import annotations

import pandas as pd
import pytest

from challenger.demo.streams import CATEGORICAL, ID, NUMERIC, TARGET, TIMESTAMP, Stream


def test_batches_repeat_exactly_and_hold_coded_categories() -> None:
    stream = Stream(seed=3, rows=200)
    first = stream.batch(4)
    pd.testing.assert_frame_equal(first, stream.batch(4))
    assert list(first.columns) == [ID, TIMESTAMP, *NUMERIC, *CATEGORICAL, TARGET]
    assert all(first[c].dtype == "int64" for c in CATEGORICAL)  # integer codes, as CSVs give
    assert first[ID].is_unique and first[TIMESTAMP].is_monotonic_increasing
    assert not first.equals(stream.batch(5))


@pytest.mark.parametrize("source", ["synthetic", "breast_cancer"])
def test_only_the_changed_part_moves(source: str) -> None:
    kw = {"change_at": 2, "seed": 1, "source": source, "rows": 4000}
    before = Stream("none", **kw).batch(2)  # type: ignore[arg-type]
    covariate = Stream("covariate", **kw).batch(2)  # type: ignore[arg-type]
    concept = Stream("concept", **kw).batch(2)  # type: ignore[arg-type]

    assert not Stream("covariate", **kw).changed(1) and Stream("covariate", **kw).changed(2)  # type: ignore[arg-type]
    assert abs(covariate["x0"].mean() - before["x0"].mean()) > 0.2 * before["x0"].std()
    pd.testing.assert_frame_equal(concept[list(NUMERIC)], before[list(NUMERIC)])  # same inputs
    assert (concept[TARGET] != before[TARGET]).mean() > 0.1  # other labels


def test_a_threshold_shift_keeps_the_inputs_and_the_ranking() -> None:
    before = Stream("none", change_at=1, seed=2).batch(1)
    after = Stream("threshold", change_at=1, seed=2).batch(1)

    pd.testing.assert_frame_equal(after.drop(columns=[TARGET]), before.drop(columns=[TARGET]))
    assert ((after[TARGET] == 1) <= (before[TARGET] == 1)).all()  # only fewer positives
    assert 0.1 < before[TARGET].mean() - after[TARGET].mean() < 0.2  # about 14 % of decisions


def test_bad_streams_are_refused() -> None:
    with pytest.raises(ValueError, match="no threshold shift"):
        Stream("threshold", source="breast_cancer")
    with pytest.raises(ValueError, match="change is"):
        Stream("sideways")  # type: ignore[arg-type]
