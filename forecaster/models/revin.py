"""Reversible instance normalisation (RevIN, Kim et al. 2022): each window scaled by its own statistics.

Each channel of a window is centred and scaled by its own mean and standard deviation over the T
frames before the model sees it, and the forecast is mapped back with the target channel's (channel
0) statistics. A model then sees the shape of a window, not its level: what lets an encoder trained on
one series read another, and what keeps level forecasts sane when test prices leave the training range.
"""

from __future__ import annotations

import torch
from torch import nn


class InstanceNormalization(nn.Module):
    """``normalize`` a window (B, T, C) and ``denormalize`` the forecast (B, H) with the same window's statistics."""

    def __init__(self, *, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        # RevIN's learnable affine map, per channel, starting as the identity.
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def normalize(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        mean = x.mean(dim=1, keepdim=True)  # (B, 1, C)
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps)  # (B, 1, C)
        return (x - mean) / std * self.weight + self.bias, (mean, std)

    def denormalize(self, y: torch.Tensor, statistics: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        mean, std = statistics
        y = (y - self.bias[0]) / (self.weight[0] + self.eps)  # (B, H): undo the target channel's affine map
        return y * std[:, :, 0] + mean[:, :, 0]  # (B, 1) broadcast over H
