"""Forecast the future: the next ``horizon`` values after the last observation, from a saved model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from forecaster.checkpoint import Checkpoint
from forecaster.data.features import invert_transform
from forecaster.errors import ForecasterError
from forecaster.evaluation.conformal import alpha_of, cumulative_to_series
from forecaster.output.folders import write_folder


def future_dates(index: pd.DatetimeIndex, horizon: int) -> pd.DatetimeIndex:
    """The ``horizon`` dates after ``index``'s last one, at the series' own frequency.

    Daily series that skip weekends (prices) continue on business days; otherwise the frequency pandas
    infers from the last dates, or failing that the median spacing.
    """
    recent = index[-30:]
    frequency = pd.infer_freq(recent) if len(recent) >= 3 else None
    if frequency is None:
        spacing = pd.Series(recent).diff().median()
        weekdays_only = (recent.day_of_week < 5).all()
        if spacing <= pd.Timedelta(days=1) * 1.5 and weekdays_only:
            frequency = "B"  # trading days: holidays make pandas give up, but the rhythm is business days
        else:
            frequency = pd.tseries.frequencies.to_offset(spacing)
    return pd.date_range(index[-1], periods=horizon + 1, freq=frequency)[1:]


def forecast_future(
    model: nn.Module, checkpoint: Checkpoint, frame: pd.DataFrame, *, column: str | None = None, source: str | None = None,
    levels: tuple[float, ...] | None = None,
) -> pd.DataFrame:
    """The model's forecast of the next ``horizon`` values of ``frame``, in the series' units, with their intervals.

    The checkpoint fixes the input columns, the target transform and the scaling (from its training
    span; a global model's own series by ``source``, others by their own statistics, see
    ``Checkpoint.read_series``); ``column`` renames the target when the new data calls it something else.
    ``levels`` picks intervals among those the checkpoint was calibrated for (None: all of them, ``()``:
    none); each adds the columns ``lo_<level>`` and ``hi_<level>``, made as in the run (the method is in
    ``table.attrs["intervals"]``).
    """
    calibration = checkpoint.intervals
    levels = (calibration.levels if calibration else ()) if levels is None else tuple(float(level) for level in levels)
    missing = [level for level in levels if calibration is None or level not in calibration.levels]
    if missing:
        known = (f"levels {[float(level) for level in calibration.levels]}" if calibration
                 else "no intervals (a run with intervals.levels=[])")
        raise ForecasterError(f"levels={missing} were not calibrated for this model; it has {known}")
    inputs = checkpoint.read_series(frame, column=column, source=source)
    series = inputs.series
    window = torch.tensor(inputs.frames[-checkpoint.dims.context :], dtype=torch.float32)[None]  # (1, T, C)
    with torch.no_grad():
        scaled = model.eval()(window).double().numpy()[:, :, 0]  # (1, H) or (1, H, Q): the one target
    anchors = series.levels[-1:]
    if scaled.ndim == 3:  # a quantile head: sorted quantiles of the cumulative change (or of the level)
        quantiles = cumulative_to_series(inputs.unscale_target(np.sort(scaled, axis=-1)), anchors, series.transform)[0]
        taus = checkpoint.dims.quantiles
        values = quantiles[:, taus.index(0.5)]
        bounds = {level: (quantiles[:, taus.index(round(alpha_of(level) / 2, 10))],
                          quantiles[:, taus.index(round(1 - alpha_of(level) / 2, 10))]) for level in levels}
    else:
        values = invert_transform(inputs.unscale_target(scaled), anchors, series.transform)  # (1, H)
        if levels:
            lower, upper = calibration.bounds(values, anchors, series.transform)  # (1, H, L)
            bounds = {level: (lower[0, :, i], upper[0, :, i]) for i, level in enumerate(calibration.levels) if level in levels}
        values = values[0]
    table = pd.DataFrame({"date": future_dates(series.dates, checkpoint.dims.horizon), "forecast": values})
    for level in levels:
        table[f"lo_{level:g}"], table[f"hi_{level:g}"] = bounds[level]
    table.attrs["target"] = series.columns[0]  # the column forecast (a global model's differ by series)
    table.attrs["intervals"] = calibration.method if levels else None
    return table


def save_forecast(table: pd.DataFrame, out: str | Path) -> Path:
    """Write the folder ``out`` holding ``forecast.csv`` (date, forecast, and lo_/hi_ bounds), atomically; returns it."""
    return write_folder(out, lambda folder: table.to_csv(folder / "forecast.csv", index=False))
