"""New data read as a checkpoint's model was trained: its input columns, calendar and transform, its scaling, and the
inputs known ahead of the dates being forecast. ``forecaster forecast`` and ``embed`` (``reuse/forecast.py``,
``reuse/embed.py``) read a series through these; the checkpoint itself (``checkpoint.py``) is the file format.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from forecaster.checkpoint import Checkpoint
from forecaster.data.calendar import known_values
from forecaster.data.features import DataConfig, PreparedSeries, prepare_series
from forecaster.data.transforms import transform_named
from forecaster.errors import ForecasterError


@dataclass(frozen=True, eq=False)
class ScaledSeries:
    """New data read as a checkpoint's model was trained: the prepared series and its frames scaled for the model."""

    series: PreparedSeries
    frames: np.ndarray  # (L, C): (series.frames - offset) / scale, what the model reads
    offset: np.ndarray  # (C,)
    scale: np.ndarray  # (C,)

    def unscale_target(self, values: np.ndarray, target: int = 0) -> np.ndarray:
        """Model outputs (scaled target ``target``, channel ``target``) back in the target transform's units."""
        return values * self.scale[target] + self.offset[target]


def input_config(
    checkpoint: Checkpoint, *, column: str | None = None, transform: str | None = None, source: str | None = None,
) -> DataConfig:
    """How to read new data for the model: its input columns, calendar and transform (target renamable).

    A global model (trained on several series) reads each of its series' own target column; a series
    it never saw gets the usual default target (Adj Close, Close, or the only column) unless named. A model of
    K targets reads its K target columns first (``column`` renames the first), as it was trained.
    """
    record = checkpoint.series_record(source)
    columns: tuple[str | None, ...] = checkpoint.columns
    if record is not None:
        columns = record.columns
    elif checkpoint.series or not checkpoint.head:  # a series it never saw, or an encoder trained on many
        columns = (None, *checkpoint.columns[1:])
    targets = checkpoint.dims.targets
    if targets > 1:  # its K target columns first, then its features (a global model's, from its series record)
        return DataConfig(targets=(column or columns[0], *columns[1:targets]), features=tuple(columns[targets:]),
                          transform=transform or checkpoint.transform, calendar=checkpoint.calendar)
    return DataConfig(column=column or columns[0], features=tuple(columns[1:]), transform=transform or checkpoint.transform,
                      calendar=checkpoint.calendar)


def read_series(
    checkpoint: Checkpoint, frame: pd.DataFrame, *, column: str | None = None, transform: str | None = None,
    source: str | None = None,
) -> ScaledSeries:
    """Read ``frame`` as the model was trained: its input columns, calendar and transform, then its scaling.

    ``column`` renames the target; ``transform`` replaces the checkpoint's (then the frames are scaled
    by their own statistics, see ``scaling``); ``source`` names the series, for a global model to find
    its own. At least one window of ``dims.context`` frames is needed.
    """
    series = prepare_series(frame, input_config(checkpoint, column=column, transform=transform, source=source))
    context = checkpoint.dims.context
    if len(series.frames) < context:
        raise ForecasterError(
            f"the data has {len(series.frames) + series.lost_rows} usable rows; this model reads windows of "
            f"{context} steps, so it needs at least {context + series.lost_rows}"
        )
    offset, scale = scaling(checkpoint, series.frames, source=source, transform=transform)
    return ScaledSeries(series=series, frames=(series.frames - offset) / scale, offset=offset, scale=scale)


def future_inputs(
    checkpoint: Checkpoint, dates: pd.DatetimeIndex, forecast_dates: pd.DatetimeIndex, known: pd.DataFrame | None = None, *,
    source: str | None = None,
) -> np.ndarray:
    """The scaled inputs known ahead (H, F) of the ``forecast_dates`` that follow the series' ``dates``.

    The calendar and holiday channels are computed from the dates (the history's included, so that a
    feature's spacing check sees the series); the future columns are read from ``known`` (a frame
    indexed by date), which must hold every one of them on every forecast date: a one-line error names
    the columns and dates that are missing. Scaled by the training span's statistics of the series
    ``source`` for a global model that knows it, else the checkpoint's own (its first series'). A global
    model with series identities reads ``source``'s, or none (all zeros) for a series it never saw.
    """
    spec = checkpoint.future
    columns = np.empty((len(forecast_dates), 0))
    if spec.columns:
        columns = known_values(known, spec.columns, forecast_dates)
    from_dates = spec.from_dates(dates.append(forecast_dates))[len(dates):]
    record = checkpoint.series_record(source)
    identity = spec.identity(record.label if record is not None else None, len(forecast_dates))
    values = np.hstack([columns, from_dates, identity])  # (H, F)
    scaled_by = record if record is not None else checkpoint  # a series' own training statistics, or the checkpoint's
    offset, scale = scaled_by.future_offset, scaled_by.future_scale
    return (values - np.asarray(offset)) / np.asarray(scale)


def scaling(
    checkpoint: Checkpoint, frames: np.ndarray, *, source: str | None = None, transform: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The (offset, scale) per channel for feeding new ``frames`` (L, C) to the model: (x - offset) / scale.

    The training span's statistics, when the new data is read with the model's own transform and, for
    a global model, is one of its series (``source`` matches one's source or label). Otherwise the new
    frames are scaled by their own statistics, as every series of a global model was by its own
    training span: centred for levels only, like training. So is every series a pretrained encoder
    (``head`` False) reads: it was pretrained on many, each scaled by its own training span.
    """
    if transform is None or transform == checkpoint.transform:
        # A single-series model's training scaling; a global model's scaling of the series it reads.
        record = checkpoint.series_record(source)
        if record is not None:
            return np.asarray(record.offset, dtype=np.float64), np.asarray(record.scale, dtype=np.float64)
        if not checkpoint.series and checkpoint.head:
            return np.asarray(checkpoint.offset, dtype=np.float64), np.asarray(checkpoint.scale, dtype=np.float64)
    centred = transform_named(transform or checkpoint.transform).centred
    offset = frames.mean(axis=0) if centred else np.zeros(frames.shape[1])
    scale = frames.std(axis=0)
    return offset, np.where(scale > 0, scale, 1.0)
