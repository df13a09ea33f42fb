"""The linear baseline: one linear map from the window to the horizon (DLinear/NLinear's simplest member)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from forecaster.models.revin import InstanceNormalization


@dataclass(frozen=True)
class LinearConfig:
    """``instance_norm``: scale each window by its own statistics and reverse it on the output (RevIN)."""

    instance_norm: bool = False


class LinearForecaster(nn.Module):
    """``forward((B, T, C)) -> (B, H)`` as W x + b on the flattened window (Zeng et al. 2023)."""

    def __init__(self, config: LinearConfig, *, context: int, horizon: int, channels: int) -> None:
        super().__init__()
        self.linear = nn.Linear(context * channels, horizon)
        self.instance_norm = InstanceNormalization(channels=channels) if config.instance_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.instance_norm is None:
            return self.linear(x.flatten(start_dim=1))  # (B, T*C) -> (B, H)
        x, statistics = self.instance_norm.normalize(x)
        return self.instance_norm.denormalize(self.linear(x.flatten(start_dim=1)), statistics)
