"""The attention forecaster: frame (or patch) embedding + positional encoding -> encoder blocks -> readout -> head."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from forecaster.models.attention import MultiHeadSelfAttention
from forecaster.models.revin import InstanceNormalization


@dataclass(frozen=True)
class TransformerConfig:
    """Width, depth and options of the attention encoder (defaults sized for ~5000 daily prices)."""

    d_model: int = 32
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 64
    dropout: float = 0.1
    positional: Literal["learned", "sinusoidal", "none"] = "learned"
    readout: Literal["last", "mean"] = "last"
    instance_norm: bool = False  # RevIN: each window scaled by its own statistics, reversed on the output
    # Patches as tokens (Nie et al. 2023, PatchTST): each token is ``patch`` consecutive frames; a new token
    # starts every ``patch_stride`` steps (None: = patch, tokens side by side). patch 1: one token per frame.
    patch: int = 1
    patch_stride: int | None = None
    # Ablation switches (``forecaster lesson``); the defaults are the standard transformer, and a
    # checkpoint saved before they existed loads with these defaults.
    positional_combine: Literal["add", "concat"] = "add"  # concat: d_model // 4 position columns beside the frame's
    shared_qkv: bool = False  # one projection used as query, key and value
    attention_scale: bool = True  # divide the scores by sqrt(d_k)
    mask_diagonal: bool = False  # a frame may not attend to itself
    residual: bool = True  # x + f(x) around attention and feed-forward; off: f(x) alone


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
    "what would be lost if we permute the tokens?" question measures. ``combine="concat"`` appends the
    position vector to the token instead of adding it: ``d_model`` is then the width of the position
    part alone, and the tokens come out that much wider.
    """

    def __init__(self, *, kind: str, context: int, d_model: int, combine: str = "add") -> None:
        super().__init__()
        if combine not in ("add", "concat"):
            raise ValueError(f"positional_combine={combine!r} is not one of 'add', 'concat'")
        if combine == "concat" and kind == "none":
            raise ValueError("positional_combine='concat' needs a position to concatenate; positional='none' has none")
        self.kind = kind
        self.context = context
        self.combine = combine
        if kind == "learned":
            # One learned vector per position, as nanoGPT's nn.Embedding(block_size, n_embd); small init
            # (std 0.02, GPT-2's) so that positions do not drown the frame values at the start of training.
            self.table = nn.Parameter(torch.randn(context, d_model) * 0.02)
        elif kind == "sinusoidal":
            self.register_buffer("table", sinusoidal_table(context, d_model), persistent=False)
        elif kind == "none":
            self.table = None
        else:
            raise ValueError(f"positional={kind!r} is not one of 'learned', 'sinusoidal', 'none'")

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


class EncoderBlock(nn.Module):
    """One pre-norm block: x + attention(norm(x)), then x + feed_forward(norm(x)).

    Pre-norm (Xiong et al. 2020) keeps the residual path an identity, which trains stably without
    learning-rate warm-up at these small sizes. ``residual=False`` drops the identity path (attention(norm(x)),
    then feed_forward(norm(.))) to measure what it buys; the attention switches are MultiHeadSelfAttention's.
    """

    def __init__(
        self, *, d_model: int, n_heads: int, d_ff: int, dropout: float, residual: bool = True,
        shared_qkv: bool = False, scale: bool = True, mask_diagonal: bool = False,
    ) -> None:
        super().__init__()
        self.residual = residual
        self.attention_norm = nn.LayerNorm(d_model)
        self.attention = MultiHeadSelfAttention(
            d_model=d_model, n_heads=n_heads, dropout=dropout,
            shared_qkv=shared_qkv, scale=scale, mask_diagonal=mask_diagonal,
        )
        self.feed_forward_norm = nn.LayerNorm(d_model)
        self.feed_forward = nn.Sequential(
            nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model), nn.Dropout(dropout)
        )
        self.residual_dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, *, need_weights: bool = False, last_frame_only: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, T, D) -> (B, T, D), or (B, 1, D) with ``last_frame_only``: the newest frame's output alone."""
        attended, weights = self.attention(
            self.attention_norm(x), need_weights=need_weights, last_query_only=last_frame_only
        )
        if not self.residual:
            x = self.residual_dropout(attended)  # (B, T|1, D)
            return self.feed_forward(self.feed_forward_norm(x)), weights
        if last_frame_only:
            x = x[:, -1:]  # (B, 1, D): the residual stream of the one frame computed
        x = x + self.residual_dropout(attended)  # (B, T|1, D)
        x = x + self.feed_forward(self.feed_forward_norm(x))
        return x, weights


