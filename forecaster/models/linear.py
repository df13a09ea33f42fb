"""The linear baseline: one linear map from the window to the horizon (DLinear/NLinear's simplest member).

``channels`` (see ``channels.py``): ``mixed`` maps the whole flattened window, every channel, to all H x K
values; ``independent`` maps each target channel's T values to its H values with one map shared by all
channels (DLinear's default); ``individual`` gives each target channel its own map (DLinear's
``individual=True``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from forecaster.models.channels import ChannelLinear, check_channels
from forecaster.models.revin import InstanceNormalization

CHANNEL_MODES = ("mixed", "independent", "individual")


@dataclass(frozen=True)
class LinearConfig:
    """One linear map from the window to the horizon: from every channel at once, or per target channel."""

    instance_norm: bool = False
    """RevIN: scale each window by its own mean and deviation (and a learned per-channel affine map), reversed on the forecast."""
    channels: Literal["mixed", "independent", "individual"] = "mixed"
    """`mixed` (one map from every channel of the window to all targets), `independent` (one map shared by the target
    channels, each read alone) or `individual` (one map per target channel). The per-channel modes refuse feature channels."""


def channel_map(mode: str, targets: int, in_features: int, out_features: int) -> nn.Module:
    """The layer of a per-channel mode on (B, K, in) -> (B, K, out): shared by the channels, or one per channel."""
    if mode == "individual":
        return ChannelLinear(targets, in_features, out_features)
    return nn.Linear(in_features, out_features)


class LinearForecaster(nn.Module):
    """``forward(past (B, T, C)) -> (B, H, K)`` as W x + b on the flattened window (Zeng et al. 2023), or per channel."""

    def __init__(self, config: LinearConfig, *, context: int, horizon: int, channels: int, targets: int = 1) -> None:
        super().__init__()
        check_channels("linear", config.channels, CHANNEL_MODES, channels=channels, targets=targets)
        self.mixed = config.channels == "mixed"
        if self.mixed:
            self.linear = nn.Linear(context * channels, horizon * targets)
        else:
            self.linear = channel_map(config.channels, targets, context, horizon)
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
            return self.linear(past.flatten(start_dim=1)).unflatten(1, self.outputs)  # (B, T*C) -> (B, H, K)
        return self.linear(past.transpose(1, 2)).transpose(1, 2)  # (B, K, T) -> (B, K, H) -> (B, H, K)
