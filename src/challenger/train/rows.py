"""A served pipeline's preprocessing in plain numpy, for the few rows of one request.

scikit-learn's ColumnTransformer costs about 3 ms a call however few rows it gets (pandas
column selection, each step's input validation, output wrapping); a request has one row,
and the model after it needs a few microseconds. For the pipelines challenger trains
(``challenger.train.pipeline.build_pipeline``: median imputation and standard scaling of the
numeric columns, mode imputation and one-hot encoding of the categorical ones) the fitted
parameters are applied directly: the same arithmetic on the same columns in the same order,
then the pipeline's own final estimator.

``compile_rows`` checks the result equals the pipeline's own transform on probe rows (every
category, an unknown one, a missing number) before it is used, and returns the pipeline
unchanged for anything else (another structure, a numeric column that was empty in
training). A request with a missing categorical value goes through scikit-learn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["RowPipeline", "compile_rows"]

_STEPS = (("impute", "median"), ("scale", None)), (("impute", "most_frequent"), ("onehot", None))


class RowPipeline:
    """A fitted ``build_pipeline`` Pipeline whose preprocessing runs in numpy.

    It answers ``predict_proba``, ``predict`` and ``classes_`` as the pipeline does; what it
    cannot transform itself (a missing categorical value) it hands to the pipeline.
    """

    def __init__(self, pipeline: Any) -> None:
        pre, self.estimator = pipeline.named_steps["preprocess"], pipeline.named_steps["model"]
        self.pipeline = pipeline
        by_name = {name: (steps, list(cols)) for name, steps, cols in pre.transformers_}
        num_steps, self.numeric = by_name.get("numeric", (None, []))
        cat_steps, self.categorical = by_name.get("categorical", (None, []))
        if self.numeric:
            imp, scale = num_steps.named_steps["impute"], num_steps.named_steps["scale"]
            self.fill = np.asarray(imp.statistics_, dtype=np.float64)
            self.mean = np.asarray(scale.mean_, dtype=np.float64)
            self.scale = np.asarray(scale.scale_, dtype=np.float64)
        if self.categorical:
            self.codes = [
                {_key(v): i for i, v in enumerate(cats)}
                for cats in cat_steps.named_steps["onehot"].categories_
            ]
            self.widths = [len(c) for c in self.codes]
            self.offsets = np.cumsum([0, *self.widths[:-1]]).tolist()

    @property
    def classes_(self) -> Any:
        return self.pipeline.classes_

    def transform(self, X: pd.DataFrame) -> np.ndarray | None:
        """The preprocessed rows, or None when a categorical value is missing."""
        n = len(X)
        blocks: list[np.ndarray] = []
        if self.numeric:
            num = np.empty((n, len(self.numeric)), dtype=np.float64)
            for j, col in enumerate(self.numeric):
                num[:, j] = X[col].to_numpy(dtype=np.float64, na_value=np.nan)
            missing = np.isnan(num)
            if missing.any():
                num = np.where(missing, self.fill, num)
            blocks.append((num - self.mean) / self.scale)
        if self.categorical:
            hot = np.zeros((n, sum(self.widths)), dtype=np.float64)
            for j, col in enumerate(self.categorical):
                codes, at = self.codes[j], self.offsets[j]
                for i, v in enumerate(X[col].tolist()):
                    if v is None or (isinstance(v, float) and math.isnan(v)):
                        return None
                    code = codes.get(_key(v))
                    if code is not None:
                        hot[i, at + code] = 1.0
            blocks.append(hot)
        return blocks[0] if len(blocks) == 1 else np.hstack(blocks)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        rows = self.transform(X)
        if rows is None:
            return np.asarray(self.pipeline.predict_proba(X))
        return np.asarray(self.estimator.predict_proba(rows))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        rows = self.transform(X)
        if rows is None:
            return np.asarray(self.pipeline.predict(X))
        return np.asarray(self.estimator.predict(rows))


def _key(value: Any) -> Any:
    """A category as a dict key: numpy scalars as Python ones (np.str_("a") == "a")."""
    return value.item() if isinstance(value, np.generic) else value


def _shape_of(pipeline: Any) -> bool:
    """Whether ``pipeline`` is exactly what ``build_pipeline`` makes, fitted."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if not isinstance(pipeline, Pipeline) or [n for n, _ in pipeline.steps] != [
        "preprocess",
        "model",
    ]:
        return False
    pre = pipeline.named_steps["preprocess"]
    if not isinstance(pre, ColumnTransformer) or not hasattr(pre, "transformers_"):
        return False
    if pre.sparse_threshold and getattr(pre, "sparse_output_", False):
        return False
    for name, steps, cols in pre.transformers_:
        if name == "remainder":
            if steps != "drop" and len(cols):
                return False
            continue
        if name not in ("numeric", "categorical") or not isinstance(steps, Pipeline):
            return False
        want = _STEPS[0] if name == "numeric" else _STEPS[1]
        if [n for n, _ in steps.steps] != [w[0] for w in want]:
            return False
        imp = steps.named_steps["impute"]
        if imp.strategy != want[0][1] or imp.add_indicator or not _nan_missing(imp):
            return False
    steps = {name: fitted for name, fitted, _ in pre.transformers_}
    num = steps.get("numeric")
    if num is not None:
        scale = num.named_steps["scale"]
        if not (scale.with_mean and scale.with_std):
            return False
        if np.isnan(np.asarray(num.named_steps["impute"].statistics_, dtype=float)).any():
            return False  # a column empty in training: sklearn drops it
    cat = steps.get("categorical")
    if cat is not None:
        hot = cat.named_steps["onehot"]
        if hot.drop is not None or hot.handle_unknown != "ignore" or hot.sparse_output:
            return False
        if getattr(hot, "_infrequent_enabled", False):
            return False
    return True


