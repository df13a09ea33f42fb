"""Long-format panels: many series in one table, one row per (series, time), as NeuralForecast and StatsForecast
take them: an id column (``unique_id``), a time column (``ds``), a value column (``y``) and covariate columns.

``read_long`` splits such a table (a CSV or Parquet file, or a pandas DataFrame) into one wide frame per series,
each the frame a single-series source gives (``data/sources.py``): a ``DatetimeIndex`` named ``date``, sorted,
the value column under its own name and the other numeric columns kept as inputs (``data.features``,
``data.future``). Series come in the order of their first row, labelled by their ids as text. Every way the table
can be unusable is one line naming the series and the rows: a missing column, a repeated (id, time), a gap in a
series' dates at its own frequency, series of different frequencies, a series of fewer than two rows, text in the
value column. ``data.frequency`` gives the frequency instead of inferring it: a pandas alias every series' dates must
follow, or ``rows`` (each row the next step, the dates only ordering them: trading sessions, whose holidays are not
gaps).

An integer time column (NeuralForecast's integer ``ds``) holds time steps, not dates: a series is its rows at steps
``k, k+1, k+2, ...`` (a missing step is a gap, refused like a missing date), its forecasts continue the integers. The
pipeline reads dates, so step ``k`` becomes the instant ``k`` seconds after 1970-01-01 (a frequency with no season and
no calendar meaning), and the frame's index is named ``step`` (``STEP_INDEX``) so that a forecast gives the integers
back (``steps_of``). The settings that read calendar dates (``data.calendar``, ``data.future_calendar``,
``data.holidays``, ``data.start``, ``data.end``) are refused with integer steps. An integer column whose every value is
an eight-digit date (``20240131``) is read as dates, as before.

``long_source`` says whether a config's ``data.source`` is such a file: ``data.format: long``, or one file path (not a
bundled name) whose columns include the id, time and value columns; bundled names and wide CSVs read as before.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from forecaster.data.features import ROWS, DataConfig
from forecaster.data.panel_series import STEP, STEP_INDEX, split_series
from forecaster.data.sources import BUNDLED, MISSING_MARKERS, SYNTHETIC
from forecaster.errors import DataSourceError, ForecasterError

PARQUET_SUFFIXES = (".parquet", ".pq")
PARQUET_HINT = "pip install 'forecaster[parquet]' (or pip install pyarrow)"


def long_columns(config: DataConfig) -> dict[str, str]:
    """The id, time and value column names ``config`` gives, as ``read_long`` takes them."""
    return {"id_column": config.id_column, "time_column": config.time_column, "value_column": config.value_column}


def long_options(config: DataConfig) -> dict[str, str | None]:
    """``long_columns``, ``data.frequency`` and the first setting of ``config`` that reads calendar dates: what
    ``read_long`` takes."""
    return {**long_columns(config), "frequency": config.frequency, "dated": dated_setting(config)}


def dated_setting(config: DataConfig) -> str | None:
    """The first setting of ``config`` that reads calendar dates (refused for integer time steps), as ``key=value``."""
    for key in ("calendar", "future_calendar", "holidays", "start", "end", "frequency"):
        value = getattr(config, key)
        if value and value != ROWS:
            return f"data.{key}={list(value) if isinstance(value, tuple) else value}"
    return None


def integer_times(values: pd.Series) -> bool:
    """Whether a time column holds integer steps: integers, unless every one is an eight-digit date (YYYYMMDD)."""
    if not pd.api.types.is_integer_dtype(values) or pd.api.types.is_bool_dtype(values):
        return False
    text = values.dropna().astype("string")
    dated = text.str.fullmatch(r"\d{8}").all() and pd.to_datetime(text, format="%Y%m%d", errors="coerce").notna().all()
    return not dated


def is_step_frame(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` is a series of integer time steps (``read_long``'s, its index named ``step``)."""
    return frame.index.name == STEP_INDEX


def steps_of(dates) -> pd.Series | pd.Index:
    """The integer steps of a step series' dates (``read_long``'s time axis back to the integers)."""
    return (pd.to_datetime(dates) - pd.Timestamp(0)) // STEP


def shown_dates(dates: pd.DatetimeIndex) -> pd.Index:
    """A series' dates as its tables and figures show them: its integer steps for a step series, else the dates."""
    return pd.Index(steps_of(dates)) if dates.name == STEP_INDEX else dates


