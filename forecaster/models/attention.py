"""Multi-head self-attention written from the lecture's parts: Q, K, V and softmax(QK^T / sqrt(d_k)) V.

Relative positions live here, inside the scores, rather than in a table added to the tokens: rotary
(RoPE, Su et al. 2021) rotates each head's queries and keys by their token's position, and ALiBi (Press
et al. 2022) adds a per-head penalty linear in the distance to the scores.
"""

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

    ``position`` puts the token order inside the scores (``none``: order-blind, the default; any table
    added to the tokens is the encoder's). ``rotary``: the pair of dimensions (2i, 2i+1) of every head's
    query and key at token m is rotated by the angle m * theta_i, theta_i = 10000^(-2i/d_head), so that
    q_m . k_n depends on the content and on the offset m - n alone. ``alibi``: -slope_h * |m - n| is added
    to head h's scores (after the 1/sqrt(d_k)), slopes 2^(-8h/n_heads) for h = 1..n_heads, the symmetric
    distance of a bidirectional encoder. Token m is its index in the window (a patch index with patches);
    with ``last_query_only`` the one query is at position T-1. The weights returned include either effect.
    """

    def __init__(
        self, *, d_model: int, n_heads: int, dropout: float = 0.0,
        shared_qkv: bool = False, scale: bool = True, mask_diagonal: bool = False, position: str = "none",
    ) -> None:
        """The three switches exist to measure what each part of the standard layer buys (``forecaster lesson``):

        ``shared_qkv``: one projection W used as query, key and value (the scores q_i . k_j become the
        symmetric (W x_i) . (W x_j)); ``scale=False``: softmax(QK^T) V without the 1/sqrt(d_k);
        ``mask_diagonal``: a frame may not attend to itself (its weight on itself is exactly 0).
        ``position``: ``none``, ``rotary`` or ``alibi`` (see the class docstring); neither adds a parameter.
        """
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        check_position(position, d_model=d_model, n_heads=n_heads)
        self.position = position
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
        self, x: torch.Tensor, *, need_weights: bool = False, last_query_only: bool = False,
        key_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attention output (B, T, D), or (B, 1, D) for the last frame alone with ``last_query_only``.

        ``key_mask`` (B, T) bool, True on the tokens that hold data: the others (padding placed before a short
        series, ``data/padding.py``) are never attended to; their weight is exactly 0 in every row.
        """
        batch, frames, d_model = x.shape  # (B, T, D)
        if self.shared_qkv:
            queries = keys = values = self.qkv(x)  # (B, T, D), one projection in all three roles
        else:
            queries, keys, values = self.qkv(x).chunk(3, dim=-1)  # 3 x (B, T, D)
        if last_query_only:
            queries = queries[:, -1:]  # (B, 1, D): only the newest frame asks; every frame still answers
        q, k, v = self._split_heads(queries), self._split_heads(keys), self._split_heads(values)  # (B, N, T|1, D/N)
        bias = None
        if self.position != "none":
            # The queries are the last q.shape[2] of the T tokens: with last_query_only, the one at T-1.
            query_positions = torch.arange(frames - q.shape[2], frames, device=x.device)
            if self.position == "rotary":
                q = rotate(q, query_positions)
                k = rotate(k, torch.arange(frames, device=x.device))  # the values are not rotated
            else:
                bias = alibi_bias(self.n_heads, query_positions, frames).to(q.dtype)  # (N, T|1, T)
        dropout = self.dropout if self.training else 0.0
        # Query i (of the last q.shape[2] frames) may not see key i: True where attention is forbidden.
        hidden = self._diagonal(q.shape[2], frames, x.device) if self.mask_diagonal else None  # (T|1, T)
        if key_mask is not None:
            hidden = self._padding(key_mask, hidden, q.shape[2])  # (B, 1, T|1, T)
        if need_weights:
            scores = q @ k.transpose(-2, -1)  # (B, N, T|1, T)
            if self.scale:
                scores = scores / math.sqrt(self.d_head)
            if bias is not None:
                scores = scores + bias  # (B, N, T|1, T) + (N, T|1, T)
            if hidden is not None:
                scores = scores.masked_fill(hidden, float("-inf"))
            weights = scores.softmax(dim=-1)
            mixed = F.dropout(weights, p=dropout) @ v  # (B, N, T, D/N)
        else:
            weights = None
            # scale=None is SDPA's own 1/sqrt(d_k); its boolean attn_mask is True where attention is allowed,
            # a float attn_mask is added to the scaled scores (ALiBi's bias, -inf where the diagonal is hidden).
            mask = None if hidden is None else ~hidden
            if bias is not None and key_mask is not None:  # (B, N, T|1, T): the bias, -inf where attention is forbidden
                mask = torch.where(hidden, float("-inf"), bias)
            elif bias is not None:
                mask = bias if hidden is None else bias.masked_fill(hidden, float("-inf"))
            mixed = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=dropout, scale=None if self.scale else 1.0,
            )  # (B, N, T, D/N)
        mixed = mixed.transpose(1, 2).reshape(batch, q.shape[2], d_model)  # (B, T|1, D)
        return self.output(mixed), weights

    @staticmethod
    def _padding(key_mask: torch.Tensor, hidden: torch.Tensor | None, queries: int) -> torch.Tensor:
        """(B, 1, queries, T) bool, True where attention is forbidden: a key that holds no data, or ``hidden``.

        A query left with no key at all (under ``mask_diagonal``, a window whose only real token is the query's own)
        sees itself alone, rather than a softmax over nothing (NaN) or over the padding.
        """
        frames = key_mask.shape[1]
        forbidden = ~key_mask[:, None, None, :]  # (B, 1, 1, T)
        forbidden = forbidden | hidden if hidden is not None else forbidden.expand(-1, -1, queries, -1)
        own = torch.arange(frames - queries, frames, device=key_mask.device)[:, None] == torch.arange(frames, device=key_mask.device)
        return torch.where(forbidden.all(dim=-1, keepdim=True), ~own, forbidden)

    @staticmethod
    def _diagonal(queries: int, frames: int, device: torch.device) -> torch.Tensor:
        """(queries, frames) bool, True at each query's own frame; the queries are the last ``queries`` frames."""
        if frames < 2:
            raise ValueError(f"mask_diagonal needs windows of at least 2 frames (a frame must see another); got {frames}")
        query_frames = torch.arange(frames - queries, frames, device=device)
        return query_frames[:, None] == torch.arange(frames, device=device)[None, :]


