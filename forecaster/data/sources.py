"""Load a price series from a bundled name, a CSV path or a Yahoo Finance ticker.

Every source ends as the same frame: a tz-naive, ascending, unique ``DatetimeIndex`` named
``date`` and one column per data column of the source, under the source's names. Columns that
are all numbers become float64; other columns and missing values are kept as they are, so that
the stage that picks the columns it uses can report them. An empty cell, pandas' usual markers (NA,
NaN, null, ...) and a lone ``.`` (FRED's mark for a day without a value) read as missing; ``data.missing``
decides what becomes of them.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import re
import tempfile
import warnings
from pathlib import Path

import pandas as pd

from forecaster.data.synthetic import two_period_series
from forecaster.errors import DataSourceError, ForecasterError

BUNDLED: dict[str, str] = {"sp500": "sp500_daily.csv", "sunspots": "sunspots_monthly.csv", "etth2": "etth2_hourly.csv"}
SYNTHETIC = "synthetic"  # generated, not read: forecaster.data.synthetic.two_period_series() with its defaults
DATE_NAMES = ("date", "datetime", "time", "timestamp", "day", "month")
MISSING_MARKERS = ["."]  # read as missing beside pandas' own markers: FRED's CSV marks a day without a value so
# The intervals yfinance.download accepts (its docstring); anything else would fail there.
YAHOO_INTERVALS = ("1m", "2m", "5m", "15m", "30m", "60m", "90m", "1h", "1d", "5d", "1wk", "1mo", "3mo")
_TICKER_PATTERN = re.compile(r"^[A-Za-z0-9^.=\-]{1,20}$")
_VALID_SOURCES = "valid sources: a bundled name sp500|sunspots|etth2|synthetic, a CSV path, or a Yahoo ticker such as ^GSPC"
_OFFLINE_HINT = "use an offline source instead: a bundled name (sp500, sunspots, etth2) or a CSV path"


def bundled_data_dir() -> Path:
    """The folder holding the bundled series: ``data/`` beside the package in a source checkout."""
    return Path(__file__).resolve().parents[2] / "data"


def default_cache_dir() -> Path:
    """Where downloads are cached: ``$FORECASTER_CACHE`` if set, else ``~/.cache/forecaster``."""
    configured = os.environ.get("FORECASTER_CACHE")
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "forecaster"


def load_prices(
    source: str | os.PathLike,
    *,
    start: str | None = None,
    end: str | None = None,
    interval: str = "1d",
    cache_dir: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Load ``source`` (bundled name, CSV path or Yahoo ticker) as a date-indexed frame.

    ``"synthetic"`` is generated, not read: ``forecaster.data.synthetic.two_period_series()`` (hourly, seed 0).

    ``start`` is inclusive and ``end`` exclusive (as in yfinance), for every kind of source.
    ``interval`` is the Yahoo bar size; a file is loaded at its own frequency, so it must stay
    ``"1d"`` there. Yahoo downloads are cached under ``cache_dir`` (default:
    :func:`default_cache_dir`) and a repeated call with the same arguments reads the cache.
    """
    first = _parse_bound("start", start)
    last = _parse_bound("end", end)
    if first is not None and last is not None and first >= last:
        raise ForecasterError(f"start {start!r} must be before end {end!r}")
    if isinstance(source, str) and source.lower() == SYNTHETIC:
        return _between(two_period_series(), first, last, "the synthetic series")
    kind, target = _resolve(source)
    if kind == "yahoo":
        if interval not in YAHOO_INTERVALS:
            raise ForecasterError(f"unknown interval {interval!r}; valid: {', '.join(YAHOO_INTERVALS)}")
        directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        path = _cache_path(directory, str(target), first, last, interval)
        frame = _load_yahoo(str(target), path, start=start, end=end, interval=interval)
        return _sorted(frame, f"Yahoo ticker {target!r}")
    if interval != "1d":
        raise ForecasterError(
            f"interval {interval!r} applies only to Yahoo tickers; a file such as {str(target)!r} "
            "is loaded at its own frequency (leave interval at '1d')"
        )
    frame = _sorted(_read_csv(Path(target)), repr(str(target)))
    return _between(frame, first, last, repr(str(target)))


