"""Input frames and the target: column checks, the target transform (``data/transforms.py``), calendar channels
(``data/calendar.py``); pure functions.

The target is the next value(s) of one column (``data.column``) or of several (``data.targets``: a list,
or ``all`` for every numeric column). Every input column goes through the same transform as the targets
(a log-return of Volume is its log change), and the K target columns are always input channels 0..K-1,
so the naive forecasts can read them and each target shares its channel's scaling. Calendar channels (hour of
day, day of week, day of year as sine/cosine pairs) come last; they are computed from the dates alone and
never transformed, so they hold no information about the target and are known for any future date.

Inputs known AHEAD (``data.future``, ``data.future_calendar``, ``data.holidays``) are read at the forecast
steps instead: a window's future inputs are the rows of its H target steps (``PreparedSeries.future``,
(L, F)). Future columns are not transformed (a planned event or a published forecast is a value known
for that step, not a price to difference) and are scaled apart from the past channels (``runs/prepare.py``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from forecaster.data.calendar import FutureSpec, calendar_features
from forecaster.data.transforms import TRANSFORM_NAMES, Transform, transform_named
from forecaster.errors import ForecasterError

DEFAULT_TARGETS = ("Adj Close", "Close")
ROWS = "rows"  # data.frequency: each row is the next step, whatever the dates between them


def frequency_offset(frequency: str):
    """The pandas offset ``data.frequency`` names (None for ``rows``); an error naming what would be valid."""
    if frequency == ROWS:
        return None
    try:
        return pd.tseries.frequencies.to_offset(frequency)
    except ValueError:
        raise ForecasterError(f"data.frequency={frequency!r} is not a pandas frequency; use an alias such as D, B, W-SUN, MS, "
                              f"QS, YS or h, or {ROWS} (each row the next step, the dates not checked against a calendar)") from None


@dataclass(frozen=True)
class DataConfig:
    """Where the series comes from, which column is the target, extra input columns, the transform."""

    source: str | tuple[str, ...] = "sp500"
    """A bundled series name, a CSV path or a Yahoo ticker; a list trains one global model on all of them."""
    format: Literal["wide", "long"] = "wide"
    """`wide`: one series per source, a date column and one column per variable. `long`: `source` is one CSV or Parquet file
    of every series, a row per (series, time) as NeuralForecast takes it; one global model on its series. A single file with
    the id, time and value columns is read as long without this."""
    id_column: str = "unique_id"
    """A long table's series id column; each series' label (in the tables, `series`) is its id."""
    time_column: str = "ds"
    """A long table's date column."""
    frequency: str | None = None
    """A long table's frequency: a pandas alias (`D`, `B`, `W-SUN`, `MS`, `QS`, `YS`, `h`, ...) that every series' dates must
    follow, a missing date an error; `rows` for dates that follow no calendar rule (trading sessions, irregular sampling):
    each row is the next step and the dates only order them; `None`: inferred, and checked to be one for every series."""
    value_column: str = "y"
    """A long table's value column: each series' target unless `column` or `targets` name another column."""
    column: str | None = None
    """The one target column, not set with `targets`; `None` (and no `targets`): Adj Close, else Close, else the only column."""
    targets: str | tuple[str, ...] | None = None
    """Several target columns, each forecast at every step: a list (one name: as `column`), or `all` (every numeric column)."""
    features: tuple[str, ...] = ()
    """Extra input columns read beside the targets, each through the targets' transform."""
    transform: Literal[TRANSFORM_NAMES] = "log_return"
    """What the model forecasts: `log_return` (log change), `diff` (change in the series' units) or `level` (the values)."""
    missing: Literal["error", "drop", "ffill"] = "error"
    """Missing values in the used columns: `error` (names the count and first dates), `drop` the rows, or `ffill` (last value)."""
    start: str | None = None
    """First date read, inclusive (e.g. `2010-01-01`); `None`: from the first row."""
    end: str | None = None
    """Date at which reading stops, exclusive; `None`: to the last row."""
    calendar: tuple[Literal["hour", "day_of_week", "day_of_year"], ...] = ()
    """Input channels from the dates: any of `hour`, `day_of_week`, `day_of_year` (a sine and a cosine each)."""
    rows: int | None = None
    """Read only the first N rows (after `start`/`end`), at least 2, e.g. 14400 of ETTh2; `None`: every row."""
    future: tuple[str, ...] = ()
    """Columns known ahead, read at each forecast step (planned events, published forecasts); not transformed, scaled on the
    training span. Each row must hold what was known at the forecast origin (the vintage rule)."""
    future_calendar: tuple[Literal["hour", "day_of_week", "day_of_year"], ...] = ()
    """Calendar features of each forecast step's date: any of `hour`, `day_of_week`, `day_of_year` (a sine and a cosine each)."""
    holidays: str | None = None
    """A country code (`US`, `DE`, ...): a 0/1 input "the forecast date is a public holiday" (`holidays` package); `None`: no flag."""
    series_embedding: bool = False
    """A global run (several sources): a learned identity per series, its index read like an input known ahead into an embedding."""
    season: int | None = None
    """The seasonal period of the global run's `mase_seasonal` (in-sample seasonal naive's MAE as scale) and `gmean_rel_mase`;
    `None`: from the series' frequency (monthly 12, quarterly 4, weekly 52, daily 7, hourly 24, yearly and others 1)."""

    def __post_init__(self) -> None:
        if self.season is not None and self.season < 1:
            raise ForecasterError(f"data.season={self.season} must be a positive number of steps (or left out)")
        if self.frequency is not None:
            frequency_offset(self.frequency)
        if self.rows is not None and self.rows < 2:
            raise ForecasterError(f"data.rows={self.rows} must be at least 2 (or left out to read every row)")
        if self.column is not None and self.targets is not None:
            raise ForecasterError(
                f"data.column={self.column!r} and data.targets={self.targets!r} both name targets; set one of them")

    @property
    def future_spec(self) -> FutureSpec:
        """The inputs known ahead that this config asks for."""
        return FutureSpec(columns=tuple(self.future), calendar=tuple(self.future_calendar), holidays=self.holidays)

    @property
    def sources(self) -> tuple[str, ...]:
        """The series named: one, or several for a global run; an error when the list is empty."""
        sources = (self.source,) if isinstance(self.source, str) else tuple(self.source)
        if not sources:
            raise ForecasterError("data.source lists no series; name one (e.g. sp500) or several ([sp500, data/other.csv])")
        return sources


