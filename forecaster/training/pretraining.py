"""What ``forecaster pretrain`` is configured by: the objective, and the windows, encoder and training sections.

The ``pretrain:`` section of an experiment config (``--set pretrain.train.epochs=2`` as for any section)::

    pretrain:
      objective: masked
      mask_ratio: 0.4
      windows: {context: 64}
      encoder: {patch: 8, d_model: 32}
      train: {epochs: 10}

Its sections are the dataclasses that configure the same parts of a run (``WindowConfig``, ``TransformerConfig``,
``TrainConfig``), with pretraining's own defaults. The keys of the flat layout written before the sections
(``pretrain.epochs``, ``pretrain.d_model``, ...) are still read, as their new paths (``RENAMED``).

``masked`` (PatchTST's self-supervised objective): hide ``mask_ratio`` of each window's non-overlapping
patches and reconstruct them (``data/masking.py``); ``forecast``: the same pool, supervised, the next
``horizon`` values. Either way one channel-independent patch encoder is trained on every channel of
every source, and it is the encoder that is kept.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from forecaster.data.masking import check_masking
from forecaster.data.windows import WindowConfig
from forecaster.errors import ForecasterError
from forecaster.models.transformer import TransformerConfig
from forecaster.training.loop import TrainConfig

OBJECTIVES = ("masked", "forecast")


def default_encoder() -> TransformerConfig:
    """Pretraining's encoder: PatchTST's channel-independent patches of 8 frames under instance norm, a flatten head."""
    return TransformerConfig(d_model=32, n_heads=4, n_layers=2, d_ff=64, dropout=0.1, readout="flatten", instance_norm=True,
                             patch=8, channels="independent")


def default_train() -> TrainConfig:
    """Pretraining's loop: at most 10 epochs of 256 windows at a constant learning rate, patience 3."""
    return TrainConfig(epochs=10, batch_size=256, learning_rate=1e-3, patience=3, seed=0, schedule="constant")


@dataclass(frozen=True)
class PretrainConfig:
    """The objective, windows (`context` frames in `patch`-frame tokens), encoder and training of pretraining."""

    objective: Literal["masked", "forecast"] = "masked"
    """`masked` (hide `mask_ratio` of each window's patches and reconstruct them) or `forecast` (the next `horizon` values)."""
    mask_ratio: float = 0.4
    """The share of each window's patches the `masked` objective hides, in (0, 1)."""
    window_stride: int = 1
    """Keep every Nth training window of each channel, at least 1 (`1`: all); neighbouring windows share all but N frames,
    so a stride of a few frames loses little and makes an epoch N times shorter."""
    windows: WindowConfig = field(default_factory=WindowConfig)
    """Each channel's windows and split (`pretrain.windows.context`, ...): its training spans are pooled, its validation
    spans stop training early and its test span is never read. `horizon` is the `forecast` objective's steps (the `masked`
    one reads windows alone, its split cut as for horizon 1) and the horizon a transfer forecasts unless told another."""
    encoder: TransformerConfig = field(default_factory=default_encoder)
    """The encoder (`pretrain.encoder.d_model`, ...): `patch`-frame tokens that cut `windows.context` into at least two
    non-overlapping patches, one channel at a time (`channels: independent`); `readout` is the head a transfer puts on it."""
    train: TrainConfig = field(default_factory=default_train)
    """The training loop (`pretrain.train.epochs`, ...): early stopping on the validation spans' windows, `seed` for the
    initial weights, the masks and the shuffling; `device` `auto` reads the experiment's `train.device` (the two set to
    different devices is an error)."""

    # The flat layout's keys, read as their paths in the sections (an old key and its new path both given: an error).
    RENAMED: ClassVar[dict[str, str]] = {
        **{key: f"windows.{key}" for key in ("context", "horizon", "train_fraction", "val_fraction")},
        **{key: f"encoder.{key}" for key in ("patch", "d_model", "n_heads", "n_layers", "d_ff", "dropout", "readout")},
        **{key: f"train.{key}" for key in ("epochs", "batch_size", "learning_rate", "patience", "seed")},
    }

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ForecasterError(f"pretrain.objective={self.objective!r} is not valid; choose one of: {', '.join(OBJECTIVES)}")
        if self.window_stride < 1:
            raise ForecasterError(f"pretrain.window_stride={self.window_stride} must be at least 1")
        if self.encoder.channels != "independent":
            raise ForecasterError(f"pretrain.encoder.channels={self.encoder.channels!r}: pretraining trains a channel-independent "
                                  "encoder on every channel, one at a time; leave it independent")
        if self.encoder.patch_stride not in (None, self.encoder.patch):
            raise ForecasterError(f"pretrain.encoder.patch_stride={self.encoder.patch_stride}: pretraining's patches do not "
                                  f"overlap; leave it null (or pretrain.encoder.patch={self.encoder.patch})")
        check_masking(self.windows.context, self.encoder.patch, self.mask_ratio)

    @property
    def objective_windows(self) -> WindowConfig:
        """The windows the objective reads: ``windows``, but the masked objective reads windows alone (horizon 1 for the split)."""
        return self.windows if self.objective == "forecast" else dataclasses.replace(self.windows, horizon=1)
