"""The encoder's parts that every token layout shares: the pre-norm block, the stack of them, plain encoding.

``TransformerEncoder`` (frames or patches as tokens, ``transformer.py``) and ``VariateEncoder`` (channels
as tokens, ``variates.py``) differ only in how a window becomes tokens; from there both run the same
blocks, built from the same ``TransformerConfig`` switches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from forecaster.models.attention import RELATIVE_POSITIONS, MultiHeadSelfAttention

if TYPE_CHECKING:  # for annotations only: transformer.py builds on this module
    from forecaster.models.transformer import TransformerConfig


class EncoderBlock(nn.Module):
    """One pre-norm block: x + attention(norm(x)), then x + feed_forward(norm(x)).

    Pre-norm (Xiong et al. 2020) keeps the residual path an identity, which trains stably without
    learning-rate warm-up at these small sizes. ``residual=False`` drops the identity path (attention(norm(x)),
    then feed_forward(norm(.))) to measure what it buys; the attention switches and ``position`` (none,
    rotary, alibi: relative positions inside the scores) are MultiHeadSelfAttention's.
    """

    def __init__(
        self, *, d_model: int, n_heads: int, d_ff: int, dropout: float, residual: bool = True,
        shared_qkv: bool = False, scale: bool = True, mask_diagonal: bool = False, position: str = "none",
    ) -> None:
        super().__init__()
        self.residual = residual
        self.attention_norm = nn.LayerNorm(d_model)
        self.attention = MultiHeadSelfAttention(
            d_model=d_model, n_heads=n_heads, dropout=dropout,
            shared_qkv=shared_qkv, scale=scale, mask_diagonal=mask_diagonal, position=position,
        )
        self.feed_forward_norm = nn.LayerNorm(d_model)
        self.feed_forward = nn.Sequential(
            nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model), nn.Dropout(dropout)
        )
        self.residual_dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, *, need_weights: bool = False, last_frame_only: bool = False,
        key_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, T, D) -> (B, T, D), or (B, 1, D) with ``last_frame_only``: the newest frame's output alone. ``key_mask``
        (B, T): the tokens that may be attended to (see ``MultiHeadSelfAttention``)."""
        attended, weights = self.attention(
            self.attention_norm(x), need_weights=need_weights, last_query_only=last_frame_only, key_mask=key_mask
        )
        if not self.residual:
            x = self.residual_dropout(attended)  # (B, T|1, D)
            return self.feed_forward(self.feed_forward_norm(x)), weights
        if last_frame_only:
            x = x[:, -1:]  # (B, 1, D): the residual stream of the one frame computed
        x = x + self.residual_dropout(attended)  # (B, T|1, D)
        x = x + self.feed_forward(self.feed_forward_norm(x))
        return x, weights


def check_switches(config: TransformerConfig, tokens: int) -> None:
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


def encoder_blocks(config: TransformerConfig) -> nn.ModuleList:
    """The ``n_layers`` encoder blocks of ``config``, every switch passed on.

    ``positional: rotary`` or ``alibi`` is the attention's own (every block's); a table added to the tokens
    (``learned``, ``sinusoidal``) is the encoder's, and leaves the attention order-blind.
    """
    position = config.positional if config.positional in RELATIVE_POSITIONS else "none"
    return nn.ModuleList(
        EncoderBlock(
            d_model=config.d_model, n_heads=config.n_heads, d_ff=config.d_ff, dropout=config.dropout,
            residual=config.residual, shared_qkv=config.shared_qkv, scale=config.attention_scale,
            mask_diagonal=config.mask_diagonal, position=position,
        )
        for _ in range(config.n_layers)
    )


class Encoding(nn.Module):
    """What every encoder offers beside ``forward_with_attention`` and ``_check_frames``: plain and eval-mode encoding."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        embeddings, _ = self.forward_with_attention(x, need_weights=False)
        return embeddings

    @torch.no_grad()
    def encode(self, windows: torch.Tensor) -> torch.Tensor:
        """Contextual embeddings (B, P, D) of windows (B, T, C), one per token, in eval mode, without gradients.

        With ``patch=1`` a token is a frame (P = T); the last token always ends at the newest frame.
        (``VariateEncoder``: one token per channel, P = C.)
        """
        self._check_frames(windows)
        was_training = self.training
        embeddings = self.eval()(windows)
        self.train(was_training)
        return embeddings

    def _attend(self, tokens: torch.Tensor, *, need_weights: bool, key_mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Tokens (B, P, D) through every block and the final norm; each layer's weights (B, N, P, P) if asked.
        ``key_mask`` (B, P): the tokens that hold data, the only ones attended to."""
        attention_maps = []
        for block in self.blocks:
            tokens, weights = block(tokens, need_weights=need_weights, key_mask=key_mask)
            if weights is not None:
                attention_maps.append(weights)
        return self.norm(tokens), attention_maps
