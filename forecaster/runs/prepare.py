"""The one set of windows every model of an experiment trains and is scored on: transform, split, scale, window.

``prepare_data`` is the only place where a series meets its scaling: its pipeline (``data/pipeline.py``) is fit on
the training span alone, and the split's windows are views of the scaled series (see ``data/windows.py``). Inputs
known ahead (``data.future`` and co.) get their own scaling, fit on the same training span. The pipeline is what a
checkpoint keeps to read new data the same way.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from forecaster.data.features import DataConfig, PreparedSeries, prepare_series
from forecaster.data.padding import pad_rows, padding_of, with_observed
from forecaster.data.pipeline import Pipeline
from forecaster.data.windows import SplitBounds, WindowConfig, WindowSet, split_bounds, split_windows
from forecaster.errors import ForecasterError
from forecaster.models import ModelDims

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class PreparedData:
    """The windows of one series, split and scaled, with what maps forecasts back to its units.

    ``target_offset`` and ``target_scale`` (K,) are the training span's scaling of each target channel:
    a scaled forecast y means y * scale + offset in the transformed target space.

    With several targets, ``channel(k)`` is the same data seen by target k alone (``target_channel`` = k):
    its levels, offset and scale are target k's, and everything that scores one target reads it.
    """

    series: PreparedSeries
    bounds: SplitBounds
    pipeline: Pipeline  # fitted on the training span: columns, transform, scaling (and that of the inputs known ahead)
    windows: dict[str, WindowSet]
    dims: ModelDims
    target_channel: int | None = None  # set on one target's view of several (``channel``)

    @property
    def _targets(self) -> slice:
        """The target channels this data scores: all K, or the one of a channel view."""
        if self.target_channel is None:
            return slice(0, self.dims.targets)
        return slice(self.target_channel, self.target_channel + 1)

    @property
    def target_offset(self) -> np.ndarray:
        return np.asarray(self.pipeline.offset)[self._targets]

    @property
    def target_scale(self) -> np.ndarray:
        return np.asarray(self.pipeline.scale)[self._targets]

    @property
    def future_scaling(self) -> dict[str, np.ndarray]:
        """``future_offset`` and ``future_scale`` (F,) of the inputs known ahead (empty when there are none)."""
        return {"future_offset": np.asarray(self.pipeline.future_offset, dtype=np.float64),
                "future_scale": np.asarray(self.pipeline.future_scale, dtype=np.float64)}

    def with_identity(self, labels: tuple[str, ...], label: str) -> PreparedData:
        """This series as one of a global run's ``labels``: ``label``'s index among them appended to its inputs known
        ahead as one channel (not scaled: the model reads it as an index, a row of its series embedding), and the
        model dims' ``series`` (N) set to how many there are."""
        steps, padding = len(self.series.dates), self.padding
        spec = dataclasses.replace(self.series.future_spec, series=labels)
        identity = spec.identity(label, steps)
        known = self.series.future if self.series.future is not None else np.zeros((steps, 0))
        series = dataclasses.replace(self.series, future_spec=spec, future=np.hstack([known, identity]))
        scaled = self.windows["train"].future  # (P + L, F): padded as the frames are
        future = torch.cat([scaled if scaled is not None else torch.zeros(padding + steps, 0),
                            torch.tensor(pad_rows(identity, padding), dtype=torch.float32)], dim=1)
        windows = {name: dataclasses.replace(split, future=future) for name, split in self.windows.items()}
        dims = dataclasses.replace(self.dims, future_channels=future.shape[1], series=len(labels))
        return dataclasses.replace(self, series=series, pipeline=self.pipeline.with_identity(labels), windows=windows, dims=dims)

    def channel(self, index: int) -> PreparedData:
        """Target ``index`` alone: its levels (L,), offset and scale; the windows are shared (they hold every target)."""
        if not 0 <= index < self.dims.targets:
            raise IndexError(f"target channel {index} of {self.dims.targets}")
        if self.dims.targets == 1:
            return self
        return dataclasses.replace(self, series=self.series.channel(index), target_channel=index)

    @property
    def padding(self) -> int:
        """The masked frames placed before the series' first step (``data/padding.py``); 0 for a series not padded."""
        return self.windows["train"].padding

    def window_dates(self, origin: int) -> pd.DatetimeIndex:
        """The dates of the window ending at step ``origin``: NaT for the frames of padding before the series' start."""
        start = origin - self.dims.context + 1
        dates = self.series.dates[max(start, 0) : origin + 1]
        return pd.DatetimeIndex([pd.NaT] * -start).append(dates) if start < 0 else dates

    @property
    def training_levels(self) -> np.ndarray:
        """The target's levels over the training span: what MASE's scale and "no move" are measured on."""
        return self.series.levels[self.bounds.train_start : self.bounds.train_end]

    @property
    def training_targets(self) -> np.ndarray:
        """The transformed targets (L_train, K) of the training span, the only span settings may be found from."""
        return self.series.frames[self.bounds.train_start : self.bounds.train_end, self._targets]

    def actual_and_anchors(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """True levels (N, H) of a split's targets, and each window's last level (N,).

        One target's (see ``channel``); with several, (N, H, K) and (N, K).
        """
        windows = self.windows[split]
        origins = windows.origins
        steps = origins[:, None] + np.arange(1, windows.horizon + 1)  # (N, H)
        return self.series.levels[steps], self.series.levels[origins]


def in_sample_windows(data: PreparedData) -> WindowSet:
    """Every window of the series whose targets lie before its test span: the training and validation windows and those
    between them (targets across the boundary), over the same tensor; what ``train.refit`` trains on."""
    train, val = data.windows["train"], data.windows["val"]
    return dataclasses.replace(train, count=val.first_origin + val.count - train.first_origin)


def prepare_data(
    frame: pd.DataFrame, data: DataConfig, windows: WindowConfig, *, bounds: SplitBounds | None = None,
    masked: bool | None = None,
) -> PreparedData:
    """Transform, split, scale (training span only) and window ``frame``; ``bounds`` fixes the split, ``masked``
    whether the frames carry the ``observed`` channel (see ``window_series``)."""
    return window_series(prepare_series(frame, data), windows, bounds=bounds, masked=masked)


def check_training_windows(count: int, windows: WindowConfig, which: str) -> None:
    """A one-line error where no training window exists: padded series whose training spans hold no whole horizon."""
    if count == 0:
        raise ForecasterError(
            f"{which} has a training window: a training span needs at least horizon + 1 = {windows.horizon + 1} rows "
            f"(the whole horizon of targets and one row before them), beside the validation and test spans")


def series_bounds(series: PreparedSeries, windows: WindowConfig) -> SplitBounds:
    """The split of ``series`` (a one-line error when it is too short for one)."""
    return split_bounds(len(series.frames), windows, lost_rows=series.lost_rows)


def window_series(
    series: PreparedSeries, windows: WindowConfig, *, bounds: SplitBounds | None = None, masked: bool | None = None,
) -> PreparedData:
    """Split, scale (training span only) and window a prepared series; ``bounds`` fixes the split.

    A series too short for the holdout split is padded (``data/padding.py``). ``masked``: whether its frames carry
    the ``observed`` channel, as every series of a global run does where any is padded; None: where it is padded.
    """
    if bounds is None:
        bounds = series_bounds(series, windows)
    padding = padding_of(bounds, windows)
    masked = padding > 0 if masked is None else masked
    differenced = series.transform.differenced
    pipeline = Pipeline.fit(series, bounds, observed=masked)  # the real frames of the training span alone
    frames = pipeline.scale_frames(series.frames)  # (L, C)
    if masked:  # padded after scaling, so that the padding is 0 in the scaled space and no statistic sees it
        frames = with_observed(frames, padding)  # (P + L, C + 1)
    scaled = torch.tensor(frames, dtype=torch.float32)
    offset, scale = pipeline.offset, pipeline.scale
    dims = ModelDims(
        context=windows.context,
        horizon=windows.horizon,
        channels=scaled.shape[1],
        differenced=differenced,
        # The scaled value of a zero change of the first target. Differenced transforms are never centred,
        # so it is 0 for every target; level targets do not use it.
        no_change=float((0.0 - offset[0]) / scale[0]),
        targets=series.targets,
        observed=masked,
    )
    future = None
    if series.future is not None:
        # Inputs known ahead are levels (never differenced), so they are centred whatever the target transform;
        # their scaling, too, comes from the training span alone.
        future = torch.tensor(pad_rows(pipeline.scale_future(series.future), padding), dtype=torch.float32)  # (P + L, F)
        dims = dataclasses.replace(dims, future_channels=future.shape[1])
    split = split_windows(scaled, bounds, windows, target_channels=series.targets, future=future, padding=padding)
    return PreparedData(series, bounds, pipeline, split, dims)