def _nan_missing(imputer: Any) -> bool:
    v = imputer.missing_values
    return isinstance(v, float) and math.isnan(v)


def _probe(pipeline: Any, compiled: RowPipeline) -> pd.DataFrame:
    """Rows that exercise every fitted value: each category (and an unknown one), numbers
    about the training mean and a missing one."""
    n = max([3, *[w + 1 for w in getattr(compiled, "widths", [])]])
    cols: dict[str, Any] = {}
    for j, col in enumerate(compiled.numeric):
        vals = compiled.mean[j] + compiled.scale[j] * np.linspace(-2.0, 2.0, n)
        vals[-1] = np.nan
        cols[col] = vals
    pre = pipeline.named_steps["preprocess"]
    cats: Sequence[Any] = (
        pre.named_transformers_["categorical"].named_steps["onehot"].categories_
        if compiled.categorical
        else ()
    )
    for col, known in zip(compiled.categorical, cats, strict=True):
        values = [_key(v) for v in known]
        row = [values[i % len(values)] for i in range(n - 1)] + [_unseen(values)]
        cols[col] = pd.Series(row, dtype=known.dtype)
    return pd.DataFrame(cols, columns=list(pipeline.feature_names_in_))


def _unseen(values: list[Any]) -> Any:
    """A category outside ``values`` of their kind (a seen one when none can be made)."""
    if all(isinstance(v, str) for v in values):
        return "\x00unseen"
    numbers = [v for v in values if isinstance(v, int | float)]
    return max(numbers) + 1 if numbers else values[0]


def compile_rows(pipeline: Any) -> Any:
    """``pipeline`` as a :class:`RowPipeline` when it is a fitted ``build_pipeline`` whose
    numpy transform matches scikit-learn's on probe rows; otherwise ``pipeline`` itself."""
    try:
        if not _shape_of(pipeline) or not hasattr(pipeline, "feature_names_in_"):
            return pipeline
        compiled = RowPipeline(pipeline)
        probe = _probe(pipeline, compiled)
        ours = compiled.transform(probe)
        theirs = np.asarray(pipeline.named_steps["preprocess"].transform(probe), dtype=float)
    except Exception:  # anything unexpected: scikit-learn's own path, as before
        return pipeline
    if ours is None or ours.shape != theirs.shape or not np.allclose(ours, theirs, 1e-12, 0.0):
        return pipeline
    return compiled
