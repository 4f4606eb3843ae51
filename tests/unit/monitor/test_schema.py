"""Schema changes between the champion's training data and a batch."""

from __future__ import annotations

import numpy as np

from challenger.config import Settings
from challenger.demo.simulator import simulate_batch
from challenger.monitor.schema import schema_changes

SETTINGS = Settings()


def test_schema_changes_name_what_changed() -> None:
    reference = simulate_batch(0, 200, 7)
    current = simulate_batch(1, 200, 7).assign(promo_code="X1").drop(columns=["default"])
    current["open_accounts"] = current["open_accounts"].astype(str)
    current.loc[current.index[:3], "channel"] = "crypto_exchange"

    changes = schema_changes(reference, current, SETTINGS)

    assert changes == (
        "new column(s) 'promo_code'",
        "column 'open_accounts' changed type from number to object",
        "column 'channel' has new categories 'crypto_exchange'",
    )  # a missing target is not a change: labels come later
    empty = simulate_batch(1, 200, 7).assign(income=np.nan)
    assert schema_changes(reference, empty, SETTINGS) == ("column 'income' has no values",)
    same = simulate_batch(2, 200, 7)
    same["age"] = same["age"].astype("int64")  # integers and floats are both numbers
    assert schema_changes(reference, same, SETTINGS) == ()
