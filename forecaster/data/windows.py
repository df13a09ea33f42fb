"""Chronological split, a scaler fit on the training span only, and sliding windows built as views.

Time steps are indexed 0..L-1 along the transformed series. A window whose last input frame is step t
(its *origin*) has inputs t-T+1..t and targets t+1..t+H. A window belongs to the split that holds all
of its targets; its inputs may reach back into the previous split (validation and test windows need
``context`` past frames), never forward. Every target step of the validation and test spans is covered,
so no sample is silently dropped from evaluation.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler

from forecaster.errors import ForecasterError


@dataclass(frozen=True)
class WindowConfig:
    """Window length, horizon and the split: fractions of the transformed series' time steps, or row counts.

    ``train_rows`` and ``val_rows`` (both or neither) split by rows of the data instead, as the benchmark
    papers do (ETT: 8640 training and 2880 validation rows; the test span is every row after them, so
    ``data.rows`` fixes its length). Counted in rows of the user's data: a differencing transform's first
    row, which has no previous value, is counted in the training rows.
    """

    context: int = 64
    """Frames per window (T), at least 1."""
    horizon: int = 1
    """Steps forecast at once (H), at least 1."""
    train_fraction: float = 0.7
    """Share of the time steps in the training span, in (0, 1); with `val_fraction`, below 1 in sum."""
    val_fraction: float = 0.15
    """Share of the time steps in the validation span, in (0, 1); the rest after it is the test span."""
    train_rows: int | None = None
    """Rows in the training span, a positive count (with `val_rows`); `None`: split by the fractions."""
    val_rows: int | None = None
    """Rows in the validation span after the training rows (with `train_rows`); `None`: split by the fractions."""
    split: Literal["fraction", "holdout"] = "fraction"
    """`fraction`: the spans by `train_fraction`/`val_fraction` (or `train_rows`/`val_rows`). `holdout`: each series' last
    `horizon` steps are its test span, the `horizon` before them its validation span, the rest its training span (the
    forecasting competitions' protocol: one forecast of the last h points per series)."""
    pad: bool | Literal["auto"] = "auto"
    """`holdout` only: pad a series too short for a full training window (fewer than `context + 3 * horizon` steps) with
    `context - 1` masked frames before its first value, so that it is forecast at the configured context instead of
    refused (`data/padding.py`). `auto`: pad such series only; `true`: pad every series; `false`: refuse them."""

    def __post_init__(self) -> None:
        if self.pad is True and self.split != "holdout":
            raise ForecasterError("windows.pad=true pads series too short for the holdout split; set windows.split=holdout, "
                                  "or leave windows.pad at auto")
        if self.split == "holdout" and self.train_rows is not None:
            raise ForecasterError("windows.split=holdout takes its spans from windows.horizon; leave windows.train_rows "
                                  "and windows.val_rows out")
        if (self.train_rows is None) != (self.val_rows is None):
            raise ForecasterError(
                f"windows.train_rows={self.train_rows} and windows.val_rows={self.val_rows}: set both to split by "
                "row counts, or neither to split by fractions")
        if self.train_rows is not None and (self.train_rows < 1 or self.val_rows < 1):
            raise ForecasterError(
                f"windows.train_rows={self.train_rows} and windows.val_rows={self.val_rows} must be positive row counts")
        if self.context < 1:
            raise ForecasterError(f"windows.context={self.context} must be a positive number of steps")
        if self.horizon < 1:
            raise ForecasterError(f"windows.horizon={self.horizon} must be a positive number of steps")
        if not (0 < self.train_fraction < 1 and 0 < self.val_fraction < 1):
            raise ForecasterError(
                f"windows.train_fraction={self.train_fraction} and windows.val_fraction={self.val_fraction} "
                "must each lie strictly between 0 and 1"
            )
        if self.train_fraction + self.val_fraction >= 1:
            raise ForecasterError(
                f"windows.train_fraction + windows.val_fraction = {self.train_fraction + self.val_fraction:g} "
                "leaves no test span; their sum must be below 1"
            )


@dataclass(frozen=True)
class SplitBounds:
    """Target steps [train_start, train_end) train, [train_end, val_end) validate, [val_end, length) test.

    ``train_start`` is 0 but for sliding-window backtests, whose training span has a fixed length.
    """

    train_end: int
    val_end: int
    length: int
    train_start: int = 0


def _bounds_for(length: int, config: WindowConfig, lost_rows: int = 0) -> SplitBounds:
    if config.split == "holdout":  # the last H steps test, the H before them validate
        return SplitBounds(train_end=length - 2 * config.horizon, val_end=length - config.horizon, length=length)
    if config.train_rows is not None:  # row counts include the rows the transform consumed
        train_end = config.train_rows - lost_rows
        return SplitBounds(train_end=train_end, val_end=train_end + config.val_rows, length=length)
    train_end = int(round(length * config.train_fraction))
    val_end = train_end + int(round(length * config.val_fraction))
    return SplitBounds(train_end=train_end, val_end=val_end, length=length)


def _bounds_fit(bounds: SplitBounds, config: WindowConfig) -> bool:
    # Train needs one full window inside it; validation and test need at least one horizon each.
    return (
        bounds.train_end >= config.context + config.horizon
        and bounds.val_end - bounds.train_end >= config.horizon
        and bounds.length - bounds.val_end >= config.horizon
    )


def rows_needed(config: WindowConfig) -> int:
    """The smallest length N such that N and every longer series can be split and windowed.

    Rounding makes "fits" wobble for short series (one more step can shrink a span by one), so this is
    the threshold from which every length fits: found by walking down from a length that provably fits.
    """
    context, horizon = config.context, config.horizon
    if config.split == "holdout":
        return context + 3 * horizon
    test_fraction = 1 - config.train_fraction - config.val_fraction
    # round(x) >= x - 0.5 for each span, so from this length on every span is long enough.
    always = math.ceil(max(
        (context + horizon + 0.5) / config.train_fraction,
        (horizon + 0.5) / config.val_fraction,
        (horizon + 1) / test_fraction,
    )) + 1
    needed = always
    while needed > 1 and _bounds_fit(_bounds_for(needed - 1, config), config):
        needed -= 1
    return needed


def split_bounds(length: int, config: WindowConfig, *, lost_rows: int = 0) -> SplitBounds:
    """Split ``length`` steps chronologically; a clear error when they cannot hold the windows.

    ``lost_rows`` is how many raw rows the target transform consumed (1 for differences), so that the
    message counts rows of the user's data, not transformed steps.
    """
    bounds = _bounds_for(length, config, lost_rows)
    if config.train_rows is not None and not _bounds_fit(bounds, config):
        needed = config.train_rows + config.val_rows + config.horizon
        raise ForecasterError(
            f"{length + lost_rows} rows cannot be split into windows.train_rows={config.train_rows} (at least "
            f"context + horizon = {config.context + config.horizon + lost_rows} needed), windows.val_rows="
            f"{config.val_rows} (at least horizon = {config.horizon}) and a test span of at least {config.horizon} "
            f"rows: at least {needed} rows are needed")
    if config.split == "holdout" and config.pad is not False and bounds.train_end < 1:
        # Padding stands in for missing history, not for a missing target: the test and validation spans and one
        # point before them (the last value every forecast starts from) must be real.
        raise ForecasterError(
            f"{length + lost_rows} rows are too few for a holdout split at horizon={config.horizon}: a test and a "
            f"validation span of {config.horizon} each and one row before them need at least "
            f"{2 * config.horizon + 1 + lost_rows} rows")
    if config.split == "holdout" and config.pad is False and not _bounds_fit(bounds, config):
        raise ForecasterError(
            f"{length + lost_rows} rows are too few for a holdout split at context={config.context}, horizon="
            f"{config.horizon} (test and validation spans of {config.horizon} steps each, a training span of at least "
            f"context + horizon): at least {rows_needed(config) + lost_rows} rows are needed (or lower windows.context, or leave "
            "windows.pad at auto to pad the short series)")
    if config.split != "holdout" and not _bounds_fit(bounds, config):
        raise ForecasterError(
            f"{length + lost_rows} rows are too few for context={config.context}, horizon={config.horizon} and a "
            f"{config.train_fraction:g}/{config.val_fraction:g} train/validation split: "
            f"at least {rows_needed(config) + lost_rows} rows are needed"
        )
    return bounds


def fit_scaler(frames: np.ndarray, bounds: SplitBounds, *, center: bool = True) -> StandardScaler:
    """A per-channel standard scaler fit on the training span's frames alone (no look-ahead).

    ``center=False`` (used for differenced transforms) only divides by the standard deviation, so that
    a change of zero stays exactly zero and the random walk is represented exactly.
    """
    return StandardScaler(with_mean=center).fit(frames[bounds.train_start : bounds.train_end])


def scaler_statistics(scaler: StandardScaler) -> tuple[np.ndarray, np.ndarray]:
    """The (offset, scale) per channel that ``scaler.transform`` actually applies: (x - offset) / scale."""
    # sklearn still computes mean_ with with_mean=False, but does not subtract it.
    offset = scaler.mean_ if scaler.with_mean else np.zeros_like(scaler.scale_)
    return np.asarray(offset, dtype=np.float64), np.asarray(scaler.scale_, dtype=np.float64)


@dataclass(frozen=True)
class Batch:
    """What a model reads and what it is scored against, for B windows.

    ``past`` (B, T, C): the input frames up to each window's origin. ``future`` (B, H, F): inputs known
    in advance for the H forecast steps (calendar, planned events; F = 0 when there are none).
    ``targets`` (B, H, K): the K target channels at the H steps after the origin.
    """

    past: torch.Tensor
    future: torch.Tensor
    targets: torch.Tensor

    def __len__(self) -> int:
        return len(self.past)


@dataclass(frozen=True)
class WindowSet:
    """The windows of one split as views into the scaled series: nothing is copied per window.

    ``inputs`` is ``(N, T, C)`` and ``targets`` is ``(N, H, K)``, the first K channels of the series (the
    targets come first in every frame); both share ``series``'s storage, and indexing them with a batch of
    rows gathers just that batch. ``future``, when given, holds the inputs known ahead at every step
    (L, F); a window's future inputs are its H target steps' rows.

    ``padding`` P: ``series`` (and ``future``) begin with P masked frames before the series' step 0
    (``data/padding.py``); ``origins`` stay the series' own steps (what its dates and levels are indexed by), and a
    window's row in ``series`` is its origin + P.
    """

    series: torch.Tensor  # (L, C) scaled frames, the K target channels first
    first_origin: int
    count: int
    context: int
    horizon: int
    target_channels: int = 1  # K
    future: torch.Tensor | None = None  # (L, F) inputs known ahead, or None (F = 0)
    padding: int = 0  # P masked frames at the start of series (and future)

    def __len__(self) -> int:
        return self.count

    @property
    def origins(self) -> np.ndarray:
        """Step index of each window's last input frame, (N,)."""
        return np.arange(self.first_origin, self.first_origin + self.count)

    @property
    def inputs(self) -> torch.Tensor:
        start = self.first_origin + self.padding - self.context + 1
        frames = self.series.unfold(0, self.context, 1).transpose(1, 2)  # (L-T+1, T, C), a view
        return frames[start : start + self.count]  # (N, T, C)

    @property
    def targets(self) -> torch.Tensor:
        start = self.first_origin + self.padding + 1
        # A slice of the first K channels keeps this a view (an index list would copy the series).
        steps = self.series[:, : self.target_channels].unfold(0, self.horizon, 1).transpose(1, 2)  # (L-H+1, H, K)
        return steps[start : start + self.count]  # (N, H, K)

    @property
    def future_inputs(self) -> torch.Tensor:
        """The inputs known ahead for each window's H target steps, (N, H, F); F = 0 without ``future``."""
        if self.future is None:
            return self.series.new_empty((self.count, self.horizon, 0))  # holds no values: nothing is allocated
        start = self.first_origin + self.padding + 1
        steps = self.future.unfold(0, self.horizon, 1).transpose(1, 2)  # (L-H+1, H, F), a view
        return steps[start : start + self.count]

    def batch(self, rows: torch.Tensor | slice) -> Batch:
        """The windows ``rows`` (indices or a slice) as one ``Batch``, each part gathered at once."""
        past = self.inputs[rows]
        if self.future is None:  # no inputs known ahead: an empty (B, H, 0), no gather on the hot path
            return Batch(past, past.new_empty((len(past), self.horizon, 0)), self.targets[rows])
        return Batch(past, self.future_inputs[rows], self.targets[rows])

    def to(self, device: torch.device | str) -> WindowSet:
        """The same windows over a copy of the series on ``device`` (one copy, not one per window)."""
        future = None if self.future is None else self.future.to(device)
        return dataclasses.replace(self, series=self.series.to(device), future=future)


@dataclass(frozen=True)
class PooledWindows:
    """The windows of several series, for training one global model on all of them.

    The scaled series lie end to end in one tensor and each window is named by the row of its last
    input frame (``ends``); the rows are chosen so that no window's inputs or targets cross from one
    series into the next. ``batch`` gathers a batch on the device, as ``WindowSet.batch`` does.
    """

    series: torch.Tensor  # (sum of L_k, C): series k's scaled frames at rows starts[k]..starts[k]+L_k
    ends: torch.Tensor  # (N,) int64: the row of each window's last input frame
    context: int
    horizon: int
    target_channels: int = 1  # K
    future: torch.Tensor | None = None  # (sum of L_k, F) inputs known ahead, or None (F = 0)

    def __len__(self) -> int:
        return len(self.ends)

    def batch(self, rows: torch.Tensor | slice) -> Batch:
        """The windows ``rows`` as one ``Batch``: one gather from the views for each part."""
        ends = self.ends[rows]  # (B,)
        frames = self.series.unfold(0, self.context, 1).transpose(1, 2)  # (rows-T+1, T, C), a view
        steps = self.series[:, : self.target_channels].unfold(0, self.horizon, 1).transpose(1, 2)  # (rows-H+1, H, K)
        if self.future is None:
            future = self.series.new_empty((len(ends), self.horizon, 0))
        else:
            future = self.future.unfold(0, self.horizon, 1).transpose(1, 2)[ends + 1]  # (B, H, F)
        return Batch(frames[ends - self.context + 1], future, steps[ends + 1])

    def to(self, device: torch.device | str) -> PooledWindows:
        future = None if self.future is None else self.future.to(device)
        return dataclasses.replace(self, series=self.series.to(device), ends=self.ends.to(device), future=future)


def pool_windows(per_series: list[dict[str, WindowSet]]) -> dict[str, PooledWindows]:
    """Each split's windows of every series in one ``PooledWindows`` over one shared tensor.

    ``per_series[k]`` holds series k's train/val/test ``WindowSet``s, which share series k's tensor
    (each series scaled by its own training span). Windows keep their order: series 0's first.
    """
    first = per_series[0]["train"]
    tensors = [splits["train"].series for splits in per_series]
    starts = np.cumsum([0] + [len(tensor) for tensor in tensors[:-1]])
    series = torch.cat(tensors)  # (sum of L_k, C)
    future = None if first.future is None else torch.cat([splits["train"].future for splits in per_series])
    pooled = {}
    for split in per_series[0]:
        ends = np.concatenate([start + splits[split].padding + splits[split].origins for start, splits in zip(starts, per_series)])
        pooled[split] = PooledWindows(series, torch.as_tensor(ends, dtype=torch.int64), first.context, first.horizon,
                                      first.target_channels, future)
    return pooled


def make_windows(
    series: torch.Tensor, *, context: int, horizon: int, target_start: int, target_end: int,
    target_channels: int = 1, future: torch.Tensor | None = None, padding: int = 0,
) -> WindowSet:
    """All windows whose targets lie in steps [target_start, target_end) and whose inputs exist.

    ``target_channels``: the first K channels of ``series`` are the targets; ``future`` (L, F): inputs
    known ahead at every step. ``padding`` P: ``series`` begins with P masked frames, so inputs exist from
    step -P; a window's origin (its newest input) is still a real step, and its targets always are.
    """
    first_origin = max(target_start - 1, context - 1 - padding, 0)
    last_origin = target_end - 1 - horizon
    count = last_origin - first_origin + 1
    # A padded series' training span may be too short for any target window; its validation and test spans are not.
    assert count >= 1 or padding, "split_bounds guarantees at least one window per split"
    return WindowSet(series, first_origin, max(count, 0), context, horizon, target_channels, future, padding)


def split_windows(
    series: torch.Tensor, bounds: SplitBounds, config: WindowConfig, *,
    target_channels: int = 1, future: torch.Tensor | None = None, padding: int = 0,
) -> dict[str, WindowSet]:
    """Train, validation and test windows over the same scaled series (see ``make_windows``)."""
    spans = {"train": (bounds.train_start, bounds.train_end), "val": (bounds.train_end, bounds.val_end),
             "test": (bounds.val_end, bounds.length)}
    return {
        name: make_windows(series, context=config.context, horizon=config.horizon, target_start=start, target_end=end,
                           target_channels=target_channels, future=future, padding=padding)
        for name, (start, end) in spans.items()
    }
