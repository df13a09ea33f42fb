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
    """``forward(past (B, T, C)) -> (B, H, K)`` as W x + b on the flattened window (Zeng et al. 2023)."""

    def __init__(self, config: LinearConfig, *, context: int, horizon: int, channels: int, targets: int = 1) -> None:
        super().__init__()
        self.linear = nn.Linear(context * channels, horizon * targets)
        self.outputs = (horizon, targets)
        self.instance_norm = InstanceNormalization(channels=channels) if config.instance_norm else None

    def forward(self, past: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        """``future`` (B, H, F) inputs known ahead are not read by this model."""
        if self.instance_norm is None:
            return self.linear(past.flatten(start_dim=1)).unflatten(1, self.outputs)  # (B, T*C) -> (B, H, K)
        past, statistics = self.instance_norm.normalize(past)
        return self.instance_norm.denormalize(self.linear(past.flatten(start_dim=1)).unflatten(1, self.outputs), statistics)
