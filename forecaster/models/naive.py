"""The forecasts every model must beat: the random walk (naive) and the seasonal naive.

Both work in the same scaled, transformed target space as the neural models, so that they go through
exactly the same inverse transform and metrics. What "no change" means there depends on the target
transform, which is why they take ``differenced`` and ``no_change`` (see ``ModelDims``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from forecaster.data.seasonality import suggest_periods
from forecaster.errors import ForecasterError


@dataclass(frozen=True)
class NaiveConfig:
    """The random walk has nothing to configure."""


@dataclass(frozen=True)
class SeasonalNaiveConfig:
    """The season to repeat; several seasons are several entries, each with its own ``name``."""

    period: int | Literal["auto"] = 5
    """The season length in steps (e.g. 24 hours, 5 trading days, 12 months), from 1 to `windows.context`. `auto`: the
    `rank`-th strongest season of the training span's autocorrelation, up to the window's length (`suggest_periods`),
    set before the model is built."""
    rank: int = 1
    """Which season `period: auto` takes: `1` the strongest, `2` the next, and so on; at least 1."""


class NaiveForecaster(nn.Module):
    """Tomorrow equals today: every step of the horizon repeats the last value in the series' own units.

    For a differenced target (``diff``, ``log_return``) that is a change of zero, which after scaling is
    ``no_change``; for a ``level`` target it is the last input value of each target channel (the first K).
    """

    def __init__(self, *, horizon: int, differenced: bool, no_change: float, targets: int = 1) -> None:
        super().__init__()
        self.horizon = horizon
        self.targets = targets
        self.differenced = differenced
        self.register_buffer("no_change", torch.tensor(float(no_change)))

    def forward(self, past: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        if self.differenced:
            return self.no_change.expand(past.shape[0], self.horizon, self.targets).to(past.dtype)  # (B, H, K)
        return past[:, -1:, : self.targets].expand(-1, self.horizon, -1)  # (B, 1, K) -> (B, H, K)


class SeasonalNaiveForecaster(nn.Module):
    """Step k of the horizon repeats the target value one season earlier: y_hat(t+k) = y(t+k-m*ceil(k/m)).

    With a ``level`` target this is Hyndman & Athanasopoulos's seasonal naive; with a differenced target it
    repeats the changes of one season earlier. Needs ``period <= context``. ``observed``: the window's last channel
    is a padding mask (``ModelDims.observed``); a step whose season-back frame is padding repeats the last frame
    instead (always real), the naive forecast, rather than a value that was never observed.
    """

    def __init__(self, config: SeasonalNaiveConfig, *, context: int, horizon: int, targets: int = 1,
                 observed: bool = False) -> None:
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
        self.targets = targets
        self.observed = observed
        steps = torch.arange(1, horizon + 1)
        seasons_back = (steps + config.period - 1) // config.period  # ceil(k / m)
        # Index into the window, whose last frame is t (index context - 1).
        self.register_buffer("source_index", context - 1 + steps - config.period * seasons_back)

    def forward(self, past: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        seasonal = past[:, self.source_index, : self.targets]  # (B, T, C) -> (B, H, K)
        if not self.observed:
            return seasonal
        real = past[:, self.source_index, -1:] > 0.5  # (B, H, 1): the season-back frame is data, not padding
        return torch.where(real, seasonal, past[:, -1:, : self.targets])


def resolve_period(config: SeasonalNaiveConfig, training_target: np.ndarray, *, context: int) -> tuple[SeasonalNaiveConfig, str | None]:
    """``config`` with ``period: auto`` replaced by the ``rank``-th season of ``training_target``, and what was chosen.

    Seasons are looked for up to ``context`` steps (the window must hold one) and up to half the training
    span. The second value says what ``auto`` became (None when the period was a number already).
    """
    if config.period != "auto":
        return config, None
    if config.rank < 1:
        raise ForecasterError(f"rank={config.rank} must be 1 (the strongest season) or more")
    # The window must hold the season, and the training span two of them for the autocorrelation to show it.
    max_lag = min(context, len(training_target) // 2)
    try:
        periods = suggest_periods(training_target, max_lag, top=config.rank)
    except ForecasterError as error:
        raise ForecasterError(f"period=auto: {error}") from None
    if len(periods) < config.rank:
        found = ", ".join(map(str, periods)) or "none"
        raise ForecasterError(
            f"period=auto with rank {config.rank}: the training span's autocorrelation shows "
            f"{len(periods)} season(s) up to {max_lag} steps ({found}); set the period to a number of steps"
        )
    period = periods[config.rank - 1]
    return dataclasses.replace(config, period=period), f"period auto -> {period} steps, from the training span's autocorrelation"


def period_needs_one_series(config: SeasonalNaiveConfig) -> str | None:
    """Why this config cannot serve a global run (``auto`` is found in one series), or None."""
    if config.period == "auto":
        return "period auto finds one season per series; a global run needs a number (e.g. period: 24), the same for every series"
    return None
