"""A long table's rows split into its series (``data/panel.read_long``): one stable sort of the whole table, each
series a slice of it, with the checks that need each series' own rows (a repeated time, a series of one row, a gap or a
date off the series' frequency, a missing integer step) and each series' frequency.

Integer time steps become the instants ``k`` seconds after 1970-01-01 (``STEP`` apart), their index named
``STEP_INDEX``.
"""

from __future__ import annotations

import collections

import numpy as np
import pandas as pd

from forecaster.data.calendar import inferred_frequency
from forecaster.data.features import frequency_offset
from forecaster.errors import ForecasterError

STEP_INDEX = "step"  # the index name of a series whose time column held integer steps
STEP = pd.Timedelta(seconds=1)  # what one integer step becomes on the pipeline's time axis, from 1970-01-01


def _refuse_repeats(table: pd.DataFrame, id_column: str, time_column: str) -> None:
    """An error naming the first (id, time) that has several rows, and its rows."""
    repeated = table.duplicated([id_column, time_column], keep=False).to_numpy()
    if repeated.any():
        first = table[repeated].iloc[0]
        rows = table.index[repeated & (table[id_column] == first[id_column]).to_numpy()
                           & (table[time_column] == first[time_column]).to_numpy()]
        raise ForecasterError(f"series {first[id_column]!r} has {len(rows)} rows for {_date(first[time_column])} "
                              f"(data rows {', '.join(str(row + 1) for row in rows)}); each ({id_column}, {time_column}) must "
                              "appear once")


def split_series(table: pd.DataFrame, id_column: str, time_column: str, inputs: list[str], steps: bool,
                 frequency: str | None = None):
    """Each series' frame by label (in the order of their first rows, each sorted by time) and, for dates, its frequency:
    one stable sort of the whole table, then each series a slice of it.

    ``frequency`` (``data.frequency``) given, every series' dates are checked against it (``_check_grid``) and nothing
    is inferred; ``rows``, they are not checked against any calendar.

    A series whose dates step by one constant gap of at most ``ONE_GAP_DAYS`` days has the frequency pandas infers for
    any series of that gap starting on the same weekday and time of day (no month, quarter or year rule can hold for
    it), found once per such gap; any other series (months, business days, a gap in its dates) has its own inferred
    (``_frequency``), with its errors."""
    codes, labels = pd.factorize(table[id_column], sort=False)  # in the order of their first rows, as groupby's
    times = table[time_column].to_numpy()
    if not steps:
        times = times.astype("datetime64[us]")
    order = np.lexsort((times, codes))  # stable: by series, then by time (each (id, time) is unique)
    counts = np.bincount(codes, minlength=len(labels))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    times, rows, values = times[order], table.index.to_numpy()[order], table[inputs].to_numpy(dtype="float64")[order]
    after = np.ones(len(times), dtype=bool)  # whether a row is its series' first, or later than the row before it
    after[1:] = (times[1:] > times[:-1]) | (codes[order][1:] != codes[order][:-1])
    if not after.all():
        _refuse_repeats(table, id_column, time_column)
    columns, axis = pd.Index(inputs), pd.DatetimeIndex(times, name="date") if not steps else None  # sliced per series
    single = np.flatnonzero(counts < 2)
    offset = frequency_offset(frequency) if frequency is not None else None
    gaps = _constant_gaps(times, starts, counts) if not steps else None
    fixed = _fixed_step(offset, times.dtype) if offset is not None else None
    frames, frequencies, found = {}, {}, {}
    for code, label in enumerate(labels):
        start, stop = starts[code], starts[code] + counts[code]
        if len(single) and code == single[0]:
            raise ForecasterError(f"series {label!r} has {counts[code]} row (data row {rows[start] + 1}); each series needs at "
                                  "least 2 dates (more than a window: context + horizon)")
        if steps:
            dates = _step_dates(times[start:stop], label, time_column)
        elif frequency is not None:
            dates = axis[start:stop]
            if offset is not None and not (fixed is not None and gaps[code] == fixed and offset.is_on_offset(dates[0])):
                _check_grid(dates, offset, label)
        else:
            dates = axis[start:stop]
            key = None if gaps[code] is None else (gaps[code], *_anchor(times[start]))
            if key is None:
                frequencies[label] = _frequency(dates, label)
            else:
                frequencies[label] = found[key] if key in found else found.setdefault(key, _frequency(dates, label))
        frames[label] = pd.DataFrame(values[start:stop], index=dates, columns=columns)
    return frames, frequencies


ONE_GAP_DAYS = 25  # two dates of a month rule (its starts, ends, first or last business days) are at least 26 days apart


