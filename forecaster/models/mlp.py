"""The MLP baseline: the whole window flattened into one vector, so every position gets its own weights.

``channels`` as the linear model's (see ``linear.py``): ``mixed`` reads every channel of the window at
once; ``independent`` runs one MLP, shared by the target channels, on each channel's T values alone;
``individual`` gives each target channel its own MLP (every layer a batched ``ChannelLinear``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from forecaster.models.channels import check_channels
from forecaster.models.linear import CHANNEL_MODES, channel_map
from forecaster.models.revin import InstanceNormalization


@dataclass(frozen=True)
class MLPConfig:
    """Width and depth of the MLP's ReLU layers, and how it reads the channels (as ``LinearConfig``)."""

    hidden: tuple[int, ...] = (64, 64)
    """The hidden layers' widths, one entry per layer."""
    dropout: float = 0.1
    """Dropout probability after each hidden layer."""
    instance_norm: bool = False
    """RevIN: scale each window by its own mean and deviation (and a learned per-channel affine map), reversed on the forecast."""
    channels: Literal["mixed", "independent", "individual"] = "mixed"
    """`mixed` (the flattened window, every channel), `independent` (one MLP shared by the target channels, each read
    alone) or `individual` (one MLP per target channel). The per-channel modes refuse feature channels."""


class MLPForecaster(nn.Module):
    """``forward(past (B, T, C)) -> (B, H, K)`` through ReLU layers on the flattened window.

    Flattening ties each weight to one absolute position: a pattern learnt at lag 3 says nothing about
    the same pattern at lag 30 (the lecture's "why does an MLP fail here?").
    """

    def __init__(self, config: MLPConfig, *, context: int, horizon: int, channels: int, targets: int = 1) -> None:
        super().__init__()
        check_channels("mlp", config.channels, CHANNEL_MODES, channels=channels, targets=targets)
        self.mixed = config.channels == "mixed"
        if self.mixed:
            layer, width, outputs = nn.Linear, context * channels, horizon * targets
        else:  # per channel: (B, K, T) -> (B, K, H), each layer shared by the channels or one per channel
            layer, width, outputs = functools.partial(channel_map, config.channels, targets), context, horizon
        layers: list[nn.Module] = []
        for hidden in config.hidden:
            layers += [layer(width, hidden), nn.ReLU(), nn.Dropout(config.dropout)]
            width = hidden
        layers.append(layer(width, outputs))
        self.network = nn.Sequential(*layers)
        self.outputs = (horizon, targets)
        self.instance_norm = InstanceNormalization(channels=channels) if config.instance_norm else None

    def forward(self, past: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        """``future`` (B, H, F) inputs known ahead are not read by this model."""
        if self.instance_norm is None:
            return self._map(past)
        past, statistics = self.instance_norm.normalize(past)
        return self.instance_norm.denormalize(self._map(past), statistics)

    def _map(self, past: torch.Tensor) -> torch.Tensor:
        if self.mixed:
            return self.network(past.flatten(start_dim=1)).unflatten(1, self.outputs)  # (B, T*C) -> (B, H, K)
        return self.network(past.transpose(1, 2)).transpose(1, 2)  # (B, K, T) -> (B, K, H) -> (B, H, K)