@dataclass(frozen=True)
class PreparedSeries:
    """The transformed series, one row per usable time step (L of them).

    ``frames[i]`` is the transformed input frame at ``dates[i]`` (the ``targets`` target channels first,
    then the other ``columns``, then two channels per ``calendar`` feature), and ``levels[i]`` the target
    in the series' own units at that date: the anchor from which a forecast made at step i is mapped back
    to prices (by ``transform``, the object: ``transform.name`` is what files record). ``levels`` is (L,)
    for one target and (L, K) for several; ``channel(k)`` is the series as seen by target k alone (levels
    (L,)), which is how every score is computed, one target at a time.
    """

    dates: pd.DatetimeIndex
    frames: np.ndarray  # (L, C)
    levels: np.ndarray  # (L,) for one target, (L, K) for several
    columns: tuple[str, ...]
    transform: Transform
    calendar: tuple[str, ...] = ()
    targets: int = 1  # K: the first K channels of every frame are the targets
    future_spec: FutureSpec = FutureSpec()
    future: np.ndarray | None = None  # (L, F) inputs known ahead at each date, unscaled; None when F = 0

    @property
    def lost_rows(self) -> int:
        """Raw rows consumed by the transform (the first row has no previous value to difference)."""
        return self.transform.rows_lost

    @property
    def target_names(self) -> tuple[str, ...]:
        """The K target columns, in channel order."""
        return self.columns[: self.targets]

    def channel(self, index: int) -> PreparedSeries:
        """The series with target ``index``'s levels alone, (L,): what a one-target score reads."""
        if self.targets == 1:
            return self
        return dataclasses.replace(self, levels=self.levels[:, index])


