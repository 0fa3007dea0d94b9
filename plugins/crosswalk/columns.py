"""A function over a column, computed once per distinct value: how per-value rules (a transform, a CSV
cell's text) run at set speed while staying exactly the rule they are.

Only where equal values are identical values is the work shared: a column of only strings, only dates,
only integers or only booleans. In any other column (floats, where ``-0.0 == 0.0``; decimals, where
``1.0 == 1.00``; mixed types, where ``1 == True``) equal values can print differently, so the function
runs on every value, as it would in a plain loop. Either way the result is the loop's, value for value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

_SHAREABLE = frozenset({"string", "date", "integer", "boolean", "empty"})


def per_distinct(
    series: pd.Series | np.ndarray, fn: Callable[[Any], Any], *, keeps_strings: bool = False
) -> np.ndarray:
    """``[fn(v) for v in series]`` as an object array, with ``fn`` called once per distinct value where that
    gives the same result (see the module's note). Missing values (None, NaN, NA, NaT) each get ``fn`` of
    themselves. ``keeps_strings``: the caller vouches that ``fn`` returns a string as it is, so a column of
    only strings needs no call at all but on its missing values."""
    values = series.to_numpy(dtype=object) if isinstance(series, pd.Series) else np.asarray(series, dtype=object)
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind not in _SHAREABLE:
        return _each(values, fn)
    if keeps_strings and kind == "string":
        out = values.copy()
        missing = pd.isna(values)
        if missing.any():
            out[missing] = _each(values[missing], fn)
        return out
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    out = _each(uniques, fn)[np.maximum(codes, 0)] if len(uniques) else np.empty(len(values), dtype=object)
    missing = codes < 0
    if missing.any():
        out[missing] = _each(values[missing], fn)
    return out


def _each(values, fn: Callable[[Any], Any]) -> np.ndarray:
    """``fn`` of each value, as a one-dimensional object array (whatever ``fn`` returns, tuples included)."""
    return np.fromiter((fn(v) for v in values), dtype=object, count=len(values))
