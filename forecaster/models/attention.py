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

    def __init__(
        self, *, d_model: int, n_heads: int, dropout: float = 0.0,
        shared_qkv: bool = False, scale: bool = True, mask_diagonal: bool = False,
    ) -> None:
        """The three switches exist to measure what each part of the standard layer buys (``forecaster lesson``):

        ``shared_qkv``: one projection W used as query, key and value (the scores q_i . k_j become the
        symmetric (W x_i) . (W x_j)); ``scale=False``: softmax(QK^T) V without the 1/sqrt(d_k);
        ``mask_diagonal``: a frame may not attend to itself (its weight on itself is exactly 0).
        """
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        self.shared_qkv = shared_qkv
        self.scale = scale
        self.mask_diagonal = mask_diagonal
        # Three separate projections, as in the lecture (W_Q, W_K, W_V, each d_model x d_model), stored
        # stacked in one layer so that one matrix multiply computes all three: the rows [0, D) are W_Q,
        # [D, 2D) W_K and [2D, 3D) W_V. Mathematically the same as three nn.Linear, and faster.
        # Shared: a single d_model x d_model projection plays all three roles.
        self.qkv = nn.Linear(d_model, d_model if shared_qkv else 3 * d_model)
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
        if self.shared_qkv:
            queries = keys = values = self.qkv(x)  # (B, T, D), one projection in all three roles
        else:
            queries, keys, values = self.qkv(x).chunk(3, dim=-1)  # 3 x (B, T, D)
        if last_query_only:
            queries = queries[:, -1:]  # (B, 1, D): only the newest frame asks; every frame still answers
        q, k, v = self._split_heads(queries), self._split_heads(keys), self._split_heads(values)  # (B, N, T|1, D/N)
        dropout = self.dropout if self.training else 0.0
        # Query i (of the last q.shape[2] frames) may not see key i: True where attention is forbidden.
        hidden = self._diagonal(q.shape[2], frames, x.device) if self.mask_diagonal else None  # (T|1, T)
        if need_weights:
            scores = q @ k.transpose(-2, -1)  # (B, N, T|1, T)
            if self.scale:
                scores = scores / math.sqrt(self.d_head)
            if hidden is not None:
                scores = scores.masked_fill(hidden, float("-inf"))
            weights = scores.softmax(dim=-1)
            mixed = F.dropout(weights, p=dropout) @ v  # (B, N, T, D/N)
        else:
            weights = None
            # scale=None is SDPA's own 1/sqrt(d_k); its boolean attn_mask is True where attention is allowed.
            mixed = F.scaled_dot_product_attention(
                q, k, v, attn_mask=None if hidden is None else ~hidden, dropout_p=dropout,
                scale=None if self.scale else 1.0,
            )  # (B, N, T, D/N)
        mixed = mixed.transpose(1, 2).reshape(batch, q.shape[2], d_model)  # (B, T|1, D)
        return self.output(mixed), weights

    @staticmethod
    def _diagonal(queries: int, frames: int, device: torch.device) -> torch.Tensor:
        """(queries, frames) bool, True at each query's own frame; the queries are the last ``queries`` frames."""
        if frames < 2:
            raise ValueError(f"mask_diagonal needs windows of at least 2 frames (a frame must see another); got {frames}")
        query_frames = torch.arange(frames - queries, frames, device=device)
        return query_frames[:, None] == torch.arange(frames, device=device)[None, :]