def choose_target(frame: pd.DataFrame, column: str | None) -> str:
    """The target column: the one named, else Adj Close / Close, else the only column."""
    if column is not None:
        if column not in frame.columns:
            raise ForecasterError(f"column {column!r} not found; available columns: {', '.join(map(str, frame.columns))}")
        return column
    for name in DEFAULT_TARGETS:
        if name in frame.columns:
            return name
    if len(frame.columns) == 1:
        return frame.columns[0]
    raise ForecasterError(
        f"no Close or Adj Close column; choose the target with --column, one of: {', '.join(map(str, frame.columns))}"
    )


def choose_targets(frame: pd.DataFrame, config: DataConfig) -> list[str]:
    """The target columns: ``data.targets`` (names, or ``all`` numeric columns), else the one ``choose_target`` picks."""
    if config.targets is None:
        return [choose_target(frame, config.column)]
    if config.targets == "all":
        numeric = [name for name in frame.columns if pd.api.types.is_numeric_dtype(frame[name])]
        if not numeric:
            raise ForecasterError(
                f"data.targets=all, but no column holds numbers; columns: {', '.join(map(str, frame.columns))}")
        return numeric
    names = [config.targets] if isinstance(config.targets, str) else list(config.targets)
    if not names:
        raise ForecasterError("data.targets=[] names no column; name some, or write all for every numeric column")
    return _named_columns(frame, names, "data.targets", "target")


def _named_columns(frame: pd.DataFrame, names: list[str], setting: str, noun: str) -> list[str]:
    """``names`` as ``setting`` lists them, checked: each a column of ``frame``, none named twice."""
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ForecasterError(f"{setting} names {repeated[0]!r} twice; name each {noun} once")
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise ForecasterError(
            f"{setting} has {missing[0]!r}, not a column of the series; columns: {', '.join(map(str, frame.columns))}")
    return names


def _first_dates(index: pd.Index, mask: np.ndarray, limit: int = 3) -> str:
    return ", ".join(str(d.date()) if hasattr(d, "date") else str(d) for d in index[mask][:limit])


def checked_values(frame: pd.DataFrame, columns: list[str], *, missing: str = "error") -> pd.DataFrame:
    """The named columns as float64, rows with missing values handled by the ``missing`` policy.

    ``error`` names the count and first dates; ``drop`` removes those rows; ``ffill`` carries the last
    value forward (and drops leading rows that have none). Non-numeric text and infinite values are
    always errors: no policy can guess what they meant.
    """
    numbers = _float_values(frame, columns)
    if numbers is not None:  # every column float64 already (a long table's series): nothing to parse
        values, infinite = numbers, np.isinf(numbers.to_numpy())
        if infinite.any():
            name = columns[int(infinite.any(axis=0).argmax())]
            mask = infinite[:, columns.index(name)]
            raise ForecasterError(f"column {name!r} has {mask.sum()} infinite value(s), first on {_first_dates(frame.index, mask)}")
    else:
        values = _parsed_values(frame, columns)
    gaps = values.isna().any(axis=1).to_numpy()
    if not gaps.any():
        return values
    if missing == "drop":
        return values[~gaps]
    if missing == "ffill":
        return values.ffill().dropna()
    name = next(name for name in columns if values[name].isna().any())  # the first column with gaps
    holes = values[name].isna().to_numpy()
    raise ForecasterError(
        f"column {name!r} has {holes.sum()} missing value(s), first on {_first_dates(frame.index, holes)}; "
        "fill them in the data or set data.missing to drop or ffill"
    )


