"""Long-format panels (one row per series and time: unique_id, ds, y and covariates): read into one frame per series,
run as one global model from the CLI and from Python, and every bad table a one-line error that writes nothing."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecaster.checkpoint import load_checkpoint
from forecaster.cli import main
from forecaster.config import read_config
from forecaster.data.features import DataConfig
from forecaster.data.panel import is_step_frame, long_options, long_source, read_long, steps_of
from forecaster.errors import ForecasterError
from forecaster.reuse.forecast import Forecaster
from forecaster.runs.backtest import run_backtest
from forecaster.runs.experiment import run_experiment
from forecaster.runs.multiseries import GlobalResult
from forecaster.runs.seeds import run_seeds
from forecaster.runs.series import POOLED, is_global, load_data, series_labels

# Three daily series of different lengths and starts, in the order they first appear in the file.
SERIES = [("A", "2020-01-01", 200), ("B", "2020-02-15", 160), ("C", "2019-12-01", 240)]
RUN = ["--set", "windows.context=8", "--set", "train.epochs=1", "--set", "models=naive,linear", "--threads", "1", "--quiet"]


def long_table(series=SERIES, freq: str = "D") -> pd.DataFrame:
    rng = np.random.default_rng(0)
    parts = []
    for uid, start, length in series:
        dates = pd.date_range(start, periods=length, freq=freq)
        y = 50 + np.cumsum(rng.normal(size=length)) + 3 * np.sin(np.arange(length) / 7)
        parts.append(pd.DataFrame({"unique_id": uid, "ds": dates, "y": y, "price": rng.normal(size=length),
                                   "note": "text"}))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture
def panel(tmp_path: Path) -> Path:
    path = tmp_path / "panel.csv"
    # Rows of B and C interleaved and out of date order: the reader sorts each series, keeps first-appearance order.
    table = long_table()
    order = np.r_[np.arange(200), 200 + np.arange(160)[::-1], 360 + np.arange(240)]
    table.iloc[order].to_csv(path, index=False, date_format="%Y-%m-%d")
    return path


def test_a_long_csv_reads_as_one_frame_per_series_with_its_own_dates(panel):
    frames = read_long(panel)
    assert list(frames) == ["A", "B", "C"]
    table = long_table()
    for uid, start, length in SERIES:
        frame = frames[uid]
        assert isinstance(frame.index, pd.DatetimeIndex) and frame.index.name == "date"
        assert frame.index.equals(pd.date_range(start, periods=length, freq="D"))
        assert list(frame.columns) == ["y", "price"]  # the text column is not an input
        own = table[table["unique_id"] == uid]
        np.testing.assert_allclose(frame["y"].to_numpy(), own["y"].to_numpy())
        np.testing.assert_allclose(frame["price"].to_numpy(), own["price"].to_numpy())
    assert list(read_long(long_table().astype({"unique_id": str}))) == ["A", "B", "C"]  # a DataFrame reads the same


@pytest.mark.parametrize("freq, expected", [("MS", "MS"), ("h", "h")])
def test_monthly_and_hourly_series_read_and_a_gap_names_the_first_missing_date(freq, expected):
    table = long_table([("x", "2001-01-01", 30), ("y", "2002-03-01", 20)], freq=freq)
    assert [len(frame) for frame in read_long(table).values()] == [30, 20]
    gap = table.drop(index=[35, 36])  # the 6th and 7th dates of y
    missing = pd.date_range("2002-03-01", periods=6, freq=freq)[-1]
    with pytest.raises(ForecasterError, match=f"series 'y' misses 2 date.*frequency {expected}, the first {missing:%Y-%m-%d}"):
        read_long(gap)


def test_forecaster_run_on_a_long_csv_is_one_global_run_over_its_series(panel, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--data", str(panel), *RUN, "--out", str(out)]) == 0
    assert "series C:" in capsys.readouterr().out
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics["series"]) == ["A", "A", "B", "B", "C", "C", POOLED, POOLED]
    assert sorted(pd.read_csv(out / "predictions.csv")["series"].unique()) == ["A", "B", "C"]
    assert {"forecasts_A.png", "forecasts_C.png", "checkpoints"} <= {path.name for path in out.iterdir()}
    config = read_config(out / "config.yaml")
    assert is_global(config) and list(load_data(config)) == ["A", "B", "C"]


def test_data_format_long_with_custom_column_names(panel, tmp_path):
    renamed = tmp_path / "sales.csv"
    pd.read_csv(panel).rename(columns={"unique_id": "store", "ds": "day", "y": "sales"}).to_csv(renamed, index=False)
    out = tmp_path / "out"
    assert main(["run", "--data", str(renamed), "--set", "data.format=long", "--set", "data.id_column=store",
                 "--set", "data.time_column=day", "--set", "data.value_column=sales", *RUN, "--out", str(out)]) == 0
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics["series"].unique()) == ["A", "B", "C", POOLED]
    assert load_checkpoint(out / "checkpoints" / "linear.pt").pipeline.columns == ("sales",)  # the value column is the target


def test_run_experiment_splits_a_long_dataframe_as_the_file_is_split(panel):
    config = read_config(None, ["windows.context=8", "train.epochs=1", "models=naive,linear", "train.device=cpu"])
    from_frame = run_experiment(config, frame=long_table())
    assert isinstance(from_frame, GlobalResult) and list(from_frame.parts) == ["A", "B", "C"]
    assert all(part.data.series.target_names == ("y",) for part in from_frame.parts.values())
    from_file = run_experiment(read_config(None, [f"data.source={panel}", "windows.context=8", "train.epochs=1",
                                                  "models=naive,linear", "train.device=cpu"]))
    ignore = [column for column in from_file.metrics.columns if "seconds" in column]
    pd.testing.assert_frame_equal(from_frame.metrics.drop(columns=ignore), from_file.metrics.drop(columns=ignore))


def test_a_backtest_and_a_seeds_run_split_a_long_dataframe_too():
    config = read_config(None, ["windows.context=8", "train.epochs=1", "models=naive,linear", "train.device=cpu"])
    backtest = run_backtest(config, folds=2, frame=long_table())
    assert len(backtest.runs) == 2 and all(list(run.parts) == ["A", "B", "C"] for run in backtest.runs.values())
    assert [list(run.parts) for run in run_seeds(config, seeds=(0, 1), frame=long_table()).values()] == [["A", "B", "C"]] * 2


def test_bundled_names_and_wide_csvs_are_not_read_as_long(tmp_path):
    wide = tmp_path / "wide.csv"
    pd.DataFrame({"date": pd.date_range("2020-01-01", periods=5), "y": range(5)}).to_csv(wide, index=False)
    assert not long_source(DataConfig(source="sp500")) and not long_source(DataConfig(source=str(wide)))
    assert not long_source(DataConfig(source=("sp500", "sunspots"))) and series_labels(("sp500",)) == ["sp500"]
    with pytest.raises(ForecasterError, match="data.format=long reads one file holding every series, and data.source lists 2"):
        long_source(DataConfig(source=("a.csv", "b.csv"), format="long"))


def _missing_column(table):
    return table.rename(columns={"y": "value"})


def _duplicate(table):
    return pd.concat([table, table.iloc[[210]]], ignore_index=True)


def _gap(table):
    return table.drop(index=[215])


def _mixed(table):
    monthly = long_table([("M", "2015-01-31", 40)], freq="ME")
    return pd.concat([table, monthly], ignore_index=True)


def _short(table):
    return pd.concat([table, table.iloc[[0]].assign(unique_id="D")], ignore_index=True)


def _text(table):
    return table.astype({"y": object}).assign(y=lambda t: t["y"].where(t.index != 220, "n/a?"))


BAD = {
    "missing column": (_missing_column, "has no column 'y' .*found columns: unique_id, ds, value, price, note"),
    "duplicate": (_duplicate, r"series 'B' has 2 rows for 2020-02-25 \(data rows 211, 601\)"),
    "gap": (_gap, "series 'B' misses 1 date.* of its frequency D, the first 2020-03-01"),
    "mixed frequencies": (_mixed, "series 'A' has frequency D and series 'M' ME"),
    "short series": (_short, r"series 'D' has 1 row \(data row 601\)"),
    "text in y": (_text, r"series 'B' has a non-numeric y 'n/a\?' in data row 221"),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_long_table_is_one_line_naming_the_series_and_rows_and_writes_nothing(case, tmp_path, capsys):
    change, message = BAD[case]
    bad = tmp_path / "bad.csv"
    change(long_table()).to_csv(bad, index=False, date_format="%Y-%m-%d")
    with pytest.raises(ForecasterError, match=message):
        read_long(bad)
    out = tmp_path / "out"
    assert main(["run", "--data", str(bad), "--set", "data.format=long", *RUN, "--out", str(out)]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1, error
    assert not out.exists() and not list(tmp_path.glob("out*"))


def test_a_long_parquet_file_reads_as_its_csv(panel, tmp_path):
    pytest.importorskip("pyarrow", reason="pyarrow is not installed: pip install 'forecaster[parquet]'")
    path = tmp_path / "panel.parquet"
    pd.read_csv(panel, dtype={"unique_id": str}, parse_dates=["ds"]).to_parquet(path)
    from_parquet, from_csv = read_long(path), read_long(panel)
    assert list(from_parquet) == list(from_csv)
    for label in from_csv:
        pd.testing.assert_frame_equal(from_parquet[label], from_csv[label])
    assert long_source(DataConfig(source=str(path)))


def test_a_parquet_file_without_pyarrow_is_one_line_naming_the_extra(tmp_path, monkeypatch):
    path = tmp_path / "panel.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow now raises ImportError
    with pytest.raises(ForecasterError, match=r"Parquet file, and reading Parquet needs pyarrow: pip install 'forecaster\[parquet\]'"):
        read_long(path)


def test_forecast_of_a_long_table_forecasts_every_series_as_each_alone(panel, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "--data", str(panel), *RUN, "--out", str(out)]) == 0
    capsys.readouterr()
    checkpoint = out / "checkpoints" / "linear.pt"
    assert main(["forecast", str(checkpoint), "--data", str(panel), "--out", str(tmp_path / "next")]) == 0
    assert "forecast of the 3 series" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "next" / "forecast.csv", parse_dates=["ds"]).rename(columns={"ds": "date"})
    assert list(table["unique_id"].unique()) == ["A", "B", "C"] and table.columns[0] == "unique_id"
    forecaster_ = Forecaster.load(checkpoint)
    for uid, frame in read_long(panel).items():  # each series read as trained: its own scaling and calibration
        alone = forecaster_.forecast(frame, source=uid)
        own = table[table["unique_id"] == uid].drop(columns="unique_id").reset_index(drop=True)
        pd.testing.assert_frame_equal(own, alone, check_exact=False, rtol=1e-12, check_freq=False)
    assert main(["forecast", str(checkpoint), "--data", str(panel), "--future", str(panel)]) == 1
    assert "forecast each series from its own file" in capsys.readouterr().err


def step_table() -> pd.DataFrame:
    """``long_table``'s series at integer time steps (NeuralForecast's integer ds): A from 0, B from 40, C from -5."""
    table = long_table()
    starts = {"A": 0, "B": 40, "C": -5}
    table["ds"] = [starts[uid] + k for uid, k in zip(table["unique_id"], table.groupby("unique_id").cumcount())]
    return table


def trading_days(start: str, length: int) -> pd.DatetimeIndex:
    """Business days less the ones a market closes on: every 17th, as holidays would."""
    days = pd.bdate_range(start, periods=length + length // 16 + 1)
    return days[np.arange(len(days)) % 17 != 5][:length]


def test_a_given_frequency_is_checked_for_every_series_and_rows_reads_trading_sessions():
    table = long_table([("x", "2021-01-04", 60), ("y", "2021-02-01", 40)], freq="B")
    sessions = table.assign(ds=np.r_[trading_days("2021-01-04", 60), trading_days("2021-02-01", 40)])
    with pytest.raises(ForecasterError, match="series 'x' misses .* its frequency D, the first 2021-01-09.*data.frequency"):
        read_long(sessions)  # inferred: days, whose weekends and holidays are gaps
    with pytest.raises(ForecasterError, match="series 'x' misses 4 date.*data.frequency=B, the first 2021-01-11.*rows"):
        read_long(sessions, frequency="B")
    frames = read_long(sessions, frequency="rows")
    assert [len(frame) for frame in frames.values()] == [60, 40]
    assert frames["x"].index.equals(pd.DatetimeIndex(trading_days("2021-01-04", 60), name="date"))
    assert list(read_long(table, frequency="B")) == ["x", "y"]
    with pytest.raises(ForecasterError, match="series 'x' has dates off data.frequency=W-SUN, the first 2021-01-04"):
        read_long(table, frequency="W-SUN")
    daily = long_table([("x", "2021-01-01", 30)], freq="D")
    assert len(read_long(daily, frequency="D")["x"]) == 30
    with pytest.raises(ForecasterError, match="series 'x' misses 1 date.*data.frequency=D, the first 2021-01-06"):
        read_long(daily.drop(index=5), frequency="D")


def test_a_bad_frequency_is_one_line_naming_valid_ones_and_integer_steps_refuse_a_calendar_one():
    with pytest.raises(ForecasterError, match="data.frequency='monthly' is not a pandas frequency; use an alias such as"):
        DataConfig(frequency="monthly")
    with pytest.raises(ForecasterError, match="data.frequency=MS reads calendar dates"):
        read_long(step_table(), **long_options(DataConfig(frequency="MS")))
    assert len(read_long(step_table(), **long_options(DataConfig(frequency="rows")))) == 3


def test_a_run_of_trading_sessions_with_data_frequency_rows(tmp_path):
    table = long_table([("x", "2021-01-04", 200), ("y", "2021-02-01", 160)], freq="B")
    path = tmp_path / "sessions.csv"
    table.assign(ds=np.r_[trading_days("2021-01-04", 200), trading_days("2021-02-01", 160)]).to_csv(path, index=False)
    assert main(["run", "--data", str(path), "--set", "data.frequency=rows", *RUN, "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "metrics_by_series.csv").exists()


def test_integer_ds_are_time_steps_and_a_missing_step_is_a_gap():
    frames = read_long(step_table())
    assert [is_step_frame(frame) for frame in frames.values()] == [True] * 3
    assert list(steps_of(frames["B"].index)) == list(range(40, 200))
    assert list(frames["C"].columns) == ["y", "price"] and len(frames["C"]) == 240
    with pytest.raises(ForecasterError, match=r"series 'B' misses ds 45 \(it jumps from 44 to 46\)"):
        read_long(step_table().drop(index=205))
    with pytest.raises(ForecasterError, match="series 'A' has 2 rows for step 3"):
        read_long(pd.concat([step_table(), step_table().iloc[[3]]], ignore_index=True))
    # Eight-digit integers that are all dates (20240131) read as dates, as they did.
    dated = pd.DataFrame({"unique_id": "a", "ds": [20240130, 20240131, 20240201], "y": [1.0, 2.0, 3.0]})
    assert list(read_long(dated)["a"].index) == list(pd.date_range("2024-01-30", periods=3))


@pytest.mark.parametrize("setting", ["data.calendar=[day_of_week]", "data.holidays=US", "data.start=2020-01-01"])
def test_integer_ds_refuse_a_setting_that_reads_dates_in_one_line(setting, tmp_path, capsys):
    path = tmp_path / "steps.csv"
    step_table().to_csv(path, index=False)
    assert main(["run", "--data", str(path), "--set", setting, *RUN, "--out", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    key = setting.split("=")[0]
    assert len(error.splitlines()) == 1 and f"{key}=" in error and "integer time steps" in error and f"leave {key} out" in error


def test_a_run_and_a_forecast_of_integer_ds_continue_the_steps(tmp_path, capsys):
    path = tmp_path / "steps.csv"
    step_table().to_csv(path, index=False)
    out = tmp_path / "run"
    assert main(["run", "--data", str(path), *RUN, "--out", str(out)]) == 0
    assert main(["forecast", str(out / "checkpoints" / "linear.pt"), "--data", str(path), "--out", str(tmp_path / "next")]) == 0
    table = pd.read_csv(tmp_path / "next" / "forecast.csv")
    assert list(table["ds"]) == [200, 200, 235]  # each series' next step (horizon 1): A 0..199, B 40..199, C -5..234
    predictions = pd.read_csv(out / "predictions.csv")  # the run's own tables show the steps too, not 1970's seconds
    assert pd.api.types.is_integer_dtype(predictions["date"]) and pd.api.types.is_integer_dtype(predictions["origin"])
    last = predictions.groupby("series")["date"].max()
    assert dict(last) == {"A": 199, "B": 199, "C": 234} and (predictions["date"] == predictions["origin"] + 1).all()


def test_a_backtest_of_integer_ds_shows_its_folds_test_steps():
    config = read_config(None, ["windows.context=8", "train.epochs=1", "models=naive", "backtest.folds=2"])
    folds = run_backtest(config, frame=step_table(), progress=False).fold_metrics
    assert pd.api.types.is_integer_dtype(folds["test_start"]) and folds["test_end"].max() == 234


def test_data_frequency_for_data_that_is_not_a_long_table_is_one_line(tmp_path, capsys):
    assert main(["run", "--data", "synthetic", "--set", "data.frequency=D", *RUN, "--out", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "data.frequency=D is read for long tables" in error
    assert not (tmp_path / "out").exists()
