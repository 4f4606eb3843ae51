"""The monitor's drift step: from the champion's sketch when it can decide, else from the rows."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from challenger.config import Settings
from challenger.monitor import assess
from challenger.monitor.drift.sketch import ReferenceSketch, sketch_payload

NUMERIC = ["a", "b", "codes"]
CATEGORICAL = ["c"]


def _settings(**drift: Any) -> Settings:
    return Settings.model_validate(
        {
            "data": {"numeric": NUMERIC, "categorical": CATEGORICAL, "target": "y"},
            "validation": {"ranges": {}},
            "gate": {"slices": []},
            "drift": drift,
        }
    )


def _frame(rng: np.random.Generator, n: int, shift: float) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "a": rng.normal(shift, 1.0, size=n),
            "b": rng.exponential(size=n),
            "codes": rng.integers(0, 4, size=n),
            "c": rng.choice(["x", "y", "z"], size=n, p=[0.5 - shift / 2, 0.3, 0.2 + shift / 2]),
        }
    )
    frame["y"] = (rng.random(n) < 0.3).astype(int)
    frame[assess.PREDICTION] = 1 / (1 + np.exp(-frame["a"]))
    return frame


def _payload(reference: pd.DataFrame) -> dict[str, Any]:
    rows = reference.drop(columns=[assess.PREDICTION])
    outputs = {"binary": reference[assess.PREDICTION].to_numpy()}
    return dict(json.loads(json.dumps(sketch_payload(rows, outputs), default=str)))


@pytest.mark.parametrize("shift", [0.0, 0.4])
def test_batch_drift_from_the_sketch_is_the_rows_decision(shift: float) -> None:
    rng = np.random.default_rng(4)
    reference, current = _frame(rng, 4000, 0.0), _frame(rng, 8000, shift)
    settings = _settings()
    stored = assess.drift_sketch(_payload(reference), settings)
    assert isinstance(stored, ReferenceSketch)
    sketched = assess.batch_drift(stored, current, settings, None)
    exact = assess.batch_drift(reference, current, settings, None)
    assert sketched is not None and exact is not None
    assert sketched.engine == "sketch" and exact.engine == "fast"
    verdicts = [(c.column, c.method, c.drifted, c.alarm) for c in exact.columns]
    assert [(c.column, c.method, c.drifted, c.alarm) for c in sketched.columns] == verdicts
    assert sketched.drifted_columns() == (("a", "c") if shift else ())
    assert sketched.prediction is not None and exact.prediction is not None
    assert sketched.prediction.drifted == exact.prediction.drifted
    assert sketched.target is not None and exact.target is not None
    assert sketched.target.score == pytest.approx(exact.target.score)


def test_the_rows_decide_when_the_sketch_cannot() -> None:
    rng = np.random.default_rng(4)
    payload = _payload(_frame(rng, 2000, 0.0))
    assert assess.drift_sketch(None, _settings()) is None  # registered before sketches
    assert assess.drift_sketch(payload, _settings()) is not None
    assert assess.drift_sketch(payload, _settings(engine="evidently")) is None
    # a binned test of a numeric column needs its rows
    assert assess.drift_sketch(payload, _settings(per_column_method={"a": "psi"})) is None
    # the counts of a column with few values carry it
    assert assess.drift_sketch(payload, _settings(per_column_method={"codes": "psi"})) is not None
    # no output of the model in the configured task's form
    assert assess.drift_sketch({**payload, "predictions": {}}, _settings()) is None
