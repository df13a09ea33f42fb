"""A Gaussian output head: a location and a scale per step and target, trained by negative log-likelihood.

Output 0 is the location mu, output 1 a raw value whose softplus (plus a small floor) is the scale sigma,
so that sigma > 0 however the model's outputs move. Like a quantile head it forecasts the *cumulative*
change to each step for differenced targets (``cumulative``: ``training/losses.head_loss`` sums the
targets), since the h-step-ahead value's distribution is what an interval needs; for level targets, the
level. Its quantiles mu + sigma * Phi^-1(tau) never cross, and its median, mu, is the point forecast.
``intervals.method: normal`` trains it on every trainable kind, and its quantiles at each level's bounds
give the intervals, scored as a quantile head's are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, ClassVar

import numpy as np
import torch
from torch.nn import functional

MIN_SCALE = 1e-4  # the smallest sigma, in units of the scaled target: keeps the likelihood finite
HALF_LOG_TWO_PI = 0.5 * math.log(2 * math.pi)


@dataclass(frozen=True)
class NormalHead:
    """Two values per step and target, mu and a raw scale: a normal distribution N(mu, softplus(raw) + MIN_SCALE)."""

    name: ClassVar[str] = "normal"
    distributional: ClassVar[bool] = True
    cumulative: ClassVar[bool] = True
    shape: ClassVar[tuple[int, ...]] = (2,)
    width: ClassVar[int] = 2

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """The mean negative log-likelihood of ``targets`` (B, H, K) under outputs (B, H, K, 2)."""
        location, scale = outputs[..., 0], functional.softplus(outputs[..., 1]) + MIN_SCALE
        standardised = (targets - location) / scale
        return (HALF_LOG_TWO_PI + torch.log(scale) + 0.5 * standardised**2).mean()

    @staticmethod
    def scale(outputs: np.ndarray) -> np.ndarray:
        return functional.softplus(torch.from_numpy(np.ascontiguousarray(outputs[..., 1], dtype=np.float64))).numpy() + MIN_SCALE

    def point(self, outputs: np.ndarray) -> np.ndarray:
        return outputs[..., 0]  # the mean, which is the median

    def quantiles(self, outputs: np.ndarray, taus: Sequence[float]) -> np.ndarray:
        z = np.array([NormalDist().inv_cdf(tau) for tau in taus])  # Phi^-1(0.5) = 0: the median is mu exactly
        return outputs[..., :1] + self.scale(outputs)[..., None] * z

    def crossing(self, outputs: np.ndarray) -> float:
        return float("nan") if np.isnan(outputs).any() else 0.0  # a distribution's quantiles never cross

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    @classmethod
    def for_levels(cls, levels: Sequence[float]) -> NormalHead:
        return cls()  # any level's quantiles come from the same two outputs

    @classmethod
    def from_description(cls, description: Mapping[str, Any]) -> NormalHead:
        return cls()
