"""What the dates give and what is known ahead: calendar channels, public holidays, and the inputs of each forecast step.

Calendar channels (hour of day, day of week, day of year as sine/cosine pairs) are computed from the dates
alone, so they hold no information about the target and are known for any future date: ``data.calendar``
puts them among the past window's channels, ``data.future_calendar`` among the inputs known ahead of each
forecast step (``FutureSpec``), beside ``data.future``'s columns, ``data.holidays``' public-holiday flag and a
global run's series identities. ``known_values`` reads the future columns of the dates being forecast.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecaster.errors import ForecasterError

CALENDAR = ("hour", "day_of_week", "day_of_year")
# The widest median spacing of dates at which each calendar feature still says something: hourly data has
# hours of the day, daily data days of the week, monthly data days of the year (12 of them), yearly none.
CALENDAR_SPACING = {"hour": pd.Timedelta(days=1), "day_of_week": pd.Timedelta(days=7), "day_of_year": pd.Timedelta(days=366)}
HOLIDAYS_PACKAGE = "holidays"
HOLIDAYS_HINT = "pip install 'forecaster[calendars]'"
# Preferred target columns, in order, when the user names none (Yahoo's layout).


@dataclass(frozen=True)
class FutureSpec:
    """The inputs known ahead of each forecast step, in channel order: ``columns``, then a sine and a cosine
    per ``calendar`` feature of the step's date, then one 0/1 channel "a public holiday in ``holidays``",
    then, for a global model with ``data.series_embedding``, one channel holding the series' index among ``series``
    (its labels; ``len(series)`` for a series not among them): a static covariate, the same at every step, that the
    model reads as a row of a learned embedding per series (``models/future.py``), not as a number."""

    columns: tuple[str, ...] = ()
    calendar: tuple[str, ...] = ()
    holidays: str | None = None
    series: tuple[str, ...] = ()

    @property
    def channels(self) -> int:
        """F: the number of future input channels."""
        return self.known_channels + bool(self.series)

    @property
    def known_channels(self) -> int:
        """The channels before the series identity: columns, calendar, holidays."""
        return len(self.columns) + 2 * len(self.calendar) + (self.holidays is not None)

    def identity(self, label: str | None, steps: int) -> np.ndarray:
        """The series-identity channel (steps, 1): ``label``'s index among ``series``, ``len(series)`` (the unknown
        series) for one not among them; (steps, 0) without series identities."""
        if not self.series:
            return np.zeros((steps, 0))
        index = self.series.index(label) if label in self.series else len(self.series)
        return np.full((steps, 1), float(index))

    def from_dates(self, dates: pd.DatetimeIndex) -> np.ndarray:
        """The channels computed from the dates alone (calendar, then holidays): (L, F - len(columns))."""
        channels = [np.empty((len(dates), 0))]
        if self.calendar:
            channels.append(calendar_features(dates, self.calendar, setting="data.future_calendar"))
        if self.holidays is not None:
            channels.append(holiday_flags(dates, self.holidays)[:, None])
        return np.hstack(channels)


def _dates_in_words(dates: pd.DatetimeIndex) -> str:
    """Dates in words, the first three of them: ``2024-01-02 00:00, 2024-01-02 01:00, ... (5 dates)``."""
    shown = ", ".join(f"{date:%Y-%m-%d %H:%M}".removesuffix(" 00:00") for date in dates[:3])
    return shown + (f", ... ({len(dates)} dates)" if len(dates) > 3 else "")


def known_values(known: pd.DataFrame | None, columns: tuple[str, ...], dates: pd.DatetimeIndex) -> np.ndarray:
    """The future ``columns`` of ``known`` on ``dates``, (H, len(columns)); one line naming what is missing."""
    needed = (f"give a row for each forecast date ({_dates_in_words(dates)}) with {', '.join(columns)} filled "
              "(forecaster forecast --future FILE.csv)")
    if known is None:
        raise ForecasterError(f"this model reads future input column(s) {', '.join(columns)} at the forecast dates; {needed}")
    absent = [name for name in columns if name not in known.columns]
    if absent:
        raise ForecasterError(f"the future inputs lack the column(s) {', '.join(absent)}; {needed}")
    table = known[~known.index.duplicated(keep="last")].reindex(dates)[list(columns)].apply(pd.to_numeric, errors="coerce")
    holes = table.isna().to_numpy()
    if holes.any():
        named = [name for name, hole in zip(columns, holes.any(axis=0)) if hole]
        raise ForecasterError(f"the future inputs lack {', '.join(named)} on {_dates_in_words(dates[holes.any(axis=1)])}; {needed}")
    return table.to_numpy(dtype=np.float64)


def holiday_flags(dates: pd.DatetimeIndex, country: str) -> np.ndarray:
    """1.0 where the date is a public holiday of ``country`` (the ``holidays`` package), else 0.0: (L,).

    A clear error when the package is not installed or does not know the country code.
    """
    try:
        package = importlib.import_module(HOLIDAYS_PACKAGE)
    except ImportError:
        raise ForecasterError(f"data.holidays={country!r} needs the holidays package: {HOLIDAYS_HINT}") from None
    if not len(dates):
        return np.zeros(0)
    years = range(int(dates.year.min()), int(dates.year.max()) + 1)
    try:
        calendar = package.country_holidays(country.upper(), years=years)
    except NotImplementedError:
        raise ForecasterError(
            f"data.holidays={country!r} is not a country code the holidays package knows (e.g. US, DE, GB, FR, CN); "
            "all of them: python -c 'import holidays; print(sorted(holidays.list_supported_countries()))'") from None
    days = pd.DatetimeIndex(sorted(calendar.keys()))
    return dates.normalize().isin(days).astype(np.float64)


def calendar_features(dates: pd.DatetimeIndex, names: tuple[str, ...], *, setting: str = "data.calendar") -> np.ndarray:
    """Sine and cosine of each named calendar position of ``dates``: (L, 2 * len(names)), from the dates alone.

    hour: the time of day over 24 h; day_of_week: Monday 0 .. Sunday 6 over 7; day_of_year: day 1.. over
    365 or 366 days. A sine/cosine pair puts the end of a cycle next to its start (23:00 next to 00:00),
    which one number from 0 to 23 would not. A feature that cannot vary at the series' spacing (the hour
    of daily data) is an error that names the ones that can (``setting`` names the option in errors).
    """
    spacing = pd.Series(dates).diff().median() if len(dates) > 1 else pd.Timedelta(0)
    usable = [name for name in CALENDAR if spacing < CALENDAR_SPACING[name]]
    channels = []
    for name in names:
        if name not in CALENDAR:
            raise ForecasterError(f"{setting} has unknown calendar feature {name!r}; valid: {', '.join(CALENDAR)}")
        if name == "hour":
            cycle = (dates.hour + dates.minute / 60) / 24
        elif name == "day_of_week":
            cycle = dates.day_of_week / 7
        else:
            cycle = (dates.day_of_year - 1) / np.where(dates.is_leap_year, 366, 365)
        cycle = np.asarray(cycle, dtype=np.float64)
        if name not in usable or np.ptp(cycle) == 0:
            apart = f"{spacing.days} day{'s' * (spacing.days != 1)}" if spacing % pd.Timedelta(days=1) == pd.Timedelta(0) else str(spacing)
            raise ForecasterError(
                f"{setting} has {name!r}, but dates {apart} apart carry no {name.replace('_', ' ')}; "
                f"valid for this series: {', '.join(usable) or 'none'}"
            )
        channels += [np.sin(2 * np.pi * cycle), np.cos(2 * np.pi * cycle)]
    return np.stack(channels, axis=1)  # (L, 2K)


def inferred_frequency(dates: pd.DatetimeIndex) -> str | None:
    """The frequency pandas infers from ``dates`` as an alias (``"MS"``, ``"h"``, ``"B"``), None where it finds none or
    there are fewer than three dates; the same with pandas before 3.1 (which returns text) and after (an offset, asked
    for so that pandas does not warn)."""
    if len(dates) < 3:
        return None
    try:
        with pd.option_context("future.infer_freq_returns_offset", True):
            found = pd.infer_freq(dates)
    except (KeyError, pd.errors.OptionError):  # pandas before 3.1 has no such option (OptionError is a KeyError)
        found = pd.infer_freq(dates)
    return None if found is None else getattr(found, "freqstr", found)
