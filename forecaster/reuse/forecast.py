"""Forecast the future: the next ``horizon`` values after the last observation, from a saved model."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from torch import nn

from forecaster.checkpoint import Checkpoint
from forecaster.data.features import invert_transform
from forecaster.output.folders import write_folder


def future_dates(index: pd.DatetimeIndex, horizon: int) -> pd.DatetimeIndex:
    """The ``horizon`` dates after ``index``'s last one, at the series' own frequency.

    Daily series that skip weekends (prices) continue on business days; otherwise the frequency pandas
    infers from the last dates, or failing that the median spacing.
    """
    recent = index[-30:]
    frequency = _infer_freq(recent) if len(recent) >= 3 else None
    if frequency is None:
        spacing = pd.Series(recent).diff().median()
        weekdays_only = (recent.day_of_week < 5).all()
        if spacing <= pd.Timedelta(days=1) * 1.5 and weekdays_only:
            frequency = "B"  # trading days: holidays make pandas give up, but the rhythm is business days
        else:
            frequency = pd.tseries.frequencies.to_offset(spacing)
    return pd.date_range(index[-1], periods=horizon + 1, freq=frequency)[1:]


def _infer_freq(dates: pd.DatetimeIndex):
    """``pd.infer_freq`` as pandas 4 will give it: an offset, or None (pandas 3.1+ warns unless asked for that)."""
    try:
        pd.get_option("future.infer_freq_returns_offset")
    except KeyError:  # pandas before 3.1 has no such option (OptionError is a KeyError) and returns a string
        return pd.infer_freq(dates)
    with pd.option_context("future.infer_freq_returns_offset", True):
        return pd.infer_freq(dates)


def forecast_future(
    model: nn.Module, checkpoint: Checkpoint, frame: pd.DataFrame, *, column: str | None = None, source: str | None = None,
) -> pd.DataFrame:
    """The model's forecast of the next ``horizon`` values of ``frame``, in the series' units.

    The checkpoint fixes the input columns, the target transform and the scaling (from its training
    span; a global model's own series by ``source``, others by their own statistics, see
    ``Checkpoint.read_series``); ``column`` renames the target when the new data calls it something else.
    """
    inputs = checkpoint.read_series(frame, column=column, source=source)
    series = inputs.series
    window = torch.tensor(inputs.frames[-checkpoint.dims.context :], dtype=torch.float32)[None]  # (1, T, C)
    with torch.no_grad():
        scaled = model.eval()(window).double().numpy()[..., 0]  # (1, H, K) -> (1, H): the one target
    values = invert_transform(inputs.unscale_target(scaled), series.levels[-1:], series.transform)[0]  # (H,)
    table = pd.DataFrame({"date": future_dates(series.dates, checkpoint.dims.horizon), "forecast": values})
    table.attrs["target"] = series.columns[0]  # the column forecast (a global model's differ by series)
    return table


def save_forecast(table: pd.DataFrame, out: str | Path) -> Path:
    """Write the folder ``out`` holding ``forecast.csv`` (date, forecast), atomically; returns it."""
    return write_folder(out, lambda folder: table.to_csv(folder / "forecast.csv", index=False))
