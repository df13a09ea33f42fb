"""Synthetic hourly series with two seasons, a trend, noise and level shifts: known structure for tests and examples.

``load_prices("synthetic")`` serves ``two_period_series()`` with its defaults (seed 0): 52 weeks of hourly
values from Monday 2024-01-01, like a demand series with a daily and a weekly cycle. The weekly season is a
drop on the last two sevenths of each week (a weekend), not a sine: a sine can be extrapolated from a few
of its own points, a weekend cannot, so a window must hold a whole week (168 steps) to know when the next
one comes, which is the case where a long context should pay off.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster.errors import ForecasterError

# Where the default level shifts happen (fractions of the length) and by how much: one early in the training
# span, one inside the default 15 % test span, so that a level model cannot rely on the training range.
DEFAULT_SHIFTS = ((0.3, 2.0), (0.9, -2.0))
BASE_LEVEL = 10.0  # keeps every value positive at the default sizes, so log_return works too
LATE_FRACTION = 2 / 7  # the "weekend": the last two sevenths of each long period


def two_period_series(
    length: int = 52 * 168,
    *,
    periods: tuple[int, int] = (24, 168),
    amplitudes: tuple[float, float] = (1.0, 2.0),
    trend: float = 0.0005,
    noise: float = 0.25,
    level_shifts: tuple[tuple[int, float], ...] | None = None,
    seed: int = 0,
    start: str = "2024-01-01",
    freq: str = "h",
) -> pd.DataFrame:
    """A one-column frame ``value`` on a ``freq`` DatetimeIndex named ``date``; the same ``seed``, the same values.

    value(t) = BASE_LEVEL + trend * t + short season + long season + shifts + noise, with
    - the short season ``amplitudes[0] * sin(2 pi t / periods[0])``;
    - the long season ``amplitudes[1]`` lower on the last two sevenths of each ``periods[1]`` steps than on
      the rest, centred so that it averages zero over a period;
    - ``level_shifts``: (step, size) pairs, the level rising by ``size`` from ``step`` on (default: +2 at 30 %
      and -2 at 90 % of the length; ``()`` for none);
    - Gaussian noise of standard deviation ``noise``.
    """
    short, long = periods
    if length < 2 or short < 2 or long < 2:
        raise ForecasterError(f"two_period_series needs length >= 2 and periods >= 2 steps; got {length} and {periods}")
    if noise < 0:
        raise ForecasterError(f"two_period_series noise={noise} must be 0 or more (a standard deviation)")
    if level_shifts is None:
        level_shifts = tuple((int(fraction * length), size) for fraction, size in DEFAULT_SHIFTS)
    steps = np.arange(length)
    values = BASE_LEVEL + trend * steps
    values += amplitudes[0] * np.sin(2 * np.pi * steps / short)
    late = (steps % long) >= long * (1 - LATE_FRACTION)  # (L,) True on each period's "weekend"
    late_share = np.mean(np.arange(long) >= long * (1 - LATE_FRACTION))  # exactly 2/7 when 7 divides the period
    values += amplitudes[1] * (late_share - late)
    for step, size in level_shifts:
        if not 0 <= step < length:
            raise ForecasterError(f"level shift at step {step} is outside the series' {length} steps")
        values[step:] += size
    values += np.random.default_rng(seed).normal(0.0, noise, length)
    index = pd.date_range(start, periods=length, freq=freq, name="date").as_unit("us")  # as load_prices gives
    return pd.DataFrame({"value": values}, index=index)
