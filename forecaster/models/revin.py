"""Reversible instance normalisation (RevIN, Kim et al. 2022): each window scaled by its own statistics.

Each channel of a window is centred and scaled by its own mean and standard deviation over the T
frames before the model sees it, and the forecast is mapped back with the target channels' statistics
(the first K channels: targets come first in every frame). A model then sees the shape of a window, not
its level: what lets an encoder trained on one series read another, and what keeps level forecasts sane
when test prices leave the training range.
"""

from __future__ import annotations

import torch
from torch import nn


class InstanceNormalization(nn.Module):
    """``normalize`` a window (B, T, C) and ``denormalize`` the forecast (B, H, K) with the same window's statistics."""

    def __init__(self, *, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        # RevIN's learnable affine map, per channel, starting as the identity.
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def normalize(self, x: torch.Tensor, observed: torch.Tensor | None = None) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """``observed`` (B, T), 1 on real frames and 0 on padding: the statistics are the real frames' alone, and the
        padding stays 0 after normalising."""
        if observed is not None:
            weights = observed[..., None]  # (B, T, 1)
            count = weights.sum(dim=1, keepdim=True).clamp(min=1.0)
            mean = (x * weights).sum(dim=1, keepdim=True) / count  # (B, 1, C)
            std = torch.sqrt((((x - mean) * weights) ** 2).sum(dim=1, keepdim=True) / count + self.eps)
            return ((x - mean) / std * self.weight + self.bias) * weights, (mean, std)
        mean = x.mean(dim=1, keepdim=True)  # (B, 1, C)
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps)  # (B, 1, C)
        return (x - mean) / std * self.weight + self.bias, (mean, std)

    def denormalize(self, y: torch.Tensor, statistics: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        mean, std = statistics
        targets = y.shape[-1]  # K: the first K channels are the targets
        y = (y - self.bias[:targets]) / (self.weight[:targets] + self.eps)  # (B, H, K): undo the targets' affine map
        return y * std[:, :, :targets] + mean[:, :, :targets]  # (B, 1, K) broadcast over H
