"""Forecast dates follow the exchange's trading calendar: the mapping, the sessions, the fallbacks, the CLI."""

from __future__ import annotations

import importlib.util
import sys
import warnings

import pandas as pd
import pytest

from forecaster.cli import main
from forecaster.config import config_from_dict
from forecaster.data.exchanges import calendar_name, exchange_of
from forecaster.errors import ForecasterError
from forecaster.reuse.forecast import Forecaster, future_dates
from forecaster.runs.experiment import run_experiment, save_run

needs_calendars = pytest.mark.skipif(importlib.util.find_spec("exchange_calendars") is None,
                                     reason="exchange_calendars is not installed (pip install 'forecaster[calendars]')")
DECEMBER = pd.bdate_range("2024-12-02", "2024-12-31")  # ends on Tuesday 2024-12-31; New Year's Day is a Wednesday


def days(*dates: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(date) for date in dates]


@pytest.mark.parametrize(("source", "exchange"), [
    ("sp500", "XNYS"), ("SP500", "XNYS"), ("sunspots", None), ("synthetic", None),
    ("^GSPC", "XNYS"), ("^dji", "XNYS"), ("^IXIC", "XNYS"), ("^NDX", "XNYS"), ("^RUT", "XNYS"),
    ("AAPL", "XNYS"), ("brk-b", "XNYS"), ("VOD.L", "XLON"), ("SAP.DE", "XETR"), ("MC.PA", "XPAR"), ("7203.T", "XTKS"),
    ("0700.HK", "XHKG"), ("RY.TO", "XTSE"), ("ASML.AS", "XAMS"), ("NESN.SW", "XSWX"), ("X.XX", None),
    ("BTC-USD", "24/7"), ("ETH-EUR", "24/7"), ("ES=F", None), ("EURUSD=X", None),
    ("prices.csv", None), ("data/AAPL", None), (None, None),
])
def test_exchange_of_a_source(source, exchange):
    assert exchange_of(source) == exchange


@needs_calendars
def test_new_years_day_is_no_nyse_session():
    assert list(future_dates(DECEMBER, 3, exchange="XNYS")) == days("2025-01-02", "2025-01-03", "2025-01-06")
    assert list(future_dates(DECEMBER, 3, exchange="xnys")) == days("2025-01-02", "2025-01-03", "2025-01-06")


@needs_calendars
def test_good_friday_is_no_nyse_session():
    march = pd.bdate_range("2024-03-01", "2024-03-28")  # Thursday before Good Friday 2024-03-29
    assert list(future_dates(march, 2, exchange="XNYS")) == days("2024-04-01", "2024-04-02")
    assert list(future_dates(march, 2)) == days("2024-03-29", "2024-04-01")  # no exchange: business days


def test_no_exchange_gives_business_days_and_24_7_every_day():
    assert list(future_dates(DECEMBER, 3, exchange="none")) == days("2025-01-01", "2025-01-02", "2025-01-03")
    assert list(future_dates(DECEMBER, 3)) == days("2025-01-01", "2025-01-02", "2025-01-03")
    every_day = pd.date_range("2024-12-01", "2024-12-27")  # ends on a Friday
    assert list(future_dates(every_day, 3, exchange="24/7")) == days("2024-12-28", "2024-12-29", "2024-12-30")
    assert list(future_dates(DECEMBER, 2, exchange=exchange_of("BTC-USD"))) == days("2025-01-01", "2025-01-02")


@needs_calendars
def test_a_series_that_is_not_daily_keeps_its_own_frequency():
    months = pd.date_range("2000-01-01", periods=24, freq="MS")
    assert list(future_dates(months, 2, exchange="XNYS")) == days("2002-01-01", "2002-02-01")
    hours = pd.date_range("2024-12-31 00:00", periods=48, freq="h")
    assert future_dates(hours, 1, exchange="XNYS")[0] == pd.Timestamp("2025-01-02 00:00")


def test_future_dates_raise_no_pandas_warning():
    months = pd.date_range("2000-01-01", periods=24, freq="MS")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for index in (DECEMBER, DECEMBER.delete(10), months, pd.date_range("2024-01-01", periods=40, freq="h")):
            future_dates(index, 2)


def test_without_the_package_the_dates_are_business_days(monkeypatch):
    monkeypatch.setitem(sys.modules, "exchange_calendars", None)  # import exchange_calendars raises ImportError
    with pytest.warns(UserWarning, match=r"exchange_calendars is not installed.*pip install 'forecaster\[calendars\]'"):
        dates = future_dates(DECEMBER, 3, exchange="XNYS")
    assert list(dates) == days("2025-01-01", "2025-01-02", "2025-01-03")


