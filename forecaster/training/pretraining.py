"""What ``forecaster pretrain`` is configured by: the objective, the windows, the encoder's size, the training.

The ``pretrain:`` section of an experiment config (``--set pretrain.epochs=2`` as for any section)::

    pretrain: {objective: masked, context: 64, patch: 8, mask_ratio: 0.4, epochs: 10}

``masked`` (PatchTST's self-supervised objective): hide ``mask_ratio`` of each window's non-overlapping
patches and reconstruct them (``data/masking.py``); ``forecast``: the same pool, supervised, the next
``horizon`` values. Either way one channel-independent patch encoder is trained on every channel of
every source, and it is the encoder that is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from forecaster.data.masking import check_masking
from forecaster.data.windows import WindowConfig
from forecaster.errors import ForecasterError
from forecaster.models.transformer import TransformerConfig
from forecaster.training.loop import TrainConfig

OBJECTIVES = ("masked", "forecast")


@dataclass(frozen=True)
class PretrainConfig:
    """The objective, window (``context`` frames in ``patch``-frame tokens), encoder size and training of pretraining."""

    objective: Literal["masked", "forecast"] = "masked"
    """`masked` (hide `mask_ratio` of each window's patches and reconstruct them) or `forecast` (the next `horizon` values)."""
    context: int = 64
    """Frames per window, at least 1."""
    horizon: int = 1
    """The `forecast` objective's steps, at least 1; also the horizon a transfer forecasts unless told another (`--horizon`)."""
    patch: int = 8
    """Frames per token: non-overlapping patches that cut `context` into at least two."""
    mask_ratio: float = 0.4
    """The share of each window's patches the `masked` objective hides, in (0, 1)."""
    d_model: int = 32
    """The encoder's token width."""
    n_heads: int = 4
    """Attention heads per encoder block; must divide `d_model`."""
    n_layers: int = 2
    """Encoder blocks."""
    d_ff: int = 64
    """The width of each block's feed-forward layer."""
    dropout: float = 0.1
    """Dropout probability in the encoder."""
    readout: Literal["last", "mean", "flatten"] = "flatten"
    """The head a transfer puts on the encoder: `last` (the newest token), `mean` (of the tokens) or `flatten` (PatchTST's)."""
    epochs: int = 10
    """At most this many epochs, at least 1."""
    batch_size: int = 256
    """Windows per optimiser step, at least 1."""
    learning_rate: float = 1e-3
    """AdamW's learning rate, constant over pretraining."""
    patience: int = 3
    """Stop after this many epochs without a better loss on the validation spans' windows, at least 1."""
    seed: int = 0
    """Seeds the initial weights, the masks and the shuffling."""
    window_stride: int = 1
    """Keep every Nth training window of each channel, at least 1 (`1`: all); neighbouring windows share all but N frames,
    so a stride of a few frames loses little and makes an epoch N times shorter."""
    train_fraction: float = 0.7
    """Each channel's share of time steps in the training span, in (0, 1); the training spans of all channels are pooled."""
    val_fraction: float = 0.15
    """Each channel's share in the validation span, in (0, 1), which stops training early; the test span after it is never read."""

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ForecasterError(f"pretrain.objective={self.objective!r} is not valid; choose one of: {', '.join(OBJECTIVES)}")
        for name in ("context", "horizon", "epochs", "batch_size", "patience", "window_stride"):
            if getattr(self, name) < 1:
                raise ForecasterError(f"pretrain.{name}={getattr(self, name)} must be at least 1")
        check_masking(self.context, self.patch, self.mask_ratio)
        _ = self.windows  # WindowConfig checks the split fractions

    @property
    def windows(self) -> WindowConfig:
        """Each channel's windows and split: the masked objective reads windows alone (horizon 1 for the split)."""
        return WindowConfig(context=self.context, horizon=self.horizon if self.objective == "forecast" else 1,
                            train_fraction=self.train_fraction, val_fraction=self.val_fraction)

    @property
    def transformer(self) -> TransformerConfig:
        """The encoder (and the architecture of every transfer row): channel-independent patches, instance norm."""
        return TransformerConfig(d_model=self.d_model, n_heads=self.n_heads, n_layers=self.n_layers, d_ff=self.d_ff,
                                 dropout=self.dropout, readout=self.readout, instance_norm=True, patch=self.patch,
                                 channels="independent")

    def train(self, device: str = "auto") -> TrainConfig:
        """The training loop's settings (constant learning rate, early stopping on the validation windows)."""
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
                           patience=self.patience, seed=self.seed, device=device)
