"""Inputs known ahead for any neural forecaster: a learned per-step correction added to its forecast.

The wrapped model forecasts from the past window as it always does; the wrapper adds, at each forecast
step h, ``head(future[:, h])``: a small MLP over that step's F known inputs (calendar, holiday flag,
planned events), shared by every step, with one output per target and output of the model's head (per
quantile for a quantile head). One wrapper serves every kind without touching their internals (a transformer, an RNN and a
linear map read it the same way), and an additive term is what known-ahead inputs usually are: the
hour-of-day profile, a holiday dip, a planned event's effect. What it cannot learn is an interaction
between the past and the future inputs (a holiday effect proportional to the current level); that is
the price of keeping each kind as it is. The head's last layer starts at zero, so a freshly built
wrapper forecasts exactly as its base model does and learns the correction from there.
"""

from __future__ import annotations

import torch
from torch import nn

from forecaster.models.heads import POINT, Head

HIDDEN = 32  # the head's hidden width: enough for hour x weekday x holiday profiles, small beside any base


class FutureForecaster(nn.Module):
    """``forward(past (B, T, C), future (B, H, F)) -> base(past) + head(future)``: (B, H, K, *output_head.shape)."""

    def __init__(self, base: nn.Module, *, future_channels: int, targets: int, head: Head = POINT) -> None:
        super().__init__()
        self.base = base
        self.future_channels = future_channels
        self.output_head = head  # the base's output head: what each step's outputs are
        self.outputs = (targets, *head.shape)
        self.head = nn.Sequential(nn.Linear(future_channels, HIDDEN), nn.GELU(), nn.Linear(HIDDEN, targets * head.width))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    @property
    def encoder(self) -> nn.Module:
        """The wrapped model's encoder (a transformer's), so that attention maps and embed read it as usual."""
        return self.base.encoder

    def forward(self, past: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        if future is None or future.shape[-1] != self.future_channels:
            got = "none" if future is None else future.shape[-1]
            raise ValueError(f"this model reads {self.future_channels} future input channel(s) per step; got {got}")
        return self.base(past) + self.head(future).unflatten(-1, self.outputs)  # (B, H, K[, Q])
