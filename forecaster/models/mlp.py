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
    """``forward((B, T, C)) -> (B, H)`` through ReLU layers on the flattened window.

    Flattening ties each weight to one absolute position: a pattern learnt at lag 3 says nothing about
    the same pattern at lag 30 (the lecture's "why does an MLP fail here?").
    """

    def __init__(self, config: MLPConfig, *, context: int, horizon: int, channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = context * channels
        for hidden in config.hidden:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(config.dropout)]
            width = hidden
        layers.append(nn.Linear(width, horizon))
        self.network = nn.Sequential(*layers)
        self.instance_norm = InstanceNormalization(channels=channels) if config.instance_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.instance_norm is None:
            return self.network(x.flatten(start_dim=1))  # (B, T, C) -> (B, T*C) -> (B, H)
        x, statistics = self.instance_norm.normalize(x)
        return self.instance_norm.denormalize(self.network(x.flatten(start_dim=1)), statistics)