def _parse_bound(which: str, value: str | None) -> pd.Timestamp | None:
    """``start``/``end`` as a timestamp, or None when not given."""
    if value is None:
        return None
    try:
        return pd.Timestamp(value)
    except (ValueError, TypeError) as error:
        raise ForecasterError(f"{which} {value!r} is not a date; use YYYY-MM-DD") from error


def _resolve(source: str | os.PathLike) -> tuple[str, Path | str]:
    """Decide what ``source`` names: ``("file", path)`` or ``("yahoo", ticker)``."""
    if isinstance(source, os.PathLike):
        return "file", Path(source).expanduser()
    if not isinstance(source, str):
        raise DataSourceError(f"source {source!r} ({type(source).__name__}) is not a string or a path ({_VALID_SOURCES})")
    if source.lower() in BUNDLED:
        path = bundled_data_dir() / BUNDLED[source.lower()]
        if not path.is_file():
            raise DataSourceError(
                f"bundled data {source!r} is expected at {str(path)!r}; "
                "install from a source checkout with `pip install -e .`"
            )
        return "file", path
    separators = {"/", os.sep, os.altsep} - {None}
    if (
        source.lower().endswith((".csv", ".txt"))
        or any(separator in source for separator in separators)
        or os.path.exists(source)
    ):
        return "file", Path(source).expanduser()
    if _TICKER_PATTERN.fullmatch(source):
        # yfinance upper-cases tickers itself; doing it here keeps one cache file per ticker.
        return "yahoo", source.upper()
    raise DataSourceError(
        f"source {source!r} is not a bundled name, a CSV path or a Yahoo ticker ({_VALID_SOURCES})"
    )


def _read_csv(path: Path) -> pd.DataFrame:
    """Read a user's CSV or a cache file into the tidy frame (see the module docstring)."""
    name = repr(str(path))
    if path.is_dir():
        raise DataSourceError(f"{name} is a directory, not a CSV file ({_VALID_SOURCES})")
    if not path.is_file():
        raise DataSourceError(f"no such file: {name} ({_VALID_SOURCES})")
    skip = _multi_header_skip(path, name)
    try:
        frame = pd.read_csv(path, skiprows=skip, skipinitialspace=True, na_values=MISSING_MARKERS)
    except pd.errors.EmptyDataError as error:
        raise DataSourceError(f"{name} is empty; a CSV needs a header line and data rows") from error
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataSourceError(f"cannot read {name} as a CSV file: {reason}") from error
    if skip:
        # yfinance's header puts "Price" above the date column; the dates are what it holds.
        frame = frame.rename(columns={frame.columns[0]: "Date"})
    return _tidy(frame, name)


def _multi_header_skip(path: Path, name: str) -> list[int]:
    """Header lines to skip in yfinance's three-line layout (Price / Ticker / Date); none otherwise."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        lines = [handle.readline().rstrip("\r\n") for _ in range(3)]
    if not lines[1].startswith("Ticker,"):
        return []
    tickers = sorted(set(lines[1].split(",")[1:]))
    if len(tickers) > 1:
        raise DataSourceError(f"{name} holds several tickers ({', '.join(tickers)}); save one ticker per file")
    # The third line names the index ("Date,,,") only when the index had a name.
    index_line = not any(lines[2].split(",")[1:])
    return [1, 2] if index_line else [1]


def _tidy(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Turn a raw frame with a date column into the date-indexed frame; ``name`` is for errors."""
    if len(frame) == 0:
        raise DataSourceError(f"{name} has a header but no data rows")
    # A trailing comma on every line gives an empty unnamed column: not data.
    empty = [column for column in frame.columns[1:] if str(column).startswith("Unnamed: ")]
    frame = frame.drop(columns=[column for column in empty if frame[column].isna().all()])
    date_column = _find_date_column(frame, name)
    data = frame.drop(columns=date_column)
    if data.shape[1] == 0:
        raise DataSourceError(f"{name} has no data columns besides the date column {date_column!r}")
    data.index = _parse_dates(frame[date_column], name)
    data.index.name = "date"
    data.columns.name = None
    duplicated = data.index[data.index.duplicated()].unique()
    if len(duplicated) > 0:
        shown = ", ".join(_format_date(date) for date in duplicated[:5])
        more = f" and {len(duplicated) - 5} more" if len(duplicated) > 5 else ""
        raise DataSourceError(f"duplicate dates in {name}: {shown}{more}; each date must appear once")
    for column in data.columns:
        values = data[column]
        if pd.api.types.is_numeric_dtype(values):
            data[column] = values.astype("float64")
            continue
        numbers = pd.to_numeric(values, errors="coerce")
        # Only a lossless conversion: text such as "n/a?" stays for the next stage to report.
        if numbers.notna().sum() == values.notna().sum():
            data[column] = numbers.astype("float64")
    return data


