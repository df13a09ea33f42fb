"""The target transforms: what a model forecasts in place of the series' values, and the way back.

Each transform is one small class that knows everything the rest of the package asks of it, so that no
other module compares transform names:

- ``name``: the name configs, checkpoints and result files record (``data.transform``);
- ``rows_lost``: raw rows the transform consumes (1 for differences: the first row has no previous value);
- ``centred``: whether the scaler centres the transformed values (levels only: a change of 0 must stay 0);
- ``differenced``: whether the model sees changes (what the naive forecasts' "no change" depends on);
- ``check(values, columns, dates)``: refuse values the transform cannot take, in one line;
- ``apply(values)``: (N, C) values -> transformed rows (N - rows_lost, C);
- ``invert(forecast, anchors)``: transformed forecasts (N, H) back to the series' units, cumulatively
  from each window's last level ``anchors`` (N,);
- ``to_change(values, anchors)`` and ``from_change(change, anchors)``: values in the series' units as
  changes from each window's last level and back, the space where prediction intervals are calibrated
  (``evaluation/conformal.py``): a log change for log-returns, a difference in the series' units otherwise;
- ``cumulative_to_series(values, anchors)``: a quantile head's outputs (the cumulative change to each
  step, or the level) back to the series' units.

A new transform is one class here and one line in ``TRANSFORMS``; ``data.transform``'s valid values and
the ``--transform`` choices follow the registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
import pandas as pd

from forecaster.errors import ForecasterError


class Transform(Protocol):
    """What every target transform offers (see the module's docstring)."""

    name: str
    rows_lost: int
    centred: bool
    differenced: bool

    def check(self, values: np.ndarray, columns: Sequence[str], dates: pd.Index) -> None: ...

    def apply(self, values: np.ndarray) -> np.ndarray: ...

    def invert(self, forecast: np.ndarray, anchors: np.ndarray) -> np.ndarray: ...

    def to_change(self, values: np.ndarray, anchors: np.ndarray) -> np.ndarray: ...

    def from_change(self, change: np.ndarray, anchors: np.ndarray) -> np.ndarray: ...

    def cumulative_to_series(self, values: np.ndarray, anchors: np.ndarray) -> np.ndarray: ...


def _per_window(anchors: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``anchors`` (N,) shaped to broadcast against ``values`` (N, H, ...)."""
    return anchors.reshape((-1,) + (1,) * (values.ndim - 1))


@dataclass(frozen=True)
class LogReturn:
    """The log change from one step to the next: log(p(t) / p(t-1)); positive values only."""

    name: ClassVar[str] = "log_return"
    rows_lost: ClassVar[int] = 1
    centred: ClassVar[bool] = False
    differenced: ClassVar[bool] = True

    def check(self, values: np.ndarray, columns: Sequence[str], dates: pd.Index) -> None:
        """Refuse values <= 0 (their log is undefined), naming the columns, the count and the first date."""
        non_positive = (values <= 0).any(axis=1)
        if non_positive.any():
            named = [c for c, bad in zip(columns, (values <= 0).any(axis=0)) if bad]
            first = dates[non_positive][0]
            raise ForecasterError(
                f"transform log_return needs positive values, but {', '.join(map(repr, named))} has "
                f"{non_positive.sum()} value(s) <= 0 (first on {first.date() if hasattr(first, 'date') else first}); "
                "choose the diff or level transform instead (data.transform, or --transform)"
            )

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Rows 1..N-1: log(v(t)) - log(v(t-1)) per column."""
        return np.diff(np.log(values), axis=0)

    def invert(self, forecast: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """p(t+k) = p(t) * exp(r(t+1) + ... + r(t+k))."""
        return anchors[:, None] * np.exp(np.cumsum(forecast, axis=1))

    def to_change(self, values: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """The log change log(v / a)."""
        return np.log(values / _per_window(anchors, values))

    def from_change(self, change: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """a * exp(change)."""
        return _per_window(anchors, change) * np.exp(change)

    def cumulative_to_series(self, values: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """A quantile head's cumulative log change to each step, from ``anchors``, in the series' units."""
        return self.from_change(values, anchors)


@dataclass(frozen=True)
class Diff:
    """The change from one step to the next in the series' units: p(t) - p(t-1) (counts with zeros, signed values)."""

    name: ClassVar[str] = "diff"
    rows_lost: ClassVar[int] = 1
    centred: ClassVar[bool] = False
    differenced: ClassVar[bool] = True

    def check(self, values: np.ndarray, columns: Sequence[str], dates: pd.Index) -> None:
        """Every value is allowed."""

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Rows 1..N-1: v(t) - v(t-1) per column."""
        return np.diff(values, axis=0)

    def invert(self, forecast: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """p(t+k) = p(t) + d(t+1) + ... + d(t+k)."""
        return anchors[:, None] + np.cumsum(forecast, axis=1)

    def to_change(self, values: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """v - a."""
        return values - _per_window(anchors, values)

    def from_change(self, change: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """a + change."""
        return _per_window(anchors, change) + change

    def cumulative_to_series(self, values: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """A quantile head's cumulative change to each step, from ``anchors``, in the series' units."""
        return self.from_change(values, anchors)


@dataclass(frozen=True)
class Level:
    """The values themselves, centred and scaled like any input; no row lost."""

    name: ClassVar[str] = "level"
    rows_lost: ClassVar[int] = 0
    centred: ClassVar[bool] = True
    differenced: ClassVar[bool] = False

    def check(self, values: np.ndarray, columns: Sequence[str], dates: pd.Index) -> None:
        """Every value is allowed."""

    def apply(self, values: np.ndarray) -> np.ndarray:
        """All N rows, a copy."""
        return values.copy()

    def invert(self, forecast: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """The forecast is the level: a copy, ``anchors`` unused."""
        return forecast.copy()

    def to_change(self, values: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """v - a: the absolute error is the same as on levels, and the random walk's intervals (around the last
        value) are the same formula for every transform."""
        return values - _per_window(anchors, values)

    def from_change(self, change: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """a + change."""
        return _per_window(anchors, change) + change

    def cumulative_to_series(self, values: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """A quantile head on levels forecasts the level: the values as floats, ``anchors`` unused."""
        return np.array(values, dtype=float)


# Name -> transform, in the order errors and choices list them (the first is data.transform's default).
TRANSFORMS: dict[str, Transform] = {transform.name: transform for transform in (LogReturn(), Diff(), Level())}
TRANSFORM_NAMES = tuple(TRANSFORMS)  # data.transform's type is Literal[TRANSFORM_NAMES]


def transform_named(name: str) -> Transform:
    """The transform called ``name``; one line listing the valid names for any other."""
    try:
        return TRANSFORMS[name]
    except (KeyError, TypeError):
        raise ForecasterError(f"unknown transform {name!r}; valid transforms: {', '.join(TRANSFORMS)}") from None
