"""The linear baseline: one linear map from the window to the horizon (DLinear/NLinear's simplest member)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LinearConfig:
    """The linear model has nothing to configure; the class exists so every kind has a config."""


class LinearForecaster(nn.Module):
    """``forward((B, T, C)) -> (B, H)`` as W x + b on the flattened window (Zeng et al. 2023)."""

    def __init__(self, config: LinearConfig, *, context: int, horizon: int, channels: int) -> None:
        super().__init__()
        self.linear = nn.Linear(context * channels, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(start_dim=1))  # (B, T*C) -> (B, H)