def _float_values(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame | None:
    """The named columns where each is there, once, and float64 already; None otherwise (``_parsed_values`` reads them)."""
    if len(set(columns)) != len(columns) or not frame.columns.is_unique or not all(name in frame.columns for name in columns):
        return None
    if not all(frame[name].dtype == np.float64 for name in columns):
        return None
    return frame[columns].astype(np.float64)


def _parsed_values(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The named columns parsed as numbers: an error naming a column that is missing, holds text or infinite values."""
    for name in columns:
        if name not in frame.columns:
            raise ForecasterError(f"column {name!r} not found; available columns: {', '.join(map(str, frame.columns))}")
        numeric = pd.to_numeric(frame[name], errors="coerce")
        bad = numeric.isna().to_numpy() & frame[name].notna().to_numpy()
        if bad.any():
            first = frame[name][bad].iloc[0]
            raise ForecasterError(
                f"column {name!r} has {bad.sum()} non-numeric value(s), first {first!r} on {_first_dates(frame.index, bad, 1)}"
            )
        infinite = np.isinf(numeric.to_numpy(dtype=float))
        if infinite.any():
            raise ForecasterError(f"column {name!r} has {infinite.sum()} infinite value(s), first on {_first_dates(frame.index, infinite)}")
    return frame[columns].apply(pd.to_numeric).astype(np.float64)


def prepare_series(frame: pd.DataFrame, config: DataConfig, *, constant_ok: bool = False) -> PreparedSeries:
    """Check the used columns, transform them, and line them up with the target's levels and dates.

    A constant target is refused (there is nothing to learn from it) unless ``constant_ok``: a model that reads every
    series by its own statistics forecasts one as it is (a pooled pipeline's, ``data/pipeline.py``)."""
    if config.rows is not None:
        if config.rows > len(frame):
            raise ForecasterError(f"data.rows={config.rows}, but the series has {len(frame)} rows; "
                                  f"use at most {len(frame)} or leave data.rows out")
        frame = frame.iloc[: config.rows]
    targets = choose_targets(frame, config)
    columns = targets + [name for name in config.features if name not in targets]
    future_columns = _future_columns(frame, config, targets)
    table = checked_values(frame, columns + [name for name in future_columns if name not in columns], missing=config.missing)
    values = table[columns].to_numpy()
    for index, target in enumerate(targets):
        if not constant_ok and len(values) and np.all(values[:, index] == values[0, index]):
            raise ForecasterError(
                f"column {target!r} is constant ({values[0, index]:g} on every date): there is nothing to forecast"
            )
    transform = transform_named(config.transform)
    transform.check(values, columns, table.index)
    frames = transform.apply(values)
    lost = len(values) - len(frames)
    dates = pd.DatetimeIndex(table.index[lost:])
    if config.calendar:
        frames = np.hstack([frames, calendar_features(dates, config.calendar)])  # (L, C) -> (L, C + 2K)
    spec = config.future_spec
    future = None
    if spec.channels:  # known values as they are (not transformed), then the channels of the dates
        future = np.hstack([table[future_columns].to_numpy()[lost:], spec.from_dates(dates)])  # (L, F)
    return PreparedSeries(
        dates=dates,
        frames=frames,
        levels=values[lost:, 0] if len(targets) == 1 else values[lost:, : len(targets)],
        columns=tuple(columns),
        transform=transform,
        calendar=tuple(config.calendar),
        targets=len(targets),
        future_spec=spec,
        future=future,
    )


def _future_columns(frame: pd.DataFrame, config: DataConfig, targets: list[str]) -> list[str]:
    """``data.future`` checked: columns of the series, each once, none of them a target."""
    names = _named_columns(frame, list(config.future), "data.future", "column")
    for name in names:
        if name in targets:
            raise ForecasterError(f"data.future has {name!r}, a target: what is forecast cannot be known ahead; "
                                  "list other columns in data.future")
    return names


