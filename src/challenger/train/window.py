"""The training window: what a retrain trains and judges on, and the holdout split."""

from __future__ import annotations

import numpy as np
import pandas as pd


def time_split(
    df: pd.DataFrame, holdout_fraction: float, timestamp: str | None, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split into (train, holdout); the holdout is the newest rows when a timestamp exists.

    Never validate on the past: with a timestamp, every holdout row is at least as new as
    every training row. Without one, a seeded random split.
    """
    n = len(df)
    n_hold = max(1, round(n * holdout_fraction))
    if timestamp and timestamp in df.columns:
        ordered = df.sort_values(timestamp, kind="stable", ignore_index=True)
        return ordered.iloc[: n - n_hold].reset_index(drop=True), ordered.iloc[
            n - n_hold :
        ].reset_index(drop=True)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(n)
    return df.iloc[idx[n_hold:]].reset_index(drop=True), df.iloc[idx[:n_hold]].reset_index(
        drop=True
    )


def labelled_rows(df: pd.DataFrame, target: str) -> pd.DataFrame:
    """The rows whose label has arrived."""
    if target not in df.columns:
        return df.iloc[0:0]
    return df[df[target].notna()]
