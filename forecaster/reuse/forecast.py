"""Forecast the future: the next ``horizon`` values after the last observation, from a trained model and its pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from forecaster.checkpoint import Checkpoint, load_checkpoint
from forecaster.data.calendar import inferred_frequency
from forecaster.data.exchanges import ALWAYS_OPEN, PACKAGE, calendar_name, exchange_of, sessions_after
from forecaster.data.panel import is_step_frame, steps_of
from forecaster.data.pipeline import Pipeline, ScaledSeries
from forecaster.errors import ForecasterError
from forecaster.evaluation.conformal import CALIBRATED_METHODS, Calibration, quantile_bounds, quantile_levels
from forecaster.models import POINT, ModelDims, QuantileHead
from forecaster.models.pretrained import PretrainedConfig, build_pretrained
from forecaster.output.folders import write_folder


def future_dates(index: pd.DatetimeIndex, horizon: int, *, exchange: str | None = None) -> pd.DatetimeIndex:
    """The ``horizon`` dates after ``index``'s last one: the exchange's sessions, else the series' own frequency.

    A daily series with an ``exchange`` (a calendar name such as ``"XNYS"``, see
    ``forecaster.data.exchanges``) continues on that exchange's next sessions, ``"24/7"`` on every day.
    Otherwise (no exchange, ``"none"``, a series that is not daily, or ``exchange_calendars`` not
    installed) daily series that skip weekends (prices) continue on business days, and others at the
    frequency pandas infers from the last dates, or failing that the median spacing.
    """
    return _future_dates(index, horizon, exchange)[0]


def _future_dates(index: pd.DatetimeIndex, horizon: int, exchange: str | None) -> tuple[pd.DatetimeIndex, str]:
    """:func:`future_dates` and the calendar that made them, in words (``"XNYS (exchange_calendars)"``)."""
    recent = index[-30:]
    if len(recent) < 2:
        raise ForecasterError(f"the series has {len(recent)} date(s); its next dates follow the step between its last "
                              "ones, so it needs at least 2")
    calendar = None if exchange is None else calendar_name(exchange)
    spacing = pd.Series(recent).diff().median()
    daily = bool((recent == recent.normalize()).all()) and pd.notna(spacing) and spacing <= pd.Timedelta(days=1.5)
    if daily and calendar == ALWAYS_OPEN:
        return pd.date_range(index[-1], periods=horizon + 1, freq="D")[1:], "every day (24/7)"
    if daily and calendar is not None:
        sessions = sessions_after(index[-1], horizon, calendar)
        if sessions is not None:
            return sessions.as_unit(index.unit), f"{calendar} ({PACKAGE})"
    frequency = _frequency(recent, spacing)
    dates = pd.date_range(index[-1], periods=horizon + 1, freq=frequency)[1:]
    name = pd.tseries.frequencies.to_offset(frequency).freqstr
    return dates, {"B": "business days", "D": "every day"}.get(name, f"the series' frequency ({name})")


def _frequency(recent: pd.DatetimeIndex, spacing: pd.Timedelta):
    """The frequency of the last dates: pandas' inference, business days for prices, else the median spacing."""
    frequency = inferred_frequency(recent)
    if frequency is None:
        weekdays_only = (recent.day_of_week < 5).all()
        if spacing <= pd.Timedelta(days=1) * 1.5 and weekdays_only:
            frequency = "B"  # trading days: holidays make pandas give up, but the rhythm is business days
        else:
            frequency = pd.tseries.frequencies.to_offset(spacing)
    return frequency


