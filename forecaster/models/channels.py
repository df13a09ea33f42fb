"""Forecasting every target channel: channel independence, one map per channel, and the check they share.

A ``mixed`` model reads every channel of a frame together and maps them to all K targets at once. The
alternatives read each target channel alone, as its own univariate series:

- ``independent`` (PatchTST's channel independence, Nie et al. 2023; DLinear's shared mode): one network,
  shared by every channel, run on the (B*K, T, 1) batch of the K series; it learns from K times as many
  windows, and a channel's forecast depends on its own history alone;
- ``individual`` (DLinear's ``individual=True``, Zeng et al. 2023): one map per channel, computed batched
  (``ChannelLinear``), still from the channel's own history alone.

Both read only the K targets: feature channels beyond them (C > K) would be silently ignored, so a model
refuses them (``check_own_history``) and names the two ways out.
"""

from __future__ import annotations

import math

import torch
from torch import nn

OWN_HISTORY = ("independent", "individual")  # the modes in which a channel is forecast from itself alone


def check_channels(model: str, mode: str, allowed: tuple[str, ...], *, channels: int, targets: int) -> None:
    """A ValueError for an unknown ``channels`` mode, or for feature channels a per-channel mode would ignore."""
    if mode not in allowed:
        raise ValueError(f"{model} channels={mode!r} is not one of {', '.join(repr(name) for name in allowed)}")
    if mode in OWN_HISTORY and channels > targets:
        raise ValueError(
            f"{model} channels={mode!r} forecasts each target from its own history alone and would ignore the "
            f"{channels - targets} feature channel(s); use channels: mixed to read them, or drop data.features "
            "(and data.calendar)"
        )


def per_channel(x: torch.Tensor) -> torch.Tensor:
    """Each channel of windows (B, T, K) as its own univariate window: (B*K, T, 1), channel k of window b at b*K + k."""
    batch, frames, channels = x.shape
    return x.transpose(1, 2).reshape(batch * channels, frames, 1)  # (B, K, T) -> (B*K, T, 1)


def from_channels(y: torch.Tensor, channels: int) -> torch.Tensor:
    """Per-channel forecasts (B*K, H) back to (B, H, K), the inverse of ``per_channel``'s layout."""
    return y.unflatten(0, (-1, channels)).transpose(1, 2)  # (B, K, H) -> (B, H, K)


class ChannelLinear(nn.Module):
    """K linear maps side by side: (B, K, in) -> (B, K, out), channel k through its own weights.

    One (K, in, out) weight and one einsum instead of a loop over K ``nn.Linear``; each map starts as
    ``nn.Linear`` would (uniform in +-1/sqrt(in)).
    """

    def __init__(self, channels: int, in_features: int, out_features: int) -> None:
        super().__init__()
        bound = 1 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(channels, in_features, out_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(channels, out_features).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bki,kio->bko", x, self.weight) + self.bias  # (B, K, in) -> (B, K, out)