def _find_date_column(frame: pd.DataFrame, name: str) -> str:
    """The column holding the dates: a known name, else a first column whose values are all dates."""
    columns = list(frame.columns)
    if len(columns) == 1:
        for separator in (";", "\t"):
            if separator in str(columns[0]):
                raise DataSourceError(
                    f"{name} has one column {columns[0]!r}: values must be separated by commas, not {separator!r}"
                )
    by_name = {str(column).strip().lower(): column for column in columns}
    for candidate in DATE_NAMES:
        if candidate in by_name:
            return by_name[candidate]
    if _looks_like_dates(frame[columns[0]]):
        return columns[0]
    raise DataSourceError(
        f"no date column in {name}: found columns {[str(column) for column in columns]}; "
        f"name it one of {', '.join(DATE_NAMES)} (any case) or put the dates in the first column"
    )


def _looks_like_dates(values: pd.Series) -> bool:
    """Whether every value is a date written as text (a counter 0, 1, 2 is not)."""
    if pd.api.types.is_numeric_dtype(values) or pd.to_numeric(values, errors="coerce").notna().all():
        return False
    try:
        parsed = pd.to_datetime(values, format="mixed", errors="coerce", utc=True)
    except (ValueError, TypeError, OverflowError):
        return False
    return bool(parsed.notna().all())


def _parse_dates(values: pd.Series, name: str) -> pd.DatetimeIndex:
    """Parse a date column to a tz-naive index, naming the first value that is not a date."""
    parsed = _to_datetime(values)
    missing = parsed.isna()
    if missing.any():
        position = int(missing.argmax())
        value = values.iloc[position]
        shown = "an empty date" if pd.isna(value) else f"date {str(value)!r}"
        raise DataSourceError(
            f"{shown} in {name} (data row {position + 1}) does not parse as a date; use e.g. YYYY-MM-DD"
        )
    if parsed.tz is not None:
        local = parsed.tz_localize(None)
        # Daily or coarser bars stamped at local midnight keep their calendar date; intraday bars
        # go to UTC, one clock without daylight-saving gaps or repeated hours.
        parsed = local if (local == local.normalize()).all() else parsed.tz_convert("UTC").tz_localize(None)
    # One resolution for every source, so a cached download equals the frame first returned.
    return parsed.as_unit("us")


def _to_datetime(values: pd.Series) -> pd.DatetimeIndex:
    """Dates as parsed by pandas, NaT where a value is not a date."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return pd.DatetimeIndex(values)
    # Integers such as 20240131 are dates written without separators, not epoch nanoseconds.
    text = values.astype("string") if pd.api.types.is_numeric_dtype(values) else values
    for layout in ("ISO8601", "mixed"):
        try:
            return pd.DatetimeIndex(pd.to_datetime(text, format=layout))
        except (ValueError, TypeError, OverflowError):
            continue  # not uniform ISO text, a bad value, or mixed UTC offsets: try the next way
    # Mixed UTC offsets (e.g. across daylight saving) only parse to one zone; bad values become NaT.
    return pd.DatetimeIndex(pd.to_datetime(text, format="mixed", errors="coerce", utc=True))


def _format_date(date: pd.Timestamp, time_format: str = "T%H:%M:%S") -> str:
    """A date as YYYY-MM-DD, with the time only when it has one."""
    return date.strftime("%Y-%m-%d" if date == date.normalize() else "%Y-%m-%d" + time_format)


def _sorted(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """The frame in ascending date order, warning once when the source was not."""
    if frame.index.is_monotonic_increasing:
        return frame
    warnings.warn(f"dates in {name} were not in ascending order; sorted them", UserWarning, stacklevel=3)
    return frame.sort_index(kind="stable")


def _between(frame: pd.DataFrame, first: pd.Timestamp | None, last: pd.Timestamp | None, name: str) -> pd.DataFrame:
    """Rows with ``first <= date < last``; an error naming the file's span when none are left."""
    if first is None and last is None:
        return frame
    selected = frame if first is None else frame[frame.index >= first]
    selected = selected if last is None else selected[selected.index < last]
    if selected.empty:
        span = f"{_format_date(frame.index[0])} to {_format_date(frame.index[-1])}"
        wanted = f"from {'the start' if first is None else _format_date(first)} to before " + (
            "the end" if last is None else _format_date(last)
        )
        raise DataSourceError(f"no rows in {name} {wanted}; it covers {span}")
    return selected


