"""The attention forecaster: frame (or patch) embedding + positional encoding -> encoder blocks -> readout -> head.

What a token holds is the ``channels`` setting:

- ``mixed`` (the default): one token holds every channel of a frame (or patch), and one head maps the
  window's summary to all H x K values;
- ``independent`` (PatchTST's channel independence, Nie et al. 2023): each target channel is its own
  univariate series, and one shared 1-channel encoder and head run on the (B*K, T, 1) batch of them; a
  channel's forecast depends on its own history alone;
- ``variates`` (iTransformer, Liu et al. 2024): each channel's whole window is one token (``VariateEncoder``),
  and attention runs across the C channels, relating whole series rather than time steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from forecaster.models.blocks import Encoding, check_switches, encoder_blocks
from forecaster.models.channels import check_channels, from_channels, per_channel
from forecaster.models.revin import InstanceNormalization
from forecaster.models.tokens import PatchEmbedding, PositionalEncoding, concat_width, token_spans
from forecaster.models.variates import VariateEncoder, check_variate_positions

CHANNEL_MODES = ("mixed", "independent", "variates")
READOUTS = ("last", "mean", "flatten")


@dataclass(frozen=True)
class TransformerConfig:
    """Width, depth and options of the attention encoder (defaults sized for ~5000 daily prices).

    The ablation switches (``positional_combine`` to ``residual``, for ``forecaster lesson``) default to the standard
    transformer, and a checkpoint saved before they existed loads with these defaults.
    """

    d_model: int = 32
    """The token width; a multiple of `n_heads`."""
    n_heads: int = 4
    """Attention heads per block, each `d_model / n_heads` wide."""
    n_layers: int = 2
    """Encoder blocks."""
    d_ff: int = 64
    """The width of each block's feed-forward layer."""
    dropout: float = 0.1
    """Dropout probability in the encoder blocks (and before a `flatten` readout's head)."""
    positional: Literal["learned", "sinusoidal", "none", "rotary", "alibi"] = "learned"
    """Where a token sits: `learned` or `sinusoidal` add a table of absolute positions to the tokens; `rotary` (RoPE, needs
    an even head width) and `alibi` add nothing and make every attention layer's scores depend on the offset between
    tokens; `none`: attention is blind to order. `variates` reads no table and refuses `rotary` and `alibi`."""
    readout: Literal["last", "mean", "flatten"] = "last"
    """What the head reads: `last` (the newest token), `mean` (the mean of all tokens) or `flatten` (every token's embedding
    side by side, P x `d_model` values through dropout: PatchTST's flatten head). `variates` takes `last` only."""
    instance_norm: bool = False
    """RevIN: scale each window by its own mean and deviation (and a learned per-channel affine map), reversed on the forecast."""
    patch: int = 1
    """Consecutive frames per token, from 1 to `windows.context` (PatchTST, Nie et al. 2023); `1`: one token per frame.
    `variates` takes `1` only."""
    patch_stride: int | None = None
    """Steps between the starts of neighbouring tokens, from 1 to `patch`; `None`: `patch` (tokens side by side)."""
    positional_combine: Literal["add", "concat"] = "add"
    """Ablation switch: `add` the position to the token, or `concat` it as `d_model // 4` (at least 1) of the token's `d_model`
    columns; `concat` needs `learned` or `sinusoidal`."""
    shared_qkv: bool = False
    """Ablation switch: one projection used as query, key and value."""
    attention_scale: bool = True
    """Ablation switch: divide the attention scores by sqrt(d_k)."""
    mask_diagonal: bool = False
    """Ablation switch: a token may not attend to itself (needs at least 2 tokens per window)."""
    residual: bool = True
    """Ablation switch: `x + f(x)` around attention and feed-forward; `false`: `f(x)` alone."""
    channels: Literal["mixed", "independent", "variates"] = "mixed"
    """What a token holds: every channel of a frame or patch (`mixed`); one target channel's frame or patch, each channel
    its own sequence through one shared encoder (`independent`, refuses feature channels); or one channel's whole
    window (`variates`: attention across the channels, which have no order, and a head per target token)."""


