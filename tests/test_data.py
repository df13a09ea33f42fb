"""Tests for forecaster.data.sources: bundled series, CSV layouts, errors, and the cached Yahoo path."""

import os

import numpy as np
import pandas as pd
import pytest

from forecaster.cli import main
from forecaster.data.features import DataConfig, prepare_series
from forecaster.data.sources import BUNDLED, bundled_data_dir, default_cache_dir, load_prices
from forecaster.errors import DataSourceError, ForecasterError


def small_frame() -> pd.DataFrame:
    """What every layout below should load to."""
    dates = pd.DatetimeIndex(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"], name="date").as_unit("us")
    return pd.DataFrame(
        {"Close": [10.5, 11.25, 10.75, 12.0], "Volume": [100.0, 250.0, 175.0, 300.0]}, index=dates
    )


def files_under(folder) -> list:
    return sorted(path for path in folder.rglob("*") if path.is_file())


# --- bundled series -------------------------------------------------------------------------


def test_bundled_sp500_is_yahoo_layout_with_5031_sorted_days():
    frame = load_prices("sp500")
    assert len(frame) == 5031
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert frame.index.name == "date"
    assert frame.index.tz is None
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert frame.index[0] == pd.Timestamp("1999-01-04")
    assert frame.index[-1] == pd.Timestamp("2018-12-31")
    assert list(frame.columns) == ["Open", "High", "Low", "Close", "Adj Close", "Volume"]
    assert (frame.dtypes == "float64").all()
    assert frame.loc["1999-01-04", "Close"] == pytest.approx(1228.099976)


def test_bundled_sunspots_loads_case_insensitively():
    frame = load_prices("SunSpots")
    assert len(frame) == 2820
    assert list(frame.columns) == ["sunspots"]
    assert frame["sunspots"].dtype == "float64"
    assert frame.index[0] == pd.Timestamp("1749-01-01")
    assert frame.index[-1] == pd.Timestamp("1983-12-01")


def test_bundled_data_dir_holds_every_bundled_file():
    assert bundled_data_dir().name == "data"
    assert all((bundled_data_dir() / file).is_file() for file in BUNDLED.values())


def test_start_and_end_select_rows_with_end_exclusive():
    frame = load_prices("sp500", start="2018-12-24", end="2018-12-31")
    assert frame.index[0] == pd.Timestamp("2018-12-24")
    assert frame.index[-1] == pd.Timestamp("2018-12-28")


def test_start_after_the_data_names_the_span():
    with pytest.raises(DataSourceError, match="covers 1749-01-01 to 1983-12-01"):
        load_prices("sunspots", start="2000-01-01")


def test_bad_start_and_file_interval_are_refused():
    with pytest.raises(ForecasterError, match="start 'yesterday-ish' is not a date"):
        load_prices("sp500", start="yesterday-ish")
    with pytest.raises(ForecasterError, match="applies only to Yahoo tickers"):
        load_prices("sp500", interval="1wk")


# --- CSV layouts ----------------------------------------------------------------------------


def write_yahoo(frame, path):
    frame.to_csv(path, index_label="Date")


def write_named(frame, path):
    frame.to_csv(path, index_label="Timestamp")


def write_unnamed_index(frame, path):
    frame.rename_axis(None).to_csv(path)


def write_first_column(frame, path):
    frame.to_csv(path, index_label="when")


def write_yfinance_multi_header(frame, path):
    wide = frame.rename_axis("Date")
    wide.columns = pd.MultiIndex.from_product([frame.columns, ["^GSPC"]], names=["Price", "Ticker"])
    wide.to_csv(path)


@pytest.mark.parametrize(
    "writer", [write_yahoo, write_named, write_unnamed_index, write_first_column, write_yfinance_multi_header]
)
def test_every_csv_layout_loads_to_the_same_frame(tmp_path, writer):
    path = tmp_path / "prices.csv"
    writer(small_frame(), path)
    pd.testing.assert_frame_equal(load_prices(path), small_frame())
    pd.testing.assert_frame_equal(load_prices(str(path)), small_frame())


def test_yfinance_header_is_what_the_reader_detects(tmp_path):
    path = tmp_path / "prices.csv"
    write_yfinance_multi_header(small_frame(), path)
    assert path.read_text().splitlines()[1].startswith("Ticker,")


def test_txt_path_without_directory_part_is_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_yahoo(small_frame(), tmp_path / "prices.TXT")
    pd.testing.assert_frame_equal(load_prices("prices.TXT"), small_frame())


def test_unsorted_dates_are_sorted_with_a_warning(tmp_path):
    path = tmp_path / "shuffled.csv"
    write_yahoo(small_frame().iloc[[2, 0, 3, 1]], path)
    with pytest.warns(UserWarning, match="not in ascending order"):
        frame = load_prices(path)
    pd.testing.assert_frame_equal(frame, small_frame())


def test_non_numeric_values_are_kept_not_turned_into_nan(tmp_path):
    path = tmp_path / "text.csv"
    path.write_text("Date,Close,Open\n2024-01-02,10.5,1\n2024-01-03,oops,2\n2024-01-04,11.0,3\n")
    frame = load_prices(path)
    assert frame["Close"].dtype != "float64"
    assert frame.loc["2024-01-03", "Close"] == "oops"
    assert frame["Open"].dtype == "float64"


def test_missing_values_are_kept_as_nan(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("Date,Close\n2024-01-02,10.5\n2024-01-03,\n2024-01-04,11.0\n")
    frame = load_prices(path)
    assert frame["Close"].dtype == "float64"
    assert frame["Close"].isna().tolist() == [False, True, False]


def test_utc_offsets_are_dropped_to_naive_dates(tmp_path):
    path = tmp_path / "zoned.csv"
    path.write_text("Date,Close\n2024-01-02 00:00:00-05:00,1\n2024-01-03 00:00:00-05:00,2\n")
    frame = load_prices(path)
    assert frame.index.tz is None
    assert list(frame.index) == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-03")]


# --- FRED's CSV: a lone "." marks a day without a value -----------------------------------------

# Days FRED leaves without a WTI price: holidays, three in a row at Christmas 2019.
FRED_GAPS = ["2019-01-21", "2019-02-18", "2019-07-04", "2019-11-28", "2019-12-24", "2019-12-25", "2019-12-26",
             "2020-01-01", "2020-04-10"]


def fred_csv(folder, header: str = "DATE", *, negative: bool = False, text: str | None = None):
    """DCOILWTICO.csv as FRED serves it: every business day from 2019-01-02 to 2020-04-30 (347 rows), '.' on
    the days without a price; ``negative`` puts in 2020-04-20's -37.63, ``text`` replaces 2019-03-01's price."""
    dates = pd.bdate_range("2019-01-02", "2020-04-30")
    prices = 55.0 + np.cumsum(np.random.default_rng(0).normal(0.0, 0.8, len(dates)))
    cells = {str(date.date()): f"{price:.2f}" for date, price in zip(dates, prices)}
    cells.update(dict.fromkeys(FRED_GAPS, "."))
    if negative:
        cells["2020-04-20"] = "-37.63"
    if text is not None:
        cells["2019-03-01"] = text
    path = folder / "DCOILWTICO.csv"
    path.write_text(f"{header},DCOILWTICO\n" + "".join(f"{day},{cell}\n" for day, cell in cells.items()))
    return path, len(dates)


@pytest.mark.parametrize("header", ["DATE", "observation_date"])
def test_fred_dots_read_as_missing(tmp_path, header):
    path, rows = fred_csv(tmp_path, header)
    frame = load_prices(path)
    assert len(frame) == rows == 347 and frame["DCOILWTICO"].dtype == "float64"
    assert [str(date.date()) for date in frame.index[frame["DCOILWTICO"].isna()]] == FRED_GAPS


def test_fred_dots_under_missing_error_are_the_one_line_error(tmp_path, capsys):
    path, _ = fred_csv(tmp_path)
    out = tmp_path / "out"
    assert main(["run", "--data", str(path), "--out", str(out), "--quiet", "--set", "train.epochs=1"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["error: column 'DCOILWTICO' has 9 missing value(s), first on 2019-01-21, 2019-02-18, 2019-07-04; "
                     "fill them in the data or set data.missing to drop or ffill"]
    assert not out.exists()


@pytest.mark.parametrize(("missing", "kept"), [("drop", 347 - 9), ("ffill", 347)])
def test_fred_dots_are_dropped_or_filled(tmp_path, missing, kept):
    path, _ = fred_csv(tmp_path)
    config = DataConfig(source=str(path), transform="level", missing=missing)
    series = prepare_series(load_prices(config.source), config)
    assert len(series.levels) == kept and np.isfinite(series.levels).all()
    levels = pd.Series(series.levels, index=series.dates)
    assert (pd.Timestamp("2019-12-25") in levels.index) == (missing == "ffill")
    if missing == "ffill":  # three days in a row carry 2019-12-23's price
        assert (levels["2019-12-24":"2019-12-26"] == levels["2019-12-23"]).all()


@pytest.mark.parametrize("text", ["ND", "..", "55.1.2"])
def test_other_text_in_a_fred_file_is_still_an_error(tmp_path, text):
    path, _ = fred_csv(tmp_path, text=text)
    with pytest.raises(ForecasterError) as raised:
        prepare_series(load_prices(path), DataConfig(source=str(path), missing="ffill"))
    assert str(raised.value) == f"column 'DCOILWTICO' has 1 non-numeric value(s), first {text!r} on 2019-03-01"


def test_a_negative_oil_price_under_log_return_names_the_day_and_suggests_diff_or_level(tmp_path):
    path, _ = fred_csv(tmp_path, negative=True)
    with pytest.raises(ForecasterError) as raised:
        prepare_series(load_prices(path), DataConfig(source=str(path), transform="log_return", missing="ffill"))
    message = str(raised.value)
    assert "log_return needs positive values" in message and "first on 2020-04-20" in message
    assert "choose the diff or level transform" in message and "\n" not in message


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("Date,Close\n", "no data rows"),
        ("price,volume\n1.0,2\n3.0,4\n", r"no date column.*\['price', 'volume'\].*date, datetime"),
        ("Date,Close\n2024-01-02,1\nnot-a-day,2\n", "date 'not-a-day'.*data row 2"),
        ("Date,Close\n2024-01-02,1\n2024-01-03,2\n2024-01-02,3\n", "duplicate dates.*2024-01-02"),
        ("Date;Close\n2024-01-02;1\n2024-01-03;2\n", "separated by commas, not ';'"),
        ("Date\n2024-01-02\n", "no data columns besides the date"),
    ],
    ids=["empty", "header-only", "no-date-column", "bad-date", "duplicates", "semicolons", "date-only"],
)
def test_bad_csv_names_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataSourceError, match=message) as raised:
        load_prices(path)
    assert "bad.csv" in str(raised.value)
    assert "\n" not in str(raised.value)


def test_missing_file_lists_the_valid_sources(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataSourceError, match=r"no such file: 'x\.csv' \(valid sources: a bundled name"):
        load_prices("x.csv")


def test_directory_is_not_a_csv_file(tmp_path):
    with pytest.raises(DataSourceError, match="is a directory, not a CSV file"):
        load_prices(tmp_path)


def test_bad_ticker_characters_name_the_source_and_valid_kinds():
    with pytest.raises(ForecasterError, match=r"'GS PC!' is not a bundled name.*Yahoo ticker such as \^GSPC"):
        load_prices("GS PC!")


# --- Yahoo Finance through a fake yfinance.download -----------------------------------------


def yahoo_frame(ticker="^GSPC", rows=5) -> pd.DataFrame:
    """A frame shaped like yfinance 1.x's download(..., multi_level_index=True)."""
    columns = pd.MultiIndex.from_product(
        [["Adj Close", "Close", "High", "Low", "Open", "Volume"], [ticker]], names=["Price", "Ticker"]
    )
    dates = pd.bdate_range("2024-01-02", periods=rows, name="Date")
    values = 4700.0 + np.arange(rows * 6, dtype=float).reshape(rows, 6)
    return pd.DataFrame(values, index=dates, columns=columns)


class FakeDownload:
    """Stands in for yfinance.download: records calls, returns a frame or raises."""

    def __init__(self, result):
        self.result = result
        self.calls = []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def test_ticker_is_downloaded_flattened_and_cached(tmp_path, monkeypatch):
    fake = FakeDownload(yahoo_frame())
    monkeypatch.setattr("yfinance.download", fake)
    frame = load_prices("^GSPC", start="2024-01-01", end="2024-02-01", cache_dir=tmp_path)
    assert list(frame.columns) == ["Adj Close", "Close", "High", "Low", "Open", "Volume"]
    assert frame.index.name == "date" and len(frame) == 5
    assert (frame.dtypes == "float64").all()
    assert fake.calls[0][1]["auto_adjust"] is False and fake.calls[0][1]["interval"] == "1d"
    cached = files_under(tmp_path)
    assert [path.name for path in cached] == ["caret_GSPC_2024-01-01_2024-02-01_1d.csv"]
    assert not list(tmp_path.rglob("*.tmp"))
    again = load_prices("^gspc", start="2024-01-01", end="2024-02-01", cache_dir=tmp_path)
    assert len(fake.calls) == 1
    pd.testing.assert_frame_equal(again, frame)


def test_flat_columns_from_yfinance_are_accepted(tmp_path, monkeypatch):
    flat = yahoo_frame("AAPL").droplevel("Ticker", axis=1)
    monkeypatch.setattr("yfinance.download", FakeDownload(flat))
    frame = load_prices("AAPL", cache_dir=tmp_path)
    assert frame["Close"].iloc[0] == flat["Close"].iloc[0]


def test_empty_download_says_offline_and_caches_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr("yfinance.download", FakeDownload(yahoo_frame(rows=0)))
    with pytest.raises(DataSourceError, match=r"no data for ticker '\^XYZ'.*offline source"):
        load_prices("^XYZ", cache_dir=tmp_path)
    assert files_under(tmp_path) == []


def test_download_exception_becomes_data_source_error(tmp_path, monkeypatch):
    monkeypatch.setattr("yfinance.download", FakeDownload(ConnectionError("network unreachable")))
    with pytest.raises(DataSourceError, match="'MSFT'.*network unreachable.*offline source"):
        load_prices("MSFT", cache_dir=tmp_path)
    assert files_under(tmp_path) == []


def test_failed_cache_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    monkeypatch.setattr("yfinance.download", FakeDownload(yahoo_frame()))

    def failing_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.warns(UserWarning, match="could not cache.*disk full"):
        frame = load_prices("^GSPC", cache_dir=tmp_path)
    assert len(frame) == 5
    assert files_under(tmp_path) == []


def test_cache_names_keep_tickers_apart(tmp_path, monkeypatch):
    monkeypatch.setattr("yfinance.download", FakeDownload(yahoo_frame("GSPC")))
    load_prices("GSPC", start="2024-01-01", cache_dir=tmp_path)
    monkeypatch.setattr("yfinance.download", FakeDownload(yahoo_frame("^GSPC")))
    load_prices("^GSPC", start="2024-01-01", cache_dir=tmp_path)
    names = [path.name for path in files_under(tmp_path)]
    assert len(names) == 2 and names[0].startswith("GSPC_") and names[1].startswith("caret_GSPC_")


def test_default_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FORECASTER_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("FORECASTER_CACHE")
    assert default_cache_dir().parts[-2:] == (".cache", "forecaster")