def _cache_path(
    cache_dir: Path, ticker: str, first: pd.Timestamp | None, last: pd.Timestamp | None, interval: str
) -> Path:
    """``<cache_dir>/yahoo/<ticker>_<start|min>_<end|today>_<interval>.csv`` for one request."""
    # "_" never occurs in a ticker, so "caret_" (for an index's "^") cannot collide with another name.
    safe = ticker.upper().replace("^", "caret_")
    # No ':' in a file name (Windows forbids it).
    start_label = "min" if first is None else _format_date(first, "T%H-%M-%S")
    end_label = datetime.date.today().isoformat() if last is None else _format_date(last, "T%H-%M-%S")
    return cache_dir / "yahoo" / f"{safe}_{start_label}_{end_label}_{interval}.csv"


def _load_yahoo(ticker: str, path: Path, *, start: str | None, end: str | None, interval: str) -> pd.DataFrame:
    """A ticker's frame from the cache file at ``path``, else downloaded and cached there."""
    if path.is_file():
        return _read_csv(path)
    frame = _tidy(_download_yahoo(ticker, start=start, end=end, interval=interval), f"Yahoo ticker {ticker!r}")
    try:
        _write_atomically(frame, path)
    except OSError as error:
        warnings.warn(
            f"could not cache {ticker!r} at {str(path)!r} ({error}); it will be downloaded again next time",
            UserWarning,
            stacklevel=3,
        )
    return frame


@contextlib.contextmanager
def _quiet_yfinance():
    """Silence yfinance's own log lines and warnings for one call: our error says what failed, once."""
    logger = logging.getLogger("yfinance")
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(previous)


def _download_yahoo(ticker: str, *, start: str | None, end: str | None, interval: str) -> pd.DataFrame:
    """Download one ticker with yfinance: a frame with a ``Date`` column and one column per price."""
    import yfinance  # here, not at the top: the package must import without yfinance or a network

    try:
        with _quiet_yfinance():
            frame = yfinance.download(
                ticker, start=start, end=end, interval=interval,
                auto_adjust=False, progress=False, multi_level_index=True,
            )
    except Exception as error:  # yfinance raises many kinds (network, JSON, its own): all mean "no data"
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise DataSourceError(
            f"downloading {ticker!r} from Yahoo Finance failed ({reason}); {_OFFLINE_HINT}"
        ) from error
    if frame is None or frame.empty:
        # yfinance does not raise for an unknown ticker or a missing network; it returns nothing.
        raise DataSourceError(
            f"no data for ticker {ticker!r} from Yahoo Finance (unknown ticker or no network); {_OFFLINE_HINT}"
        )
    if isinstance(frame.columns, pd.MultiIndex):
        level = "Ticker" if "Ticker" in frame.columns.names else frame.columns.nlevels - 1
        tickers = frame.columns.get_level_values(level).unique()
        if ticker in tickers:
            frame = frame.xs(ticker, axis=1, level=level)
        elif len(tickers) == 1:
            frame = frame.droplevel(level, axis=1)
        else:
            raise DataSourceError(f"Yahoo Finance returned tickers {list(tickers)} for {ticker!r}; expected one")
    frame = frame.reset_index()
    return frame.rename(columns={frame.columns[0]: "Date"})


def _write_atomically(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as CSV at ``path`` so that a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same folder as the target, so that os.replace is a rename on one file system.
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.stem + ".", suffix=".tmp")
    os.close(handle)
    try:
        frame.to_csv(temporary, index_label="Date")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise
