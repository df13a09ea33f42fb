"""The fitted pipeline: what turns a series into the frames a model reads, fitted on a training span, and back.

A ``Pipeline`` is everything fitted on the training span that stands between data and a model: the input columns
(the K targets first), the target transform, the calendar channels, each channel's scaling, the inputs known
ahead and their scaling, and for a global model each series' own record (``SeriesScaling``). It is plain data
(``state`` and ``from_state`` give the mapping a checkpoint stores), and it reads new data as the model was
trained (``read``), scales the inputs known ahead of the dates to forecast (``future_inputs``) and maps scaled
outputs back (``ScaledSeries.unscale_target``). Training fits it (``Pipeline.fit``), inference and pretraining read
through it, so that all three select, transform and scale a series in one way.

A pipeline ``pooled`` over many series it keeps no record of (a pretraining pool) reads every series with the
default target and scales it by its own statistics, as each series of the pool was by its own training span.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecaster.data.calendar import FutureSpec, known_values
from forecaster.data.features import DataConfig, PreparedSeries, prepare_series
from forecaster.data.padding import with_observed
from forecaster.data.transforms import transform_named
from forecaster.data.windows import SplitBounds, fit_scaler, scaler_statistics
from forecaster.errors import ForecasterError


def floats(values: Any) -> tuple[float, ...]:
    """``values`` (an array or a list) as a tuple of Python floats: exact, comparable, weights-only-loadable."""
    return tuple(float(value) for value in values)


@dataclass(frozen=True)
class SeriesScaling:
    """One series of a global model: its label and source, its columns (targets first), its training span's scaling."""

    label: str
    source: str
    columns: tuple[str, ...]
    offset: tuple[float, ...]
    scale: tuple[float, ...]
    future_offset: tuple[float, ...] = ()  # its inputs known ahead's scaling, when the model reads some
    future_scale: tuple[float, ...] = ()

    def matches(self, source: str | None) -> bool:
        """Whether new data named ``source`` is this series (by its source or its label)."""
        return source is not None and source in (self.source, self.label)


@dataclass(frozen=True, eq=False)
class ScaledSeries:
    """New data read through a pipeline: the prepared series and its frames scaled for the model."""

    series: PreparedSeries
    frames: np.ndarray  # (L, C): (series.frames - offset) / scale, what the model reads (a masked pipeline's: padded)
    offset: np.ndarray  # (C,)
    scale: np.ndarray  # (C,)

    def unscale_target(self, values: np.ndarray, target: int = 0) -> np.ndarray:
        """Model outputs (scaled target ``target``, channel ``target``) back in the target transform's units."""
        return values * self.scale[target] + self.offset[target]


@dataclass(frozen=True)
class Pipeline:
    """How a model's inputs are made from a series: columns, transform, calendar, scaling; fitted on a training span.

    ``offset`` and ``scale`` are what the training span's scaler applies per channel, (x - offset) / scale (offset 0
    for the differenced transforms, which are not centred). A global pipeline has one ``series`` record per series
    with its own scaling; ``offset`` and ``scale`` are then its first series'.
    """

    columns: tuple[str, ...]  # input columns, the K targets first
    transform: str
    offset: tuple[float, ...]
    scale: tuple[float, ...]
    targets: int = 1  # K
    calendar: tuple[str, ...] = ()  # calendar channels after the columns' (hour, day_of_week, day_of_year)
    future: FutureSpec = FutureSpec()  # the inputs known ahead the model reads at each forecast step
    future_offset: tuple[float, ...] = ()  # their training span's scaling, (x - offset) / scale
    future_scale: tuple[float, ...] = ()
    series: tuple[SeriesScaling, ...] = ()
    pooled: bool = False  # fitted on a pool of series it keeps no record of: every series is scaled by its own statistics
    observed: bool = False  # the model reads an ``observed`` channel last, and a series shorter than its window is padded

    def __post_init__(self) -> None:
        widths = {len(self.offset), len(self.scale), *(len(record.offset) for record in self.series),
                  *(len(record.scale) for record in self.series)}
        if widths != {self.data_channels}:
            raise ValueError(f"columns {list(self.columns)} and calendar {list(self.calendar)} give {self.data_channels} "
                             f"channel(s), but the scaling has {sorted(widths)}")
        future_widths = {len(self.future_offset), len(self.future_scale), *(len(record.future_offset) for record in self.series),
                         *(len(record.future_scale) for record in self.series)}
        if future_widths != {self.future.channels}:
            raise ValueError(f"the future inputs {self.future} give {self.future.channels} channel(s), but their scaling "
                             f"has {sorted(future_widths)}")

    @classmethod
    def fit(cls, series: PreparedSeries, bounds: SplitBounds, *, observed: bool = False) -> Pipeline:
        """The pipeline of ``series`` fitted on its training span alone (``bounds``): each channel's scaling, centred for
        level transforms only (so that a change of zero stays exactly zero), and that of its inputs known ahead
        (levels, never differenced: always centred). ``observed``: the model reads the ``observed`` channel of a run
        that pads short series (``data/padding.py``); ``series`` is the real frames alone, so no padding is fitted."""
        offset, scale = scaler_statistics(fit_scaler(series.frames, bounds, center=series.transform.centred))
        future_offset, future_scale = (), ()
        if series.future is not None:
            future_offset, future_scale = scaler_statistics(fit_scaler(series.future, bounds))
        return cls(columns=series.columns, transform=series.transform.name, offset=floats(offset), scale=floats(scale),
                   targets=series.targets, calendar=series.calendar, future=series.future_spec,
                   future_offset=floats(future_offset), future_scale=floats(future_scale), observed=observed)

    def scale_frames(self, frames: np.ndarray) -> np.ndarray:
        """Frames (L, C) as the model reads them: (x - offset) / scale, the training span's scaling."""
        return (frames - np.asarray(self.offset)) / np.asarray(self.scale)

    def scale_future(self, future: np.ndarray) -> np.ndarray:
        """Inputs known ahead (L, F) scaled by the training span's statistics."""
        return (future - np.asarray(self.future_offset)) / np.asarray(self.future_scale)

    def with_identity(self, labels: tuple[str, ...]) -> Pipeline:
        """This pipeline as one series' of a global run with series identities: the series' index among ``labels``
        appended to its inputs known ahead as one channel, read as it is (offset 0, scale 1: the model reads the index
        exactly, as a row of its embedding; each series' own scaling would centre its constant identity to zero)."""
        return dataclasses.replace(self, future=dataclasses.replace(self.future, series=tuple(labels)),
                                   future_offset=(*self.future_offset, 0.0), future_scale=(*self.future_scale, 1.0))

    @property
    def data_channels(self) -> int:
        """The scaled channels: the columns, then two channels per calendar feature."""
        return len(self.columns) + 2 * len(self.calendar)

    @property
    def channels(self) -> int:
        """C: the data channels, then the ``observed`` channel where the model reads one."""
        return self.data_channels + int(self.observed)

    @classmethod
    def pooled_levels(cls, *, observed: bool = False) -> Pipeline:
        """A pipeline that reads any series' target (the default one, or the ``column`` named) in levels, each series
        by its own statistics: the pretrained forecaster's, which normalises every window itself."""
        return cls(columns=("value",), transform="level", offset=(0.0,), scale=(1.0,), pooled=True, observed=observed)

    def series_record(self, source: str | None) -> SeriesScaling | None:
        """A global pipeline's record of the series ``source`` (matched by source or label), else None."""
        return next((record for record in self.series if record.matches(source)), None)

    def data_config(self, *, column: str | None = None, transform: str | None = None, source: str | None = None) -> DataConfig:
        """How to read new data: the input columns, calendar and transform (the first target renamable by ``column``).

        A global pipeline reads each of its series' own target columns; a series it never saw, or any series of a
        pooled pipeline, gets the usual default target (Adj Close, Close, or the only column) unless named. K
        targets are read first (``column`` renames the first), as the model was trained.
        """
        record = self.series_record(source)
        columns: tuple[str | None, ...] = self.columns
        if record is not None:
            columns = record.columns
        elif self.series or self.pooled:  # a series it never saw, or a pool's
            columns = (None, *self.columns[1:])
        if self.targets > 1:  # its K target columns first, then its features (a global model's, from its series record)
            return DataConfig(targets=(column or columns[0], *columns[1:self.targets]), features=tuple(columns[self.targets:]),
                              transform=transform or self.transform, calendar=self.calendar)
        return DataConfig(column=column or columns[0], features=tuple(columns[1:]), transform=transform or self.transform,
                          calendar=self.calendar)

    def read(self, frame: pd.DataFrame, *, context: int, column: str | None = None, transform: str | None = None,
             source: str | None = None) -> ScaledSeries:
        """Read ``frame`` as the model was trained: its input columns, calendar and transform, then its scaling.

        ``column`` renames the target; ``transform`` replaces the pipeline's (then the frames are scaled by their own
        statistics, see ``scaling``); ``source`` names the series, for a global pipeline to find its own. At least
        one window of ``context`` frames is needed, unless the pipeline is ``observed``: then a shorter series is
        padded at the start, as its run padded its short series, and the ``observed`` channel is appended.
        """
        # A pooled pipeline scales every series by its own statistics (a constant one by 1): nothing refuses a constant.
        series = prepare_series(frame, self.data_config(column=column, transform=transform, source=source),
                                constant_ok=self.pooled)
        if self.observed and len(series.frames):
            offset, scale = self.scaling(series.frames, source=source, transform=transform)
            frames = with_observed((series.frames - offset) / scale, max(0, context - len(series.frames)))
            return ScaledSeries(series=series, frames=frames, offset=offset, scale=scale)
        if len(series.frames) < context:
            raise ForecasterError(
                f"the data has {len(series.frames) + series.lost_rows} usable rows; this model reads windows of "
                f"{context} steps, so it needs at least {context + series.lost_rows}"
            )
        offset, scale = self.scaling(series.frames, source=source, transform=transform)
        return ScaledSeries(series=series, frames=(series.frames - offset) / scale, offset=offset, scale=scale)

    def scaling(self, frames: np.ndarray, *, source: str | None = None, transform: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The (offset, scale) per channel for new ``frames`` (L, C): (x - offset) / scale.

        The training span's statistics, when the new data is read with the pipeline's own transform and, for a
        global pipeline, is one of its series (``source`` matches one's source or label). Otherwise the new frames
        are scaled by their own statistics, as every series of a global model was by its own training span:
        centred for levels only, like training. So is every series a pooled pipeline reads.
        """
        if transform is None or transform == self.transform:
            record = self.series_record(source)
            if record is not None:
                return np.asarray(record.offset, dtype=np.float64), np.asarray(record.scale, dtype=np.float64)
            if not self.series and not self.pooled:
                return np.asarray(self.offset, dtype=np.float64), np.asarray(self.scale, dtype=np.float64)
        centred = transform_named(transform or self.transform).centred
        offset = frames.mean(axis=0) if centred else np.zeros(frames.shape[1])
        scale = frames.std(axis=0)
        return offset, np.where(scale > 0, scale, 1.0)

    def future_inputs(self, dates: pd.DatetimeIndex, forecast_dates: pd.DatetimeIndex, known: pd.DataFrame | None = None, *,
                      source: str | None = None) -> np.ndarray:
        """The scaled inputs known ahead (H, F) of the ``forecast_dates`` that follow the series' ``dates``.

        The calendar and holiday channels are computed from the dates (the history's included, so that a
        feature's spacing check sees the series); the future columns are read from ``known`` (a frame indexed by
        date), which must hold every one of them on every forecast date: a one-line error names the columns and
        dates that are missing. Scaled by the training span's statistics of the series ``source`` for a global
        pipeline that knows it, else its own (its first series'). The series identity: ``source``'s index among the
        model's series, or their count (the unknown series, whose embedding is zero) for a series it never saw.
        """
        spec = self.future
        columns = np.empty((len(forecast_dates), 0))
        if spec.columns:
            columns = known_values(known, spec.columns, forecast_dates)
        from_dates = spec.from_dates(dates.append(forecast_dates))[len(dates):]
        record = self.series_record(source)
        identity = spec.identity(record.label if record is not None else None, len(forecast_dates))
        values = np.hstack([columns, from_dates, identity])  # (H, F)
        scaled_by = record if record is not None else self  # a series' own training statistics, or the first's
        return (values - np.asarray(scaled_by.future_offset)) / np.asarray(scaled_by.future_scale)

    def state(self) -> dict[str, Any]:
        """The pipeline as plain values (strings, numbers, lists, dicts): what a checkpoint file stores."""
        future = self.future
        return {
            "columns": list(self.columns), "transform": self.transform, "targets": self.targets,
            "calendar": list(self.calendar), "offset": list(self.offset), "scale": list(self.scale),
            "future": {"columns": list(future.columns), "calendar": list(future.calendar), "holidays": future.holidays,
                       "series": list(future.series), "offset": list(self.future_offset), "scale": list(self.future_scale)},
            "series": [{"label": record.label, "source": record.source, "columns": list(record.columns),
                        "offset": list(record.offset), "scale": list(record.scale),
                        "future_offset": list(record.future_offset), "future_scale": list(record.future_scale)}
                       for record in self.series],
            "pooled": self.pooled,
            **({"observed": True} if self.observed else {}),  # written only when set: other payloads are as they were
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Pipeline:
        """The pipeline of ``state()``'s plain values (a KeyError names a missing key; a bad width is a ValueError)."""
        future = state["future"]
        spec = FutureSpec(columns=tuple(future["columns"]), calendar=tuple(future["calendar"]), holidays=future["holidays"],
                          series=tuple(future["series"]))
        return cls(
            columns=tuple(state["columns"]), transform=str(state["transform"]), offset=floats(state["offset"]),
            scale=floats(state["scale"]), targets=int(state["targets"]), calendar=tuple(state["calendar"]), future=spec,
            future_offset=floats(future["offset"]), future_scale=floats(future["scale"]),
            series=tuple(SeriesScaling(label=str(entry["label"]), source=str(entry["source"]), columns=tuple(entry["columns"]),
                                       offset=floats(entry["offset"]), scale=floats(entry["scale"]),
                                       future_offset=floats(entry["future_offset"]), future_scale=floats(entry["future_scale"]))
                         for entry in state["series"]),
            pooled=bool(state["pooled"]),
            observed=bool(state.get("observed", False)),
        )

    def with_series(self, records: tuple[SeriesScaling, ...]) -> Pipeline:
        """This pipeline as a global model's: a record of each of its series."""
        return dataclasses.replace(self, series=tuple(records))
