"""The forecasts every model must beat: the random walk (naive) and the seasonal naive.

Both work in the same scaled, transformed target space as the neural models, so that they go through
exactly the same inverse transform and metrics. What "no change" means there depends on the target
transform, which is why they take ``differenced`` and ``no_change`` (see ``ModelDims``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn


@dataclass(frozen=True)
class NaiveConfig:
    """The random walk has nothing to configure."""


@dataclass(frozen=True)
class SeasonalNaiveConfig:
    """``period``: the season length in steps (e.g. 24 hours, 5 trading days, 12 months), or ``auto``.

    ``auto``: the ``rank``-th strongest season of the training span's autocorrelation, up to the window's
    length (``forecaster.data.seasonality.suggest_periods``); the experiment replaces it by that number before
    the model is built. Several seasons are several entries, each with its own ``name``.
    """

    period: int | Literal["auto"] = 5
    rank: int = 1


class NaiveForecaster(nn.Module):
    """Tomorrow equals today: every step of the horizon repeats the last value in the series' own units.

    For a differenced target (``diff``, ``log_return``) that is a change of zero, which after scaling is
    ``no_change``; for a ``level`` target it is the last input value of the target channel (channel 0).
    """

    def __init__(self, *, horizon: int, differenced: bool, no_change: float) -> None:
        super().__init__()
        self.horizon = horizon
        self.differenced = differenced
        self.register_buffer("no_change", torch.tensor(float(no_change)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.differenced:
            return self.no_change.expand(x.shape[0], self.horizon).to(x.dtype)  # (B, H)
        return x[:, -1:, 0].expand(-1, self.horizon)  # (B, 1) -> (B, H)


class SeasonalNaiveForecaster(nn.Module):
    """Step k of the horizon repeats the target value one season earlier: y_hat(t+k) = y(t+k-m*ceil(k/m)).

    With a ``level`` target this is Hyndman & Athanasopoulos's seasonal naive; with a differenced target it
    repeats the changes of one season earlier. Needs ``period <= context``.
    """

    def __init__(self, config: SeasonalNaiveConfig, *, context: int, horizon: int) -> None:
        super().__init__()
        if config.period == "auto":
            raise ValueError("seasonal_naive period='auto' must be replaced by a number of steps before the model "
                             "is built (run_experiment does it from the training span)")
        if not 1 <= config.period <= context:
            raise ValueError(
                f"seasonal_naive period={config.period} must be between 1 and context={context}: the window must "
                "hold one whole season (raise windows.context or lower the period)"
            )
        self.period = config.period
        steps = torch.arange(1, horizon + 1)
        seasons_back = (steps + config.period - 1) // config.period  # ceil(k / m)
        # Index into the window, whose last frame is t (index context - 1).
        self.register_buffer("source_index", context - 1 + steps - config.period * seasons_back)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.source_index, 0]  # (B, T) -> (B, H)
