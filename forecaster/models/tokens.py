"""Tokens and their positions: how a window of frames becomes the transformer's sequence of tokens.

A token is one frame (``patch=1``, the lecture's layout) or a patch of consecutive frames (PatchTST, Nie et
al. 2023), projected to ``d_model`` by ``PatchEmbedding``; ``token_spans`` says which frames each token covers.
``PositionalEncoding`` adds (or concatenates) a learned or sinusoidal table of absolute positions, one row
per token; relative positions (rotary, ALiBi) act inside attention instead (``models/attention.py``).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from forecaster.models.attention import RELATIVE_POSITIONS


def token_spans(context: int, patch: int, stride: int | None = None) -> list[tuple[int, int]]:
    """The frames [start, end) of the window that each token covers, oldest token first.

    Tokens are laid out backwards from the newest frame, so that the last token always ends at the last
    frame (the one a "last" readout reads and the one nearest the future). When ``context - patch`` is not
    a multiple of the stride, the oldest ``(context - patch) % stride`` frames belong to no token and are
    not read: e.g. context 100, patch 16 reads frames 4..99 in 6 tokens. (PatchTST pads the end by
    repeating the last value instead; that would put a token of copies where the newest data should be.)
    """
    stride = patch if stride is None else stride
    check_patching(context, patch, stride)
    skipped = (context - patch) % stride
    return [(start, start + patch) for start in range(skipped, context - patch + 1, stride)]


def check_patching(context: int, patch: int, stride: int) -> None:
    """A ValueError naming the valid values when ``patch`` and ``stride`` cannot tile a ``context``-frame window."""
    if not 1 <= patch <= context:
        raise ValueError(f"transformer patch={patch} must be between 1 and context={context} frames")
    if not 1 <= stride <= patch:
        # A stride beyond the patch would leave frames between tokens that no token reads.
        raise ValueError(f"transformer patch_stride={stride} must be between 1 and patch={patch}")


class PatchEmbedding(nn.Module):
    """Project each patch (``patch`` consecutive frames of C values) to a d_model-wide token.

    With ``patch=1`` this is the lecture's frame embedding: one token per time step.
    """

    def __init__(self, *, channels: int, d_model: int, patch: int = 1, stride: int | None = None) -> None:
        super().__init__()
        self.patch = patch
        self.stride = patch if stride is None else stride
        self.projection = nn.Linear(patch * channels, d_model)

    def patches(self, x: torch.Tensor) -> torch.Tensor:
        """The raw patches (B, P, patch*C) of windows (B, T, C), frame after frame inside each patch."""
        skipped = (x.shape[1] - self.patch) % self.stride  # the oldest frames no token covers (token_spans)
        tokens = x[:, skipped:].unfold(1, self.patch, self.stride)  # (B, P, C, patch), a view
        return tokens.transpose(2, 3).flatten(start_dim=2)  # (B, P, patch, C) -> (B, P, patch*C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.patch == 1:
            return self.projection(x)  # (B, T, C) -> (B, T, D): no unfold needed
        return self.projection(self.patches(x))  # (B, P, patch*C) -> (B, P, D)


class PositionalEncoding(nn.Module):
    """Add where a frame sits in the window to its embedding: a learned table, fixed sinusoids, or nothing.

    ``none`` leaves self-attention blind to order (permutation-equivariant), which is what the lecture's
    "what would be lost if we permute the tokens?" question measures. ``rotary`` and ``alibi`` add nothing
    here either: their positions are relative and live in the attention scores (``MultiHeadSelfAttention``).
    ``combine="concat"`` appends the position vector to the token instead of adding it: ``d_model`` is then
    the width of the position part alone, and the tokens come out that much wider.
    """

    def __init__(self, *, kind: str, context: int, d_model: int, combine: str = "add") -> None:
        super().__init__()
        if combine not in ("add", "concat"):
            raise ValueError(f"positional_combine={combine!r} is not one of 'add', 'concat'")
        if combine == "concat" and kind == "none":
            raise ValueError("positional_combine='concat' needs a position to concatenate; positional='none' has none")
        if combine == "concat" and kind in RELATIVE_POSITIONS:
            raise ValueError(f"positional_combine='concat' needs a position to concatenate; positional={kind!r} adds none "
                             f"to the tokens (it acts inside attention): leave positional_combine: add")
        self.kind = kind
        self.context = context
        self.combine = combine
        if kind == "learned":
            # One learned vector per position, as nanoGPT's nn.Embedding(block_size, n_embd); small init
            # (std 0.02, GPT-2's) so that positions do not drown the frame values at the start of training.
            self.table = nn.Parameter(torch.randn(context, d_model) * 0.02)
        elif kind == "sinusoidal":
            self.register_buffer("table", sinusoidal_table(context, d_model), persistent=False)
        elif kind == "none" or kind in RELATIVE_POSITIONS:
            self.table = None
        else:
            raise ValueError(f"positional={kind!r} is not one of 'learned', 'sinusoidal', 'none', 'rotary', 'alibi'")

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        frames = tokens.shape[1]
        if self.table is None:
            return tokens
        if frames > self.context:
            raise ValueError(f"window of {frames} frames is longer than the positional table ({self.context})")
        if self.combine == "concat":
            positions = self.table[:frames].expand(tokens.shape[0], -1, -1)  # (B, T, P)
            return torch.cat([tokens, positions], dim=-1)  # (B, T, D - P) + (B, T, P) -> (B, T, D)
        return tokens + self.table[:frames]  # (B, T, D) + (T, D)


def concat_width(d_model: int) -> int:
    """Position columns when the position is concatenated: a quarter of the width (at least 1).

    The total width stays d_model, so "add" and "concat" compare at the same model width; the frame's
    own projection gets the other three quarters.
    """
    return max(1, d_model // 4)


def sinusoidal_table(context: int, d_model: int) -> torch.Tensor:
    """The fixed sine/cosine table of Vaswani et al. (2017), section 3.5: (context, d_model)."""
    position = torch.arange(context, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(context, d_model)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)[:, : d_model // 2]
    return table