RELATIVE_POSITIONS = ("rotary", "alibi")


def check_position(position: str, *, d_model: int, n_heads: int) -> None:
    """A one-line ValueError for a position the attention cannot take, or a rotary head of odd width."""
    if position not in ("none", *RELATIVE_POSITIONS):
        raise ValueError(f"attention position={position!r} is not one of 'none', 'rotary', 'alibi'")
    if position == "rotary" and (d_model // n_heads) % 2:
        raise ValueError(
            f"positional='rotary' rotates pairs of dimensions and needs an even head width; d_model={d_model} / "
            f"n_heads={n_heads} = {d_model // n_heads}: make d_model a multiple of 2 * n_heads = {2 * n_heads}"
        )


def rotate(x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """RoPE (Su et al. 2021): x (..., T, d) with each pair (2i, 2i+1) rotated by positions[t] * 10000^(-2i/d).

    A rotation keeps every vector's norm, and rotating q by angle m and k by angle n leaves their dot
    product a function of the angle n - m: the score sees the offset, not where the pair sits in the window.
    """
    d_head = x.shape[-1]
    theta = torch.pow(10000.0, -torch.arange(0, d_head, 2, device=x.device, dtype=torch.float32) / d_head)  # (d/2,)
    angles = positions.to(torch.float32)[:, None] * theta[None, :]  # (T, d/2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    pairs = x.unflatten(-1, (d_head // 2, 2))  # (..., T, d/2, 2)
    even, odd = pairs[..., 0], pairs[..., 1]
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(start_dim=-2)


def alibi_slopes(n_heads: int) -> torch.Tensor:
    """ALiBi's per-head slopes (Press et al. 2022): the geometric sequence 2^(-8h/n_heads), h = 1..n_heads.

    For 8 heads: 1/2, 1/4, ..., 1/256; each head penalises distance at its own rate, from sharply local
    to nearly flat. (For head counts that are not powers of two the paper interleaves two such sequences;
    this keeps the one formula.)
    """
    return torch.pow(2.0, -8.0 * torch.arange(1, n_heads + 1, dtype=torch.float32) / n_heads)


def alibi_bias(n_heads: int, query_positions: torch.Tensor, frames: int) -> torch.Tensor:
    """(N, Tq, T): -slope_h * |m - n| for the queries at ``query_positions`` and the keys 0..frames-1."""
    keys = torch.arange(frames, device=query_positions.device)
    distance = (query_positions[:, None] - keys[None, :]).abs().to(torch.float32)  # (Tq, T)
    return -alibi_slopes(n_heads).to(query_positions.device)[:, None, None] * distance  # (N, Tq, T)