def _check_switches(config: TransformerConfig, tokens: int) -> None:
    """A clear error for an ablation switch set to something it cannot be."""
    for name in ("shared_qkv", "attention_scale", "mask_diagonal", "residual"):
        if type(getattr(config, name)) is not bool:  # 1 or "yes" would pass a truthiness test
            raise ValueError(f"transformer {name}={getattr(config, name)!r} must be true or false")
    if config.positional_combine == "concat" and config.d_model < 2:
        raise ValueError(f"positional_combine='concat' needs d_model >= 2 to hold frame and position; got {config.d_model}")
    if config.mask_diagonal and tokens < 2:
        raise ValueError(
            f"mask_diagonal needs at least 2 tokens per window (a token must have another to attend to); got {tokens}"
        )


class TransformerEncoder(nn.Module):
    """Frames -> contextual embeddings: the part of the model that can be saved and reused elsewhere.

    A token is one frame (``patch=1``) or one patch of frames; the positional table has one row per token
    and every output (embeddings, attention maps) is per token: P tokens, P = T with ``patch=1``, else
    ``len(token_spans(T, patch, stride))``.
    """

    def __init__(self, config: TransformerConfig, *, context: int, channels: int) -> None:
        super().__init__()
        self.context = context
        self.channels = channels
        self.patch = config.patch
        self.stride = config.patch if config.patch_stride is None else config.patch_stride
        tokens = len(token_spans(context, self.patch, self.stride))  # checks patch and stride first
        _check_switches(config, tokens)
        # With a concatenated position the token's projection fills the other d_model - P columns.
        position_width = concat_width(config.d_model) if config.positional_combine == "concat" else config.d_model
        token_width = config.d_model - position_width if config.positional_combine == "concat" else config.d_model
        self.embedding = PatchEmbedding(channels=channels, d_model=token_width, patch=self.patch, stride=self.stride)
        self.positional = PositionalEncoding(
            kind=config.positional, context=tokens, d_model=position_width, combine=config.positional_combine
        )
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            EncoderBlock(
                d_model=config.d_model, n_heads=config.n_heads, d_ff=config.d_ff, dropout=config.dropout,
                residual=config.residual, shared_qkv=config.shared_qkv, scale=config.attention_scale,
                mask_diagonal=config.mask_diagonal,
            )
            for _ in range(config.n_layers)
        )
        self.norm = nn.LayerNorm(config.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        embeddings, _ = self.forward_with_attention(x, need_weights=False)
        return embeddings

    def token_spans(self, frames: int | None = None) -> list[tuple[int, int]]:
        """The frames [start, end) that each token of a ``frames``-long window (default: context) covers."""
        return token_spans(self.context if frames is None else frames, self.patch, self.stride)

    @torch.no_grad()
    def encode(self, windows: torch.Tensor) -> torch.Tensor:
        """Per-token contextual embeddings (B, P, D) of windows (B, T, C), in eval mode, without gradients.

        With ``patch=1`` a token is a frame (P = T); the last token always ends at the newest frame.
        """
        self._check_frames(windows)
        was_training = self.training
        embeddings = self.eval()(windows)
        self.train(was_training)
        return embeddings

    def _check_frames(self, x: torch.Tensor) -> None:
        # A clear message instead of a matrix-shape error deep inside the first projection.
        if x.dim() != 3 or x.shape[-1] != self.channels:
            raise ValueError(
                f"this encoder reads windows (B, T, {self.channels}) of {self.channels} channel(s); got {tuple(x.shape)}"
            )
        if x.shape[1] < self.patch:
            raise ValueError(f"this encoder's tokens are patches of {self.patch} frames; a window of {x.shape[1]} holds none")

    def last_frame(self, x: torch.Tensor) -> torch.Tensor:
        """The newest token's contextual embedding (B, D), as ``forward(x)[:, -1]`` but cheaper.

        The last block's other outputs are never read by a last-frame readout, so that block computes
        one query against all keys and values (O(T) instead of O(T^2)) and one feed-forward row; with
        two layers this roughly halves the work at long contexts.
        """
        self._check_frames(x)
        tokens = self.embedding_dropout(self.positional(self.embedding(x)))  # (B, T, C) -> (B, P, D)
        for block in self.blocks[:-1]:
            tokens, _ = block(tokens)
        if len(self.blocks):
            tokens, _ = self.blocks[-1](tokens, last_frame_only=True)  # (B, 1, D)
        return self.norm(tokens[:, -1])  # (B, D)

    def forward_with_attention(
        self, x: torch.Tensor, *, need_weights: bool = True
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Per-token embeddings and, if asked, each layer's attention weights over tokens.

        With ``patch=1`` tokens are frames: embeddings (B, T, D), weights (B, N, T, T); with patches
        (B, P, D) and (B, N, P, P), P the number of tokens (``token_spans`` says which frames each covers).
        """
        self._check_frames(x)
        tokens = self.embedding_dropout(self.positional(self.embedding(x)))  # (B, T, C) -> (B, P, D)
        attention_maps = []
        for block in self.blocks:
            tokens, weights = block(tokens, need_weights=need_weights)
            if weights is not None:
                attention_maps.append(weights)
        return self.norm(tokens), attention_maps


class TransformerForecaster(nn.Module):
    """``forward(past (B, T, C)) -> (B, H, K)``: encode the window, read one vector out of it, map it to H x K values."""

    def __init__(
        self, config: TransformerConfig, *, context: int, horizon: int, channels: int, targets: int = 1,
        encoder: TransformerEncoder | None = None,
    ) -> None:
        """``encoder``: reuse a trained encoder (e.g. ``load_encoder``) under a new head for ``horizon``."""
        super().__init__()
        if config.readout not in ("last", "mean"):
            raise ValueError(f"transformer readout={config.readout!r} is not one of 'last', 'mean'")
        if encoder is not None and (encoder.channels != channels or encoder.context < context):
            raise ValueError(
                f"the given encoder reads {encoder.channels} channel(s) and up to {encoder.context} frames; "
                f"this forecaster needs {channels} channel(s) and {context} frames"
            )
        self.readout = config.readout
        self.encoder = encoder if encoder is not None else TransformerEncoder(config, context=context, channels=channels)
        self.head = nn.Linear(self.encoder.norm.normalized_shape[0], horizon * targets)
        self.outputs = (horizon, targets)
        self.instance_norm = InstanceNormalization(channels=channels) if config.instance_norm else None

    def forward(self, past: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        """``future`` (B, H, F) inputs known ahead are not read by this model."""
        statistics = None
        if self.instance_norm is not None:
            past, statistics = self.instance_norm.normalize(past)
        # "last": the newest frame has attended to the whole window, and is the one nearest the future.
        if self.readout == "last":
            summary = self.encoder.last_frame(past)  # (B, D)
        else:
            summary = self.encoder(past).mean(dim=1)  # (B, T, D) -> (B, D)
        forecast = self.head(summary).unflatten(1, self.outputs)  # (B, H, K)
        return forecast if statistics is None else self.instance_norm.denormalize(forecast, statistics)


@torch.no_grad()
def attention_maps(model: TransformerForecaster, past: torch.Tensor) -> tuple[list[torch.Tensor], list[tuple[int, int]] | None]:
    """Each layer's attention weights (B, N, P, P) on the windows ``past`` (B, T, C), in eval mode.

    The second value names the frames [start, end) each token covers when tokens are patches (None when
    each token is one frame), so that a figure can label its axes.
    """
    _, maps = model.eval().encoder.forward_with_attention(past)
    spans = model.encoder.token_spans(past.shape[1]) if model.encoder.patch > 1 else None
    return maps, spans