@dataclass(frozen=True, eq=False)
class Forecaster:
    """A trained model and the fitted pipeline that feeds it: ``forecast(frame)`` gives the next values in the frame's units.

    The pipeline fixes the input columns, the target transform and the scaling (from the training span; a global
    model's own series by ``source``, others by their own statistics, see ``Pipeline.read``); ``intervals`` is how
    the run calibrated the model's intervals (None: points only, unless its head is distributional).
    """

    model: nn.Module
    pipeline: Pipeline
    dims: ModelDims
    intervals: Calibration | None = None
    name: str = "model"
    series_intervals: tuple[Calibration | None, ...] = ()  # a global model's: each series' own, as pipeline.series

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint) -> Forecaster:
        """The model a checkpoint holds (rebuilt in eval mode) with its pipeline and intervals."""
        return cls(model=checkpoint.model(), pipeline=checkpoint.pipeline, dims=checkpoint.dims, intervals=checkpoint.intervals,
                   name=checkpoint.name, series_intervals=checkpoint.series_intervals)

    @classmethod
    def pretrained(cls, weights: str | Path | None = None, *, horizon: int,
                   levels: tuple[float, ...] = (80.0, 95.0), context: int | None = None) -> Forecaster:
        """The pretrained forecaster (``models/pretrained.py``) for any series, zero-shot, with no checkpoint: its
        weights (``weights``, None: the shipped ones) read the newest ``context`` values (None: its whole context) of
        the series it is given (a shorter series padded), each scaled by its own statistics, and forecast ``horizon``
        steps with the quantiles of ``levels``. ``reuse/pretrained_context.py`` chooses a context from the data."""
        levels = tuple(float(level) for level in levels)
        if horizon < 1:
            raise ForecasterError(f"horizon={horizon} must be at least 1")
        head = QuantileHead.for_levels(levels) if levels else POINT
        config = PretrainedConfig(weights=None if weights is None else str(weights))
        model = build_pretrained(config, horizon=horizon, targets=1, observed=True, head=head)
        whole = model.architecture.context
        if context is not None and not 1 <= context <= whole:
            raise ForecasterError(f"context={context}: the pretrained forecaster reads from 1 to {whole} values")
        dims = ModelDims(context=context or whole, horizon=horizon, channels=2, differenced=False, no_change=0.0,
                         head=head, observed=True)
        return cls(model=model, pipeline=Pipeline.pooled_levels(observed=True), dims=dims,
                   intervals=Calibration("quantile", levels) if levels else None, name="pretrained")

    def calibration(self, source: str | None = None) -> Calibration | None:
        """How the intervals of series ``source`` are made: a global model's own series' calibration (in that series'
        units); for a series it never saw, a distributional head's (the model forecasts the bounds) and no radii,
        which are in another series' units; else the model's."""
        if not self.pipeline.series or not self.series_intervals:
            return self.intervals
        record = self.pipeline.series_record(source)
        if record is not None:
            return self.series_intervals[self.pipeline.series.index(record)]
        return None if self.intervals is None or self.intervals.method in CALIBRATED_METHODS else self.intervals

    def target_levels(self, frame: pd.DataFrame, *, column: str | None = None) -> np.ndarray:
        """The values of the target ``frame`` is read for (its first target's), as this forecaster reads them."""
        levels = self.pipeline.read(frame, context=self.dims.context, column=column).series.levels
        return levels if levels.ndim == 1 else levels[:, 0]

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        """The forecaster saved at ``path`` (a checkpoint written by a run)."""
        return cls.from_checkpoint(load_checkpoint(path))

    def forecast(self, frame: pd.DataFrame, *, column: str | None = None, source: str | None = None,
                 levels: tuple[float, ...] | None = None, exchange: str | None = None,
                 future: pd.DataFrame | None = None) -> pd.DataFrame:
        """The forecast of the next ``horizon`` values of ``frame``, in the series' units, with their intervals.

        ``column`` renames the target when the new data calls it something else; ``source`` names the series (a
        global model's own is read with its own columns and scaling). ``levels`` picks intervals among those the
        model was calibrated for (None: all of them, ``()``: none); each adds the columns ``lo_<level>`` and
        ``hi_<level>``, made as in the run (the method is in ``table.attrs["intervals"]``). The dates follow the
        trading calendar ``exchange`` (default: ``exchange_of(source)``; ``"none"``: business days), see
        :func:`future_dates`; ``table.attrs["calendar"]`` says which calendar made them. A model that reads inputs
        known ahead gets its calendar and holiday channels from those dates, and its future columns from ``future``
        (a frame indexed by date holding them on every forecast date; see ``Pipeline.future_inputs``). With several
        targets the table has a row per date and target (a ``target`` column), each target's bounds calibrated on
        its own validation forecasts.
        """
        calibration = self.calibration(source)
        levels = (calibration.levels if calibration else ()) if levels is None else tuple(float(level) for level in levels)
        missing = [level for level in levels if calibration is None or level not in calibration.levels]
        if missing:
            known = (f"levels {[float(level) for level in calibration.levels]}" if calibration
                     else "none for a series it never saw (each series' are in its own units)" if self.intervals
                     else "no intervals (a run with intervals.levels=[])")
            raise ForecasterError(f"levels={missing} were not calibrated for this model; it has {known}")
        inputs = self.pipeline.read(frame, context=self.dims.context, column=column, source=source)
        series = inputs.series
        dates, calendar = _future_dates(series.dates, self.dims.horizon, exchange if exchange is not None else exchange_of(source))
        window = torch.tensor(inputs.frames[-self.dims.context :], dtype=torch.float32)[None]  # (1, T, C)
        known = ()
        if self.dims.future_channels:
            known = (torch.tensor(self.pipeline.future_inputs(series.dates, dates, future, source=source), dtype=torch.float32)[None],)
        with torch.no_grad():
            outputs = self.model.eval()(window, *known).double().numpy()  # (1, H, K, *head.shape)
        names, tables = series.target_names, []
        for k, name in enumerate(names):  # each target's rows, its bounds from its own calibration
            anchors = series.levels[-1:] if len(names) == 1 else series.levels[-1:, k]
            values, bounds = self._target_forecast(outputs[:, :, k], inputs, k, anchors, levels, calibration)
            part = pd.DataFrame({"date": dates, "target": name, "forecast": values})
            for level in levels:
                part[f"lo_{level:g}"], part[f"hi_{level:g}"] = bounds[level]
            tables.append(part)
        table = pd.concat(tables, ignore_index=True) if len(names) > 1 else tables[0].drop(columns="target")
        table.attrs["target"] = ", ".join(names)  # the column(s) forecast (a global model's differ by series)
        table.attrs["intervals"] = calibration.method if levels else None
        table.attrs["calendar"] = calendar  # which calendar made the dates, e.g. "XNYS (exchange_calendars)"
        return table

    def forecast_panel(self, frames: dict[str, pd.DataFrame], *, column: str | None = None, exchange: str | None = None,
                       levels: tuple[float, ...] | None = None) -> pd.DataFrame:
        """Each series' ``forecast`` (its id as its source: a global model's own series read as trained, others as new),
        in the long format: a ``unique_id`` column, then each series' rows in turn (``data/panel.read_long``'s frames).
        A series of integer time steps (``data/panel.is_step_frame``) has its forecast steps, integers, in ``date``."""
        tables = []
        for label, frame in frames.items():
            try:
                table = self.forecast(frame, column=column, source=label, exchange=exchange, levels=levels)
            except ForecasterError as error:  # which of the table's series
                raise ForecasterError(f"series {label!r}: {error}") from None
            table = table.assign(unique_id=label)
            if is_step_frame(frame):
                table["date"] = steps_of(table["date"])
            tables.append(table)
        table = pd.concat(tables, ignore_index=True)
        table.attrs = tables[0].attrs  # the first series' target, calendar and interval method
        return table[["unique_id", *[name for name in table.columns if name != "unique_id"]]]

    def _target_forecast(self, scaled: np.ndarray, inputs: ScaledSeries, target: int, anchors: np.ndarray,
                         levels: tuple[float, ...], calibration: Calibration | None
                         ) -> tuple[np.ndarray, dict[float, tuple[np.ndarray, np.ndarray]]]:
        """One target's forecast (H,) in the series' units from its scaled outputs (1, H, *head.shape), and its bounds
        per level: a distributional head's quantiles, or the run's calibration around the point forecast."""
        head, taus, transform = self.dims.head, quantile_levels(levels), inputs.series.transform
        quantiles = head.quantiles(scaled, taus)  # a distributional head's, of the cumulative change (or of the level)
        if quantiles is not None:
            quantiles = transform.cumulative_to_series(inputs.unscale_target(quantiles, target), anchors)[0]
            lower, upper, values = quantile_bounds(quantiles, taus, levels)  # (H, L), (H, L), (H,)
            return values, {level: (lower[:, i], upper[:, i]) for i, level in enumerate(levels)}
        values = transform.invert(inputs.unscale_target(head.point(scaled), target), anchors)  # (1, H)
        bounds = {}
        if levels:
            lower, upper = calibration.of_target(target).bounds(values, anchors, transform)  # (1, H, L)
            bounds = {level: (lower[0, :, i], upper[0, :, i]) for i, level in enumerate(calibration.levels) if level in levels}
        return values[0], bounds


def save_forecast(table: pd.DataFrame, out: str | Path) -> Path:
    """Write the folder ``out`` holding ``forecast.csv`` (date, forecast, and lo_/hi_ bounds), atomically; returns it."""
    return write_folder(out, lambda folder: table.to_csv(folder / "forecast.csv", index=False))