def has_long_columns(columns, config: DataConfig) -> bool:
    """Whether ``columns`` include the id, time and value columns of ``config``."""
    return set(long_columns(config).values()) <= {str(column) for column in columns}


def long_source(config: DataConfig) -> bool:
    """Whether ``config.source`` is one long-format file: ``format: long``, or a file path (not a bundled name) whose
    header holds the id, time and value columns (a Parquet file always is one); an error for several sources with
    ``format: long``."""
    sources = config.sources
    if config.format == "long":
        if len(sources) > 1:
            raise ForecasterError(f"data.format=long reads one file holding every series, and data.source lists "
                                  f"{len(sources)}; name one file (or set data.format=wide for one file per series)")
        return True
    if len(sources) > 1 or not isinstance(sources[0], str) or sources[0].lower() in (*BUNDLED, SYNTHETIC):
        return False
    path = Path(sources[0]).expanduser()
    if not path.is_file():
        return False
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return True
    try:
        header = pd.read_csv(path, nrows=0, skipinitialspace=True).columns
    except (ValueError, UnicodeDecodeError, OSError):
        return False  # not a CSV with a header: the single-series reader says what is wrong with it
    return has_long_columns(header, config)


def is_long_frame(frame, config: DataConfig) -> bool:
    """Whether ``frame`` is a long table (a DataFrame without a date index, with the id, time and value columns, or any
    such DataFrame with ``format: long``) rather than one series' frame."""
    if not isinstance(frame, pd.DataFrame) or isinstance(frame.index, pd.DatetimeIndex):
        return False
    return config.format == "long" or has_long_columns(frame.columns, config)


def load_long(config: DataConfig) -> dict[str, pd.DataFrame]:
    """The series of the long file ``config.source`` by id, the dates from ``data.start`` to before ``data.end``."""
    return read_long(read_table(Path(config.sources[0]).expanduser(), id_column=config.id_column),
                     start=config.start, end=config.end, name=repr(str(config.sources[0])), **long_options(config))


def read_table(path: Path, *, id_column: str = "unique_id") -> pd.DataFrame:
    """A CSV or Parquet file as a table, its ids read as text ("007" stays "007")."""
    name = repr(str(path))
    if not path.is_file():
        raise DataSourceError(f"no such file: {name} (data.format=long reads one CSV or Parquet file of every series)")
    if path.suffix.lower() in PARQUET_SUFFIXES:
        try:
            import pyarrow  # noqa: F401  (pandas reads Parquet through it)
        except ImportError:
            raise ForecasterError(f"{name} is a Parquet file, and reading Parquet needs pyarrow: {PARQUET_HINT}") from None
        try:
            return pd.read_parquet(path)
        except Exception as error:  # pyarrow raises its own kinds for a file that is not Parquet
            raise DataSourceError(f"cannot read {name} as a Parquet file: {str(error).strip().splitlines()[0]}") from error
    try:
        return pd.read_csv(path, skipinitialspace=True, na_values=MISSING_MARKERS, dtype={id_column: str})
    except pd.errors.EmptyDataError as error:
        raise DataSourceError(f"{name} is empty; a long table needs a header line and data rows") from error
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataSourceError(f"cannot read {name} as a CSV file: {reason}") from error


