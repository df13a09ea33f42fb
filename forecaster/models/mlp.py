"""The MLP baseline: the whole window flattened into one vector, so every position gets its own weights."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from forecaster.models.revin import InstanceNormalization


@dataclass(frozen=True)
class MLPConfig:
    """Hidden widths of the MLP (one entry per hidden layer)."""

    hidden: tuple[int, ...] = (64, 64)
    dropout: float = 0.1
    instance_norm: bool = False  # RevIN: each window scaled by its own statistics, reversed on the output


class MLPForecaster(nn.Module):
    """``forward(past (B, T, C)) -> (B, H, K)`` through ReLU layers on the flattened window.

    Flattening ties each weight to one absolute position: a pattern learnt at lag 3 says nothing about
    the same pattern at lag 30 (the lecture's "why does an MLP fail here?").
    """

    def __init__(self, config: MLPConfig, *, context: int, horizon: int, channels: int, targets: int = 1) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = context * channels
        for hidden in config.hidden:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(config.dropout)]
            width = hidden
        layers.append(nn.Linear(width, horizon * targets))
        self.network = nn.Sequential(*layers)
        self.outputs = (horizon, targets)
        self.instance_norm = InstanceNormalization(channels=channels) if config.instance_norm else None

    def forward(self, past: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        """``future`` (B, H, F) inputs known ahead are not read by this model."""
        if self.instance_norm is None:
            return self.network(past.flatten(start_dim=1)).unflatten(1, self.outputs)  # (B, T*C) -> (B, H, K)
        past, statistics = self.instance_norm.normalize(past)
        return self.instance_norm.denormalize(self.network(past.flatten(start_dim=1)).unflatten(1, self.outputs), statistics)
