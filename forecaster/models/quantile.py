"""A quantile head for any neural forecaster: Q outputs per step and target instead of one.

The wrapped model is built for a horizon of H * Q steps, so that its own head, instance norm and every
other part stay as they are; the wrapper reads those H * Q "steps" as Q quantiles of H steps. It is
trained with the pinball loss (``training/losses.py``), whose targets say what each quantile is of (for
differenced targets: the cumulative change to each step, see ``pinball``).
"""

from __future__ import annotations

import torch
from torch import nn


class QuantileForecaster(nn.Module):
    """``forward(past (B, T, C), future=None) -> (B, H, K, Q)``: quantiles at ``taus``, unsorted as trained."""

    def __init__(self, base: nn.Module, *, horizon: int, taus: tuple[float, ...]) -> None:
        super().__init__()
        self.base = base  # built for horizon * len(taus) steps
        self.horizon = horizon
        self.taus = tuple(taus)

    @property
    def encoder(self) -> nn.Module:
        """The wrapped model's encoder (a transformer's), so that attention maps, embed and transfer read it as usual."""
        return self.base.encoder

    def forward(self, past: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        outputs = self.base(past, future)  # (B, Q*H, K)
        return outputs.unflatten(1, (len(self.taus), self.horizon)).permute(0, 2, 3, 1)  # (B, Q, H, K) -> (B, H, K, Q)
