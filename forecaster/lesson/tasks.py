"""Synthetic data whose answer is known by construction: the delayed-response task, long-lag recall, a seasonal series.

The two tasks are sets of independent samples (N, T, 1) -> (N, 1), not windows of one series; their
targets have variance 1, so a mean squared error of 1 is what predicting the mean (zero) scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from forecaster.data.windows import Batch

MARKER = 3.0  # the trigger spike: far outside both the noise (sd 0.3) and the responses (|r| <= sqrt 3)
NOISE = 0.3
PROFILES = ("harmonics", "arbitrary")  # the seasonal series' cycle: smooth, or one value per step of the period
PROFILE_SEED = 123  # the arbitrary profile is one fixed draw: the same cycle in every seed's series


@dataclass(frozen=True)
class SampleSet:
    """Independent samples with the interface ``train_model`` reads from a ``WindowSet``.

    ``inputs`` (N, T, C) and ``targets`` (N, H, K), ``batch(rows)``; ``series`` only tells the training
    loop the device. No inputs are known ahead (F = 0).
    """

    inputs: torch.Tensor
    targets: torch.Tensor

    def __len__(self) -> int:
        return len(self.inputs)

    @property
    def series(self) -> torch.Tensor:
        return self.inputs

    def batch(self, rows: torch.Tensor | slice) -> Batch:
        """The samples ``rows`` as a ``Batch``: past (B, T, C), no future inputs (B, H, 0), targets (B, H, K)."""
        targets = self.targets[rows]
        return Batch(self.inputs[rows], targets.new_empty((*targets.shape[:2], 0)), targets)

    def to(self, device: torch.device | str) -> SampleSet:
        return SampleSet(self.inputs.to(device), self.targets.to(device))


def delayed_response(count: int, *, context: int, delay: int, seed: int) -> tuple[SampleSet, np.ndarray]:
    """A trigger spike at a random position p, and d = ``delay`` steps later a response r; the target is r.

    Each window (T = ``context`` frames) is noise of sd 0.3 with the spike (value 3) at p, drawn uniformly
    from 0..T-1-d, and r ~ Uniform(-sqrt 3, sqrt 3) (variance 1) at p + d. To answer, a model must find
    the spike and read the frame d steps after it: the same relation at every position. A model that
    sees the frames as a bag, without their order, cannot tell which frame followed the spike.
    Returns the samples and each window's spike position p.
    """
    if not 1 <= delay < context:
        raise ValueError(f"delay={delay} must lie between 1 and context - 1 = {context - 1}")
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(count, context, generator=generator) * NOISE  # (N, T)
    positions = torch.randint(0, context - delay, (count,), generator=generator)  # (N,)
    responses = (torch.rand(count, generator=generator) * 2 - 1) * math.sqrt(3)  # (N,)
    rows = torch.arange(count)
    inputs[rows, positions] = MARKER
    inputs[rows, positions + delay] = responses
    return SampleSet(inputs.unsqueeze(-1), responses[:, None, None]), positions.numpy()  # (N, T, 1), (N, 1, 1)


def long_lag_recall(count: int, *, context: int, lag: int, seed: int) -> SampleSet:
    """White noise windows (N(0, 1), T = ``context`` frames); the target is the value ``lag`` steps before the newest.

    lag 0 is the newest frame itself. Attention can read any frame directly; a recurrent network must
    carry the value through ``lag`` updates of its state.
    """
    if not 0 <= lag < context:
        raise ValueError(f"lag={lag} must lie between 0 and context - 1 = {context - 1}")
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(count, context, 1, generator=generator)  # (N, T, 1)
    return SampleSet(inputs, inputs[:, context - 1 - lag, None].clone())  # (N, H=1, K=1)


def seasonal_series(length: int, *, period: int = 24, seed: int = 0, profile: str = "harmonics") -> pd.DataFrame:
    """A level series with a daily cycle of ``period`` hourly steps plus AR(1) noise.

    ``profile="harmonics"``: y(t) = 10 + sin(2 pi t / m) + 0.5 sin(4 pi t / m + 1) + e(t), a smooth cycle;
    ``profile="arbitrary"``: y(t) = 10 + c(t mod m) + e(t), with c the same ``period`` values drawn once from
    N(0, 1) (seed 123, whatever ``seed``). In both e(t) = 0.5 e(t-1) + N(0, 0.3^2), indexed hourly from
    2000-01-01, in a column ``value``.

    The difference matters to question 6. A sum of two harmonics obeys an exact linear recurrence of
    order 4, so the next value of the smooth cycle can be extrapolated from the newest few frames and
    the frame one period back adds little. An arbitrary profile cannot be extrapolated: only the frames
    one, two, ... periods back tell the next step's value, which is where attention should then look.
    """
    if profile not in PROFILES:
        raise ValueError(f"profile={profile!r} is not one of {', '.join(PROFILES)}")
    generator = np.random.default_rng(seed)
    t = np.arange(length)
    noise = np.zeros(length)
    shocks = generator.normal(0.0, 0.3, length)
    for step in range(1, length):
        noise[step] = 0.5 * noise[step - 1] + shocks[step]
    if profile == "harmonics":
        cycle = np.sin(2 * np.pi * t / period) + 0.5 * np.sin(4 * np.pi * t / period + 1)
    else:
        cycle = np.random.default_rng(PROFILE_SEED).normal(0.0, 1.0, period)[t % period]
    values = 10 + cycle + noise
    index = pd.date_range("2000-01-01", periods=length, freq="h", name="date")
    return pd.DataFrame({"value": values}, index=index)
