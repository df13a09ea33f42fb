"""Multi-head self-attention written from the lecture's parts: Q, K, V and softmax(QK^T / sqrt(d_k)) V."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class MultiHeadSelfAttention(nn.Module):
    """Self-attention over the frames of a window, with ``n_heads`` heads of width ``d_model // n_heads``.

    Each frame is projected three ways: its query (what it looks for), its key (what it offers to be
    found by) and its value (what it hands over when found). The weights of frame i over frame j are
    softmax_j(q_i . k_j / sqrt(d_k)); the output of frame i is the weighted sum of the values.

    ``forward(x, need_weights=True)`` takes the explicit path and also returns the weights
    ``(B, N, T, T)``; otherwise it takes PyTorch's fused ``scaled_dot_product_attention``, which computes
    the same thing without materialising the weights (Vaswani et al. 2017, eq. 1).
    """

    def __init__(self, *, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        # Three separate projections, as in the lecture (W_Q, W_K, W_V, each d_model x d_model), stored
        # stacked in one layer so that one matrix multiply computes all three: the rows [0, D) are W_Q,
        # [D, 2D) W_K and [2D, 3D) W_V. Mathematically the same as three nn.Linear, and faster.
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.output = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, frames, _ = x.shape  # frames: T, or 1 for the last query alone
        return x.view(batch, frames, self.n_heads, self.d_head).transpose(1, 2)  # (B, N, T, D/N)

    def forward(
        self, x: torch.Tensor, *, need_weights: bool = False, last_query_only: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attention output (B, T, D), or (B, 1, D) for the last frame alone with ``last_query_only``."""
        batch, frames, d_model = x.shape  # (B, T, D)
        queries, keys, values = self.qkv(x).chunk(3, dim=-1)  # 3 x (B, T, D)
        if last_query_only:
            queries = queries[:, -1:]  # (B, 1, D): only the newest frame asks; every frame still answers
        q, k, v = self._split_heads(queries), self._split_heads(keys), self._split_heads(values)  # (B, N, T|1, D/N)
        dropout = self.dropout if self.training else 0.0
        if need_weights:
            scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)  # (B, N, T, T)
            weights = scores.softmax(dim=-1)
            mixed = F.dropout(weights, p=dropout) @ v  # (B, N, T, D/N)
        else:
            weights = None
            mixed = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)  # (B, N, T, D/N)
        mixed = mixed.transpose(1, 2).reshape(batch, q.shape[2], d_model)  # (B, T|1, D)
        return self.output(mixed), weights