def read_long(
    path_or_frame: str | Path | pd.DataFrame, *, id_column: str = "unique_id", time_column: str = "ds",
    value_column: str = "y", start: str | None = None, end: str | None = None, name: str | None = None,
    dated: str | None = None, frequency: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Each series of a long table (a CSV or Parquet path, or a DataFrame) as its own wide frame, by id (see the module
    docstring); ``start``/``end`` keep the dates from ``start`` to before ``end``; ``name`` is the table in errors;
    ``dated`` a setting that reads calendar dates (``dated_setting``), refused where the time column holds integer steps;
    ``frequency`` the dates' frequency (``data.frequency``: an alias checked for every series, or ``rows``), else
    inferred."""
    if isinstance(path_or_frame, pd.DataFrame):
        table, name = path_or_frame.reset_index(drop=True), name or "the long table"
    else:
        path = Path(path_or_frame).expanduser()
        table, name = read_table(path, id_column=id_column), name or repr(str(path))
    missing = [column for column in (id_column, time_column, value_column) if column not in table.columns]
    if missing:
        raise ForecasterError(
            f"{name} has no column {', '.join(map(repr, missing))} (data.id_column, data.time_column, data.value_column name "
            f"the series id, time and value columns of a long table); found columns: {', '.join(map(str, table.columns))}")
    if len(table) == 0:
        raise DataSourceError(f"{name} has a header but no data rows")
    ids = table[id_column]
    if ids.isna().any():
        raise ForecasterError(f"{name}: data row {int(ids.isna().to_numpy().argmax()) + 1} has no {id_column}")
    steps = integer_times(table[time_column])
    if steps:
        _check_steps(table[time_column], time_column, name, dated or (start and "data.start") or (end and "data.end"))
    times = table[time_column].astype("int64") if steps else _dates(table[time_column], time_column, name)
    table = table.assign(**{id_column: ids.astype(str), time_column: times})
    table = _numeric_values(table, id_column, time_column, value_column)
    if start is not None or end is not None:
        times = table[time_column]
        first, last = _bound("data.start", start), _bound("data.end", end)
        table = table[(times >= (first if first is not None else times.min())) & ((times < last) if last is not None else True)]
        if len(table) == 0:
            raise DataSourceError(f"no rows in {name} from {start or 'the start'} to before {end or 'the end'}")
    inputs = [value_column, *[column for column in table.columns if column not in (id_column, time_column, value_column)
                              and pd.api.types.is_numeric_dtype(table[column])]]
    frames, frequencies = split_series(table, id_column, time_column, inputs, steps, frequency)
    known = {label: frequency for label, frequency in frequencies.items() if frequency is not None}
    first = next(iter(known), None)
    other = next((label for label in known if known[label] != known[first]), None)
    if other is not None:
        raise ForecasterError(f"series {first!r} has frequency {known[first]} and series {other!r} {known[other]}; one model "
                              "reads one frequency: resample the series to a common one, or train them apart")
    return frames


def _check_steps(values: pd.Series, column: str, name: str, dated: str | None) -> None:
    """An integer time column: no missing step, and no setting that reads calendar dates."""
    if values.isna().any():
        raise ForecasterError(f"{name}: data row {int(values.isna().to_numpy().argmax()) + 1} has no {column}")
    if dated:
        raise ForecasterError(f"{dated} reads calendar dates, and {name}'s {column} holds integer time steps, which have "
                              f"none: leave {dated.split('=')[0]} out, or give {column} as dates (e.g. YYYY-MM-DD)")


def _bound(which: str, value: str | None) -> pd.Timestamp | None:
    try:
        return None if value is None else pd.Timestamp(value)
    except (ValueError, TypeError) as error:
        raise ForecasterError(f"{which} {value!r} is not a date; use YYYY-MM-DD") from error


def _dates(values: pd.Series, column: str, name: str) -> pd.Series:
    """The time column as tz-naive dates; an error naming the first row that is not a date."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values)
    else:
        text = values.astype("string") if pd.api.types.is_numeric_dtype(values) else values
        parsed = None
        for layout in ("ISO8601", "mixed"):
            try:
                parsed = pd.to_datetime(text, format=layout, utc=True)
                break
            except (ValueError, TypeError, OverflowError):
                continue
        if parsed is None:
            parsed = pd.to_datetime(text, format="mixed", errors="coerce", utc=True)
        bad = parsed.isna().to_numpy()
        if bad.any():
            row = int(bad.argmax())
            raise ForecasterError(f"{name}: {column} {values.iloc[row]!r} in data row {row + 1} does not parse as a date; "
                                  "use e.g. YYYY-MM-DD")
    if parsed.dt.tz is not None:
        parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
    return parsed


def _numeric_values(table: pd.DataFrame, id_column: str, time_column: str, value_column: str) -> pd.DataFrame:
    """The value column as numbers (an error naming the series and row of the first text), other columns that are all
    numbers as float64 (text columns stay text and are not read)."""
    for column in table.columns:
        if column in (id_column, time_column):
            continue
        values = table[column]
        numbers = pd.to_numeric(values, errors="coerce")
        bad = (numbers.isna() & values.notna()).to_numpy()
        if column == value_column and bad.any():
            row = int(bad.argmax())
            raise ForecasterError(f"series {table[id_column].iloc[row]!r} has a non-numeric {value_column} "
                                  f"{values.iloc[row]!r} in data row {row + 1} ({bad.sum()} such row(s)); {value_column} must "
                                  "hold numbers")
        if not bad.any():
            table[column] = numbers.astype("float64")
    return table


