"""The benchmark's yardstick: a forecaster built and fed the way most PyTorch forecasting code does it.

PyTorch's own ``nn.TransformerEncoderLayer`` stack, trained from a ``DataLoader`` over a per-sample
``Dataset`` whose items are slices of a CPU array, copied to the device batch by batch; and, for N
series, one univariate model run once per channel (``ChannelLoop``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset


class ReferenceTransformer(nn.Module):
    """The usual PyTorch forecaster: linear embedding, learned positions, ``nn.TransformerEncoder``, last frame.

    Pre-norm, GELU and a final LayerNorm, like ours, so that both do the same arithmetic.
    """

    def __init__(self, *, context: int, channels: int, d_model: int, n_heads: int, n_layers: int, d_ff: int) -> None:
        super().__init__()
        self.embedding = nn.Linear(channels, d_model)
        self.position = nn.Parameter(torch.randn(context, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, dim_feedforward=d_ff, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        # enable_nested_tensor only helps padded batches, and warns with norm_first.
        self.encoder = nn.TransformerEncoder(layer, num_layers=n_layers, norm=nn.LayerNorm(d_model),
                                             enable_nested_tensor=False)
        self.head = nn.Linear(d_model, 1)

    def forward(self, x: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        tokens = self.embedding(x) + self.position  # (B, T, C) -> (B, T, D)
        return self.head(self.encoder(tokens)[:, -1])[:, :, None]  # (B, D) -> (B, H=1, K=1), as ours


class ChannelLoop(nn.Module):
    """A univariate forecaster run once per channel: (B, T, N) -> N passes of (B, T, 1) -> (B, H, N).

    What forecasting each of N series with one shared model looks like without channel independence's
    reshape: the same weights and the same outputs, in N sequential passes.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        return torch.cat([self.model(x[..., channel : channel + 1]) for channel in range(x.shape[-1])], dim=-1)


class WindowDataset(Dataset):
    """One window per item, sliced from a CPU array: ``(x[i:i+T], y[i+T])`` as (T, C) and (H=1, K=1)."""

    def __init__(self, series: np.ndarray, context: int) -> None:
        self.series = series
        self.context = context

    def __len__(self) -> int:
        return len(self.series) - self.context

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        target = index + self.context
        return self.series[index:target], self.series[target : target + 1, :1]
