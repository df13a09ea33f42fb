"""Channels as tokens (iTransformer, Liu et al. 2024): the encoder of a transformer with ``channels: variates``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from forecaster.models.attention import RELATIVE_POSITIONS
from forecaster.models.blocks import Encoding, check_switches, encoder_blocks

if TYPE_CHECKING:  # for annotations only: transformer.py builds on this module
    from forecaster.models.transformer import TransformerConfig


class VariateEncoder(Encoding):
    """Channels -> contextual embeddings (iTransformer, Liu et al. 2024): each channel's whole window is one token.

    A channel's T values are projected to d_model by one linear map, and attention runs across the C
    channel-tokens, so it relates whole series (a lead, a common move) instead of time steps; order in
    time is kept by the projection (each step has its own weights), and there is no positional encoding:
    channels have no order, so the encoder is permutation-equivariant over channels. The embedding reads
    exactly ``context`` frames. Outputs are per channel: embeddings (B, C, D), attention weights (B, N, C, C).
    A table (``positional: learned`` or ``sinusoidal``) is not read; relative positions (``rotary``, ``alibi``)
    would act inside attention, across channels, and are refused (``check_variate_positions``).
    """

    patch = 1  # no patches: every token spans the whole window

    def __init__(self, config: TransformerConfig, *, context: int, channels: int) -> None:
        super().__init__()
        self.context = context
        self.channels = channels
        check_variate_positions(config)
        check_switches(config, channels)
        self.embedding = nn.Linear(context, config.d_model)
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.blocks = encoder_blocks(config)
        self.norm = nn.LayerNorm(config.d_model)

    def _check_frames(self, x: torch.Tensor) -> None:
        if x.dim() != 3 or x.shape[1:] != (self.context, self.channels):
            raise ValueError(
                f"this encoder reads windows (B, {self.context}, {self.channels}): {self.context} frames of "
                f"{self.channels} channel(s); got {tuple(x.shape)}"
            )

    def forward_with_attention(
        self, x: torch.Tensor, *, need_weights: bool = True
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Per-channel embeddings (B, C, D) and, if asked, each layer's attention weights (B, N, C, C) over channels."""
        self._check_frames(x)
        tokens = self.embedding_dropout(self.embedding(x.transpose(1, 2)))  # (B, T, C) -> (B, C, T) -> (B, C, D)
        return self._attend(tokens, need_weights=need_weights)


def check_variate_positions(config: TransformerConfig) -> None:
    """A one-line ValueError for relative positions across channels: channel-tokens have no order to measure."""
    if config.positional in RELATIVE_POSITIONS:
        raise ValueError(f"transformer channels='variates' makes each channel one token, and channels have no order; "
                         f"positional={config.positional!r} does not apply, use channels: mixed or independent")
