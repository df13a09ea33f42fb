"""Forecasting the future from a saved model: the last window, the checkpoint's scaling, the right dates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.checkpoint import load_checkpoint, load_model
from forecaster.cli import main
from forecaster.config import config_from_dict
from forecaster.errors import ForecasterError
from forecaster.reuse.forecast import Forecaster, future_dates
from forecaster.runs.experiment import run_experiment, save_run


def test_future_dates_follow_the_series_rhythm():
    fridays_end = pd.bdate_range("2024-01-01", "2024-03-01")  # ends on a Friday
    assert list(future_dates(fridays_end, 2)) == [pd.Timestamp("2024-03-04"), pd.Timestamp("2024-03-05")]
    with_holiday = fridays_end.delete(10)  # a missing weekday: pandas cannot infer "B", the rhythm still is
    assert future_dates(with_holiday, 1)[0] == pd.Timestamp("2024-03-04")
    months = pd.date_range("2000-01-01", periods=24, freq="MS")
    assert list(future_dates(months, 2)) == [pd.Timestamp("2002-01-01"), pd.Timestamp("2002-02-01")]


@pytest.fixture
def saved_run(small_prices, tiny_config, tmp_path):
    tiny_config["windows"]["horizon"] = 3
    tiny_config["models"] = [{"kind": "naive"}, {"kind": "linear"}]
    result = run_experiment(config_from_dict(tiny_config), frame=small_prices)
    return result, save_run(result, tmp_path / "run")


def test_forecast_uses_the_last_window_and_the_checkpoints_scaling(saved_run, small_prices):
    result, folder = saved_run
    model, checkpoint = load_model(folder / "checkpoints" / "linear.pt")
    table = Forecaster.from_checkpoint(checkpoint).forecast(small_prices)
    # By hand: the last 8 log-returns, scaled with the training span's statistics, through the model.
    returns = np.diff(np.log(small_prices["Adj Close"].to_numpy()))[-8:]
    scale = result.data.pipeline.scale[0]
    scaled = result.runs["linear"].model(torch.tensor(returns / scale, dtype=torch.float32)[None, :, None])
    expected = small_prices["Adj Close"].iloc[-1] * np.exp(np.cumsum(scaled.detach().double().numpy()[0] * scale))
    np.testing.assert_allclose(table["forecast"], expected, rtol=1e-6)
    assert list(table["date"]) == list(pd.bdate_range(small_prices.index[-1], periods=4)[1:])


def test_forecast_needs_a_full_window(saved_run, small_prices):
    _, folder = saved_run
    model, checkpoint = load_model(folder / "checkpoints" / "linear.pt")
    with pytest.raises(ForecasterError, match="needs at least 9"):
        Forecaster.from_checkpoint(checkpoint).forecast(small_prices.iloc[:5])


def test_the_pipeline_reads_and_scales_as_in_training_or_by_the_frames_own(saved_run, small_prices):
    result, folder = saved_run
    checkpoint = load_checkpoint(folder / "checkpoints" / "linear.pt")
    pipeline, context = checkpoint.pipeline, checkpoint.dims.context
    inputs = pipeline.read(small_prices, context=context)  # the checkpoint's transform: the training span's scaler
    np.testing.assert_allclose(inputs.frames, result.data.pipeline.scale_frames(inputs.series.frames), rtol=1e-15)
    assert inputs.unscale_target(inputs.frames[:, 0]) == pytest.approx(inputs.series.frames[:, 0])
    other = pipeline.read(small_prices, context=context, transform="diff")  # another transform: the frames' own scale
    assert other.series.transform.name == "diff" and not other.offset.any()  # differences are not centred
    np.testing.assert_allclose(other.frames.std(axis=0), 1.0)
    with pytest.raises(ForecasterError, match="needs at least 9"):
        pipeline.read(small_prices.iloc[:5], context=context)


def test_forecast_command(saved_run, small_csv, tmp_path, capsys, file_reads):
    _, folder = saved_run
    out = tmp_path / "future"
    assert main(["forecast", str(folder / "checkpoints" / "linear.pt"), "--data", str(small_csv), "--out", str(out)]) == 0
    assert file_reads == [folder / "checkpoints" / "linear.pt"]  # the checkpoint is read once
    printed = capsys.readouterr().out
    assert "linear (linear) forecast of Adj Close" in printed
    written = pd.read_csv(out / "forecast.csv", parse_dates=["date"])
    assert len(written) == 3 and written["forecast"].between(1000, 2000).all()
    assert main(["forecast", str(folder / "checkpoints" / "linear.pt"), "--data", str(small_csv), "--column", "Price"]) == 1
    assert "column 'Price' not found" in capsys.readouterr().err