class TransformerEncoder(Encoding):
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
        check_switches(config, tokens)
        # With a concatenated position the token's projection fills the other d_model - P columns.
        position_width = concat_width(config.d_model) if config.positional_combine == "concat" else config.d_model
        token_width = config.d_model - position_width if config.positional_combine == "concat" else config.d_model
        self.embedding = PatchEmbedding(channels=channels, d_model=token_width, patch=self.patch, stride=self.stride)
        self.positional = PositionalEncoding(
            kind=config.positional, context=tokens, d_model=position_width, combine=config.positional_combine
        )
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.blocks = encoder_blocks(config)
        self.norm = nn.LayerNorm(config.d_model)

    def token_spans(self, frames: int | None = None) -> list[tuple[int, int]]:
        """The frames [start, end) that each token of a ``frames``-long window (default: context) covers."""
        return token_spans(self.context if frames is None else frames, self.patch, self.stride)

    def _check_frames(self, x: torch.Tensor) -> None:
        # A clear message instead of a matrix-shape error deep inside the first projection.
        if x.dim() != 3 or x.shape[-1] != self.channels:
            raise ValueError(
                f"this encoder reads windows (B, T, {self.channels}) of {self.channels} channel(s); got {tuple(x.shape)}"
            )
        if x.shape[1] < self.patch:
            raise ValueError(f"this encoder's tokens are patches of {self.patch} frames; a window of {x.shape[1]} holds none")

    def token_mask(self, observed: torch.Tensor) -> torch.Tensor:
        """(B, P) bool: the tokens that hold at least one real frame, of windows whose frames are ``observed`` (B, T)
        (1 real, 0 padding); a token, or patch, of padding alone is never attended to."""
        if self.patch == 1:
            return observed > 0.5
        skipped = (observed.shape[1] - self.patch) % self.stride  # as PatchEmbedding.patches lays the tokens out
        return observed[:, skipped:].unfold(1, self.patch, self.stride).amax(dim=-1) > 0.5

    def last_frame(self, x: torch.Tensor, observed: torch.Tensor | None = None) -> torch.Tensor:
        """The newest token's contextual embedding (B, D), as ``forward(x)[:, -1]`` but cheaper.

        The last block's other outputs are never read by a last-frame readout, so that block computes
        one query against all keys and values (O(T) instead of O(T^2)) and one feed-forward row; with
        two layers this roughly halves the work at long contexts. ``observed`` (B, T): see ``token_mask``.
        """
        self._check_frames(x)
        key_mask = None if observed is None else self.token_mask(observed)
        tokens = self.embedding_dropout(self.positional(self.embedding(x)))  # (B, T, C) -> (B, P, D)
        for block in self.blocks[:-1]:
            tokens, _ = block(tokens, key_mask=key_mask)
        if len(self.blocks):
            tokens, _ = self.blocks[-1](tokens, last_frame_only=True, key_mask=key_mask)  # (B, 1, D)
        return self.norm(tokens[:, -1])  # (B, D)

    def forward_with_attention(
        self, x: torch.Tensor, *, need_weights: bool = True, observed: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Per-token embeddings and, if asked, each layer's attention weights over tokens.

        With ``patch=1`` tokens are frames: embeddings (B, T, D), weights (B, N, T, T); with patches
        (B, P, D) and (B, N, P, P), P the number of tokens (``token_spans`` says which frames each covers).
        ``observed`` (B, T): see ``token_mask``.
        """
        self._check_frames(x)
        tokens = self.embedding_dropout(self.positional(self.embedding(x)))  # (B, T, C) -> (B, P, D)
        return self._attend(tokens, need_weights=need_weights, key_mask=None if observed is None else self.token_mask(observed))


class PatchReconstruction(nn.Module):
    """PatchTST's pretraining model: a channel-independent ``TransformerEncoder`` and a linear map from each
    token's embedding back to its patch's values.

    ``forward(past (B, T, 1)) -> (B, T, 1)``: every patch reconstructed, hidden or not (the loss reads the
    hidden ones, ``masked_mse``). The patches must tile the window (T = P * patch, no stride), so that
    each frame is one token's. The encoder is what is kept and reused (``TransformerForecaster(encoder=...)``).
    """

    def __init__(self, config: TransformerConfig, *, context: int) -> None:
        super().__init__()
        self.encoder = TransformerEncoder(config, context=context, channels=1)
        self.head = nn.Linear(config.d_model, self.encoder.patch)

    def forward(self, past: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        """``future`` is not read."""
        return self.head(self.encoder(past)).flatten(start_dim=1).unsqueeze(-1)  # (B, P, D) -> (B, P, patch) -> (B, T, 1)


def _check_modes(config: TransformerConfig, *, channels: int, targets: int) -> None:
    """A one-line ValueError for a readout or channel mode the forecaster cannot be built with."""
    if config.readout not in READOUTS:
        raise ValueError(f"transformer readout={config.readout!r} is not one of {', '.join(map(repr, READOUTS))}")
    check_channels("transformer", config.channels, CHANNEL_MODES, channels=channels, targets=targets)
    if config.channels != "variates":
        return
    check_variate_positions(config)
    if config.readout != "last":
        raise ValueError(f"transformer channels='variates' reads each target's own token (a head per channel); "
                         f"readout={config.readout!r} does not apply, leave readout: last")
    if config.patch != 1:
        raise ValueError(f"transformer channels='variates' makes each channel's whole window one token; "
                         f"patch={config.patch} does not apply, leave patch: 1")


class TransformerForecaster(nn.Module):
    """``forward(past (B, T, C)) -> (B, H, K)``: encode the window, read a summary out of it, map it to the forecast.

    ``mixed``: one summary of the window -> H x K values; ``independent``: one summary per target channel
    (each its own 1-channel sequence) -> its H values; ``variates``: each target channel's token -> its H values.
    With ``instance_norm`` the window is normalised per channel (RevIN) before any of this, and the affine
    map is per channel in every mode (in ``independent`` mode too, so that channel k's forecast still
    depends on channel k alone).

    ``observed``: the last channel is the padding mask of a run that pads short series (``data/padding.py``). The
    values under it are zeroed whatever they are (so the forecast cannot depend on them), RevIN's statistics are the
    real frames' alone, and in ``mixed`` mode a token of padding alone is never attended to nor read by a ``mean`` or
    ``flatten`` readout; ``variates`` reads the mask as one more channel token.
    """

    def __init__(
        self, config: TransformerConfig, *, context: int, horizon: int, channels: int, targets: int = 1,
        encoder: TransformerEncoder | VariateEncoder | None = None, observed: bool = False,
    ) -> None:
        """``encoder``: reuse a trained encoder (e.g. ``load_encoder``) under a new head for ``horizon``."""
        super().__init__()
        self.observed = observed
        _check_modes(config, channels=channels, targets=targets)
        self.channel_mode = config.channels
        if encoder is not None:
            _check_encoder(encoder, config.channels, context=context, channels=channels)
        self.readout = config.readout
        if encoder is not None:
            self.encoder = encoder
        elif config.channels == "variates":
            self.encoder = VariateEncoder(config, context=context, channels=channels)
        else:  # independent: one encoder for a single channel, shared by all
            reads = 1 if config.channels == "independent" else channels
            self.encoder = TransformerEncoder(config, context=context, channels=reads)
        width = self.encoder.norm.normalized_shape[0]
        if config.readout == "flatten" and config.channels != "variates":
            width *= len(self.encoder.token_spans(context))  # P tokens of D values
            self.head_dropout = nn.Dropout(config.dropout)
        # mixed: H x K values from one summary; otherwise H values from each channel's summary or token.
        self.head = nn.Linear(width, horizon * targets if config.channels == "mixed" else horizon)
        self.outputs = (horizon, targets)
        # The padding mask is passed through as it is: normalising it would erase it.
        self.instance_norm = InstanceNormalization(channels=channels - observed) if config.instance_norm else None

    def masked(self, past: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The window with what lies on padding zeroed, and its mask (B, T); ``past`` and None for a model without one."""
        if not self.observed:
            return past, None
        observed = past[..., -1]  # (B, T): 1 on real frames, 0 on padding
        return torch.cat([past[..., :-1] * observed[..., None], observed[..., None]], dim=-1), observed

    def forward(self, past: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        """``future`` (B, H, F) inputs known ahead are not read by this model."""
        past, observed = self.masked(past)
        statistics = None
        if self.instance_norm is not None and observed is not None:  # the data channels by their real frames
            data, statistics = self.instance_norm.normalize(past[..., :-1], observed)
            past = torch.cat([data, observed[..., None]], dim=-1)
        elif self.instance_norm is not None:
            past, statistics = self.instance_norm.normalize(past)  # per channel, before any reshape
        targets = self.outputs[1]
        if self.channel_mode == "variates":
            tokens = self.encoder(past)[:, :targets]  # (B, C, D) -> (B, K, D): the target channels' tokens
            forecast = self.head(tokens).transpose(1, 2)  # (B, K, H) -> (B, H, K)
        elif self.channel_mode == "independent":
            forecast = from_channels(self.head(self._summary(per_channel(past))), targets)  # (B*K, H) -> (B, H, K)
        else:
            forecast = self.head(self._summary(past, observed)).unflatten(1, self.outputs)  # (B, H*K) -> (B, H, K)
        return forecast if statistics is None else self.instance_norm.denormalize(forecast, statistics)

    def _summary(self, past: torch.Tensor, observed: torch.Tensor | None = None) -> torch.Tensor:
        """The readout: one vector per window (B, D), or (B, P*D) flattened; ``observed`` (B, T): the padding mask."""
        # "last": the newest frame has attended to the whole window, and is the one nearest the future.
        if self.readout == "last":
            return self.encoder.last_frame(past, observed)  # (B, D)
        if observed is not None:  # the tokens of padding alone are left out of the mean, and zero in a flattened readout
            embeddings, _ = self.encoder.forward_with_attention(past, need_weights=False, observed=observed)
            real = self.encoder.token_mask(observed)[..., None].to(embeddings.dtype)  # (B, P, 1)
            if self.readout == "mean":
                return (embeddings * real).sum(dim=1) / real.sum(dim=1)  # the last token is always real: never 0
            return self.head_dropout((embeddings * real).flatten(start_dim=1))
        if self.readout == "mean":
            return self.encoder(past).mean(dim=1)  # (B, T, D) -> (B, D)
        return self.head_dropout(self.encoder(past).flatten(start_dim=1))  # (B, P, D) -> (B, P*D)


def _check_encoder(encoder: nn.Module, mode: str, *, context: int, channels: int) -> None:
    """A ValueError when a reused encoder cannot serve a forecaster of this channel mode, context and channels."""
    variates = mode == "variates"
    reads = 1 if mode == "independent" else channels
    frames = encoder.context == context if variates else encoder.context >= context
    if isinstance(encoder, VariateEncoder) != variates or encoder.channels != reads or not frames:
        kind = "channel-token" if isinstance(encoder, VariateEncoder) else "frame"
        raise ValueError(
            f"the given {kind} encoder reads {encoder.channels} channel(s) and up to {encoder.context} frames; "
            f"this forecaster needs {reads} channel(s) and {context} frames, from "
            f"{'a channel-token' if variates else 'a frame'} encoder (channels={mode!r})"
        )


@torch.no_grad()
def attention_maps(model: TransformerForecaster, past: torch.Tensor) -> tuple[list[torch.Tensor], list[tuple[int, int]] | None]:
    """Each layer's attention weights (B, N, P, P) on the windows ``past`` (B, T, C), in eval mode.

    The second value names the frames [start, end) each token covers when tokens are patches (None when
    each token is one frame), so that a figure can label its axes. Per channel mode: ``independent``
    returns the maps of every channel's own sequence, (B*K, N, P, P) with channel k of window b at
    b*K + k (so map 0 is the first target's); ``variates`` returns the maps across channels (B, N, C, C),
    and every token's span is the whole window.
    """
    encoder = model.eval().encoder
    if isinstance(encoder, VariateEncoder):
        _, maps = encoder.forward_with_attention(past)
        return maps, [(0, past.shape[1])] * past.shape[2]
    base = model
    while not isinstance(base, TransformerForecaster) and hasattr(base, "base"):  # under a head or future-input wrapper
        base = base.base
    past, observed = base.masked(past) if isinstance(base, TransformerForecaster) else (past, None)  # as forward reads it
    if encoder.channels == 1 and past.shape[-1] > 1:  # a 1-channel encoder on several: channel independence
        past = per_channel(past)  # (B, T, K) -> (B*K, T, 1)
    _, maps = encoder.forward_with_attention(past, observed=observed)
    spans = encoder.token_spans(past.shape[1]) if encoder.patch > 1 else None
    return maps, spans
