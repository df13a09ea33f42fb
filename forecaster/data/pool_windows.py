"""Training windows cut from a pretraining pool (``data/pool.py``): many short views of many series, each scaled by
itself, for the pretrained forecaster (``models/pretrained.py``).

A window of series ``x`` at origin ``t`` is its history ``x[:t]`` (the newest ``context`` values of it, a shorter
history padded at the start with zeros that its ``observed`` mask marks 0) and its next ``horizon`` values
``x[t:t+horizon]`` (those past the series' end marked 0 in ``target_observed``: they are left out of the loss, so that
a series shorter than the network's horizon still teaches the steps it has). Origins run from ``MIN_HISTORY`` to the
series' last value, so the network learns from histories of every length, as users bring them.

Each window is scaled by its own history (its mean and standard deviation over the real frames): the network
normalises its input the same way (RevIN), so this changes nothing it forecasts; it makes the loss of every window
count alike, whatever the series' units, as MASE-style scores do.

How many windows a series gives: about one every ``stride`` origins, at most ``per_series``; new origins are drawn for
each epoch (``epoch`` seeds them), so a long series shows many of its windows over the epochs without outweighing
thousands of short ones in any one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecaster.data.pool import PoolSeries

MIN_HISTORY = 3  # the shortest history a window gives: a competition's shortest yearly histories are 7 to 14 points


@dataclass(frozen=True)
class PoolWindows:
    """N windows as float32 arrays: ``past`` (N, context, 2) the scaled history and its observed mask, ``target``
    (N, horizon) the scaled next values and ``target_observed`` (N, horizon) which of them exist."""

    past: np.ndarray
    target: np.ndarray
    target_observed: np.ndarray

    def __len__(self) -> int:
        return len(self.target)


def window_counts(lengths: np.ndarray, *, stride: int, per_series: int) -> np.ndarray:
    """How many windows each series of ``lengths`` gives an epoch: one per ``stride`` origins, 1 to ``per_series``."""
    origins = np.maximum(lengths - MIN_HISTORY, 0)
    return np.where(origins > 0, np.clip(-(-origins // stride), 1, per_series), 0)


def cut_windows(pool: list[PoolSeries], *, context: int, horizon: int, stride: int = 4, per_series: int = 256,
                seed: int = 0, epoch: int = 0) -> PoolWindows:
    """An epoch's windows of ``pool`` (see the module's docstring): the same ``seed`` and ``epoch``, the same windows."""
    lengths = np.array([len(series.values) for series in pool])
    counts = window_counts(lengths, stride=stride, per_series=per_series)
    rng = np.random.default_rng([seed, epoch])
    owners = np.repeat(np.arange(len(pool)), counts)
    # Origins drawn uniformly among each series' own (MIN_HISTORY .. length - 1), with replacement.
    origins = MIN_HISTORY + (rng.random(len(owners)) * (lengths[owners] - MIN_HISTORY)).astype(np.int64)
    values = np.concatenate([series.values for series in pool]).astype(np.float64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])[owners]
    ends = starts + lengths[owners]
    # Position j of a window's history is value origin - context + j of its series; before the series' start: padding.
    past_at = starts[:, None] + origins[:, None] - context + np.arange(context)
    observed = past_at >= starts[:, None]
    past = np.where(observed, values[np.clip(past_at, 0, len(values) - 1)], 0.0)
    target_at = starts[:, None] + origins[:, None] + np.arange(horizon)
    target_observed = target_at < ends[:, None]
    target = np.where(target_observed, values[np.clip(target_at, 0, len(values) - 1)], 0.0)
    center, scale = _statistics(past, observed)
    past = np.where(observed, (past - center) / scale, 0.0)
    target = np.where(target_observed, (target - center) / scale, 0.0)
    return PoolWindows(past=np.stack([past, observed], axis=-1).astype(np.float32), target=target.astype(np.float32),
                       target_observed=target_observed.astype(np.float32))


def _statistics(past: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each window's mean and standard deviation over its real frames (N, 1); a flat history's scale is its level's
    size, or 1, so that no window divides by zero. ``models/pretrained.py``'s ``window_statistics`` is the same rule,
    in torch, for the windows it forecasts from."""
    count = observed.sum(axis=1, keepdims=True)
    center = np.where(observed, past, 0.0).sum(axis=1, keepdims=True) / count
    spread = np.sqrt(np.where(observed, (past - center) ** 2, 0.0).sum(axis=1, keepdims=True) / count)
    floor = np.maximum(1e-3 * np.abs(center), 1e-8)
    return center, np.where(spread > floor, spread, np.maximum(np.abs(center), 1.0))