@needs_calendars
def test_an_unknown_calendar_is_refused():
    with pytest.raises(ForecasterError, match=r"exchange='XXXX' is not a calendar exchange_calendars knows; valid: e.g. XNYS"):
        calendar_name("XXXX")
    assert calendar_name("none") is None and calendar_name("24/7") == "24/7" and calendar_name("xlon") == "XLON"


@needs_calendars
def test_a_calendar_past_its_known_range_is_one_error():
    # Hong Kong's lunisolar holidays are recorded to 2049: sessions up to then, one error line past it.
    december = pd.bdate_range("2049-12-01", "2049-12-27")
    assert list(future_dates(december, 1, exchange="XHKG")) == days("2049-12-28")
    with pytest.raises(ForecasterError, match=r"^the XHKG calendar of exchange_calendars ends at 2049-12-31, before 5 sessions"):
        future_dates(december, 5, exchange="XHKG")
    with pytest.raises(ForecasterError, match=r"^the XHKG calendar of exchange_calendars cannot give 5 sessions after "
                                              r"2060-12-27: The XHKG holidays are only recorded to the year 2049[^\n]*$"):
        future_dates(pd.bdate_range("2060-12-01", "2060-12-27"), 5, exchange="XHKG")


@pytest.fixture(scope="module")
def checkpoint_path(small_prices, tmp_path_factory):
    """A linear model forecasting 3 days ahead, trained in about a second on the tests' 400 S&P 500 days."""
    config = config_from_dict({
        "data": {"source": "sp500", "transform": "log_return"},
        "windows": {"context": 8, "horizon": 3},
        "train": {"epochs": 2, "batch_size": 32, "patience": 2, "device": "cpu", "seed": 0},
        "models": [{"kind": "naive"}, {"kind": "linear"}],
    })
    folder = save_run(run_experiment(config, frame=small_prices), tmp_path_factory.mktemp("calendar") / "run")
    return folder / "checkpoints" / "linear.pt"


@needs_calendars
def test_forecast_command_follows_the_nyse_calendar(checkpoint_path, tmp_path, capsys):
    # The bundled S&P 500 series ends on Monday 2018-12-31: the next sessions skip New Year's Day.
    assert main(["forecast", str(checkpoint_path), "--data", "sp500", "--out", str(tmp_path / "future")]) == 0
    printed = capsys.readouterr().out
    assert "2019-01-02" in printed and "2019-01-01" not in printed
    assert "dates: XNYS (exchange_calendars)" in printed
    written = pd.read_csv(tmp_path / "future" / "forecast.csv", parse_dates=["date"])
    assert list(written.columns) == ["date", "forecast", "lo_80", "hi_80", "lo_95", "hi_95"]
    assert list(written["date"]) == days("2019-01-02", "2019-01-03", "2019-01-04")


def test_forecast_command_with_exchange_none_gives_business_days(checkpoint_path, capsys):
    assert main(["forecast", str(checkpoint_path), "--data", "sp500", "--exchange", "none"]) == 0
    printed = capsys.readouterr().out
    assert "2019-01-01" in printed and "dates: business days" in printed


@needs_calendars
def test_forecast_command_refuses_an_unknown_exchange_in_one_line(checkpoint_path, capsys):
    assert main(["forecast", str(checkpoint_path), "--exchange", "XXXX"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert captured.err.startswith("error: exchange='XXXX' is not a calendar") and "XNYS" in captured.err


def test_forecast_table_records_the_calendar(checkpoint_path, small_prices, monkeypatch):
    from forecaster.checkpoint import load_model

    model, checkpoint = load_model(checkpoint_path)
    assert Forecaster.from_checkpoint(checkpoint).forecast(small_prices).attrs["calendar"] == "business days"  # no source: as before
    assert Forecaster.from_checkpoint(checkpoint).forecast(small_prices, exchange="24/7").attrs["calendar"] == "every day (24/7)"
    monkeypatch.setitem(sys.modules, "exchange_calendars", None)
    with pytest.warns(UserWarning, match="not installed"):
        table = Forecaster.from_checkpoint(checkpoint).forecast(small_prices, source="sp500")
    assert table.attrs["calendar"] == "business days"
    assert list(table["date"]) == list(pd.bdate_range(small_prices.index[-1], periods=4)[1:])
