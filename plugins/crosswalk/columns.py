"""A function over a column, computed once per distinct value: how per-value rules (a transform, a CSV
cell's text) run at set speed while staying exactly the rule they are.

Where equal values are identical values (a column of only strings, only dates, only integers or only
booleans) the values themselves are the key. In any other column (floats, where ``-0.0 == 0.0``;
decimals, where ``1.0 == 1.00``; mixed types, where ``1 == True``) equal values can print differently,
so the key is each value's type and ``repr``, which tell them apart. Either way the result is the plain
loop's, value for value.
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
        # Equal is not identical here, but the type and the repr together are: Decimal('1.0') and
        # Decimal('1.00'), 0.0 and -0.0, 1 and True each have their own. Share by that key instead.
        keys = np.fromiter((f"{type(v).__qualname__}\x1f{v!r}" for v in values), dtype=object, count=len(values))
        codes, _ = pd.factorize(keys)
        first = np.unique(codes, return_index=True)[1]  # where each key first appears
        return _each(values[first], fn)[codes] if len(values) else np.empty(0, dtype=object)
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
