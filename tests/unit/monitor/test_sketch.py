"""The sketch path agrees with the exact fast engine on seeded data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from challenger.monitor.drift.fast import fast_drifts
from challenger.monitor.drift.result import DriftKind
from challenger.monitor.drift.sketch import (
    LEVELS,
    ColumnSketch,
    sketch_drifts,
    sketch_frame,
)


def _frames(seed: int, n: int) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, DriftKind]]:
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame(
        {
            "same": rng.normal(size=n),
            "shifted": rng.normal(size=n),
            "few": rng.integers(0, 3, size=n).astype(float),
            "cat": rng.choice(list("abc"), size=n, p=[0.5, 0.3, 0.2]),
        }
    )
    cur = pd.DataFrame(
        {
            "same": rng.normal(size=n),
            "shifted": rng.normal(0.5, 1.0, size=n),
            "few": rng.integers(0, 3, size=n).astype(float),
            "cat": rng.choice(list("abc"), size=n, p=[0.3, 0.3, 0.4]),
        }
    )
    cur.loc[::50, "same"] = np.nan
    kinds: dict[str, DriftKind] = {
        "same": "numeric",
        "shifted": "numeric",
        "few": "numeric",
        "cat": "categorical",
    }
    return ref, cur, kinds


@pytest.mark.parametrize(
    "n", [400, 3000]
)  # K-S / chi-square below 1000 rows, Wasserstein / JS above
def test_sketch_verdicts_match_the_exact_engine(n: int) -> None:
    ref, cur, kinds = _frames(7, n)
    methods: dict[str, str | None] = dict.fromkeys(kinds)
    thresholds: dict[str, float | None] = dict.fromkeys(kinds)
    exact = fast_drifts(ref, cur, kinds, methods, thresholds)
    sketched = sketch_drifts(sketch_frame(ref, kinds), cur, kinds, methods, thresholds)
    for column in kinds:
        e, s = exact[column], sketched[column]
        assert s.method == e.method
        assert s.drifted == e.drifted, column
        assert s.p_test == e.p_test
        assert s.effect == pytest.approx(e.effect, abs=2 / LEVELS + 2 / n)
    assert [c for c, d in sketched.items() if d.drifted] == ["shifted", "cat"]
    # counts are sufficient: the counted columns' scores are the exact ones
    for column in ("few", "cat"):
        assert sketched[column].score == pytest.approx(exact[column].score, rel=1e-9)


def test_wasserstein_from_grids_is_close_to_exact() -> None:
    ref, cur, kinds = _frames(3, 5000)
    kinds = {"shifted": "numeric"}
    exact = fast_drifts(ref, cur, kinds, {"shifted": None}, {"shifted": None})["shifted"]
    sketched = sketch_drifts(
        sketch_frame(ref, kinds), cur, kinds, {"shifted": None}, {"shifted": None}
    )
    assert sketched["shifted"].score == pytest.approx(exact.score, abs=0.01)


def test_sketch_round_trips_through_json_shapes() -> None:
    ref, _, kinds = _frames(1, 200)
    for column, sketch in sketch_frame(ref, kinds).items():
        assert ColumnSketch.from_dict(sketch.to_dict()) == sketch, column


def test_vectorised_quantiles_equal_numpy_quantile() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(500, 3)), columns=list("xyz"))
    frame.iloc[::7, 1] = np.nan
    sketches = sketch_frame(frame, dict.fromkeys("xyz", "numeric"))
    for column in "xyz":
        values = frame[column].dropna().to_numpy()
        expected = np.quantile(values, np.linspace(0, 1, LEVELS))
        np.testing.assert_allclose(sketches[column].quantiles, expected, rtol=1e-12)
        assert sketches[column].n == values.size
        assert sketches[column].std == pytest.approx(float(np.std(values)))


def test_payload_survives_json_and_old_payloads_fall_back() -> None:
    import json

    from challenger.monitor.drift.sketch import read_payload, sketch_payload

    ref, cur, kinds = _frames(5, 1500)
    payload = json.loads(json.dumps(sketch_payload(ref), default=str))
    stored = read_payload(payload)
    assert stored is not None
    assert stored == sketch_frame(ref, kinds)
    nones: dict[str, None] = dict.fromkeys(kinds)
    assert sketch_drifts(stored, cur, kinds, nones, nones)["cat"].drifted
    assert read_payload(None) is None  # a champion registered before sketches: use the rows
    assert read_payload({**payload, "levels": 11}) is None