def _constant_gaps(times: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> list[int | None]:
    """Each series' one gap between its sorted dates (an integer in the dates' unit) where it has at least three dates,
    all one gap apart, and the gap is at most ``ONE_GAP_DAYS`` days; None for any other series."""
    gaps: list[int | None] = [None] * len(counts)
    diffs = np.diff(times.astype("int64"))  # a series' own at starts[k] .. starts[k] + counts[k] - 2; starts[k] - 1 between two
    spanned = np.flatnonzero(counts >= 2)
    if len(spanned) == 0:
        return gaps
    low, high = diffs.copy(), diffs.copy()
    low[starts[1:] - 1], high[starts[1:] - 1] = np.iinfo(np.int64).max, np.iinfo(np.int64).min  # between series: no part
    low, high = np.minimum.reduceat(low, starts[spanned]), np.maximum.reduceat(high, starts[spanned])
    limit = np.timedelta64(ONE_GAP_DAYS, "D") // np.timedelta64(1, np.datetime_data(times.dtype)[0])
    for code, one_low, one_high in zip(spanned, low, high):
        if counts[code] >= 3 and one_low == one_high and 0 < one_low <= limit:
            gaps[code] = int(one_low)
    return gaps


def _fixed_step(offset, dtype) -> int | None:
    """``offset``'s one constant step in the unit of ``dtype`` (datetime64), None for a calendar rule (``MS``, ``B``)."""
    try:
        return int(pd.Timedelta(offset) // np.timedelta64(1, np.datetime_data(dtype)[0]))
    except (TypeError, ValueError):
        return None


def _check_grid(dates: pd.DatetimeIndex, offset, label: str) -> None:
    """An error naming the first date of a series off ``offset`` (``data.frequency``), else its first missing date."""
    frequency = offset.freqstr
    on = pd.date_range(dates[0], dates[-1], freq=offset) if offset.is_on_offset(dates[0]) else pd.DatetimeIndex([])
    off = dates[~dates.isin(on)]
    if len(off):
        raise ForecasterError(f"series {label!r} has dates off data.frequency={frequency}, the first {_date(off[0])}; give "
                              f"the series' frequency, or data.frequency=rows where the dates follow no calendar rule")
    absent = on.difference(dates)
    if len(absent):
        raise ForecasterError(f"series {label!r} misses {len(absent)} date(s) of data.frequency={frequency}, the first "
                              f"{_date(absent[0])}; add the rows (empty values are read by data.missing), or set "
                              "data.frequency=rows where each row is the next step (trading sessions)")


def _anchor(date: np.datetime64) -> tuple[int, int]:
    """What pandas' inferred frequency of evenly spaced dates reads of the first one: its weekday and its time of day."""
    stamp = pd.Timestamp(date)
    return stamp.weekday(), stamp.value - stamp.normalize().value


def _step_dates(steps, label: str, column: str) -> pd.DatetimeIndex:
    """A series' sorted integer steps as the pipeline's time axis (``STEP`` apart, from 1970-01-01); an error naming
    the first missing step."""
    jumps = (steps[1:] - steps[:-1]) != 1
    if jumps.any():
        before = int(steps[:-1][jumps][0])
        raise ForecasterError(f"series {label!r} misses {column} {before + 1} (it jumps from {before} to "
                              f"{int(steps[1:][jumps][0])}); integer {column} must count every step: add the rows "
                              "(empty values are read by data.missing)")
    return pd.DatetimeIndex(pd.Timestamp(0) + pd.to_timedelta(steps, unit="s")).as_unit("us").rename(STEP_INDEX)


def _frequency(dates: pd.DatetimeIndex, label: str) -> str | None:
    """The series' frequency as pandas infers it (from runs of three dates where a gap hides it), None for two dates;
    an error naming the first date missing, or the first off the frequency's grid."""
    if len(dates) < 3:
        return None
    frequency = inferred_frequency(dates)
    if frequency is None:
        steps = [inferred_frequency(dates[index:index + 3]) for index in range(min(len(dates) - 2, 500))]
        common = collections.Counter(step for step in steps if step is not None).most_common(1)
        if not common:
            raise ForecasterError(f"series {label!r} has no regular frequency pandas can infer from its dates "
                                  f"({_date(dates[0])}, {_date(dates[1])}, {_date(dates[2])}, ...)")
        frequency = common[0][0]
        grid = pd.date_range(dates[0], dates[-1], freq=frequency)
        absent = grid.difference(dates)
        if len(absent) and dates.isin(grid).all():
            raise ForecasterError(f"series {label!r} misses {len(absent)} date(s) of its frequency {frequency}, the first "
                                  f"{_date(absent[0])}; add the rows (empty values are read by data.missing), fill "
                                  "the gaps, or give data.frequency (rows: each row the next step, as trading sessions)")
        off = dates[~dates.isin(grid)]
        raise ForecasterError(f"series {label!r} has dates off its frequency {frequency}, the first {_date(off[0])}")
    return frequency


def _date(date: pd.Timestamp | int) -> str:
    """A date as YYYY-MM-DD, with the time when it has one (an integer step as itself)."""
    if not isinstance(date, pd.Timestamp):
        return f"step {date}"
    return date.strftime("%Y-%m-%d" if date == date.normalize() else "%Y-%m-%d %H:%M:%S")
