"""The ``train:`` section: optimiser, learning-rate schedule, stopping rule, loss, seed and device (``TrainConfig``).

Read by the training loop (``loop.py``) and by every command that trains; kept apart from the loop so that the
settings a user writes are found by their name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from forecaster.errors import ForecasterError

DEVICES = ("auto", "cpu", "cuda", "mps")
SCHEDULES = ("constant", "cosine", "one_cycle")
LOSSES = ("mse", "mae")  # a point forecast's training loss (train.loss)


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser, learning-rate schedule, stopping rule, seed and device; the same for every neural model of an experiment."""

    epochs: int = 30
    """At most this many epochs, at least 1."""
    batch_size: int = 128
    """Training windows per optimiser step, at least 1."""
    learning_rate: float = 1e-3
    """AdamW's learning rate (the peak of a `cosine` or `one_cycle` schedule), positive."""
    weight_decay: float = 1e-4
    """AdamW's decoupled weight decay, non-negative."""
    patience: int = 5
    """Stop after this many epochs without a better validation loss (at least 1); the best weights are restored."""
    grad_clip: float = 1.0
    """The largest gradient norm: gradients are rescaled to it when longer; positive."""
    seed: int = 0
    """Seeds Python, NumPy and torch (weights, dropout, shuffling); the same seed repeats a run's metrics on the same hardware."""
    device: str = "auto"
    """`auto` (`cuda`, then `mps`, then `cpu`), `cpu`, `cuda`, `cuda:N` or `mps`."""
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    """`auto` (bf16 autocast on CUDA cards that support it, fp32 elsewhere), `fp32` or `bf16`."""
    compile: bool = False
    """Wrap the model in `torch.compile` for training, at a compile time of tens of seconds."""
    schedule: Literal["constant", "cosine", "one_cycle"] = "constant"
    """The learning rate over training: `constant` (no scheduler), `cosine` (a linear warm-up, then a cosine decay to 0)
    or `one_cycle` (torch's `OneCycleLR`: up to `learning_rate`, then down to almost 0, AdamW's beta1 cycled the other way).
    Planned over all `epochs` and stepped after every batch, so early stopping ends it partway."""
    warmup: float = 0.0
    """The fraction of all planned steps (epochs x batches per epoch) spent raising the learning rate linearly, in [0, 1);
    `one_cycle` takes `0.3` when it is `0`, and `constant` ignores it."""
    loss: Literal["mse", "mae"] = "mse"
    """What point forecasts train on and early stopping reads: the scaled targets' `mse` or `mae` (the error MASE scores).
    A distributional head (`intervals.method: quantile` or `normal`) trains on its own loss."""
    refit: bool = False
    """After early stopping, train again from the same initial weights on every window whose targets lie before the test
    span (training and validation) for the best epoch's number of epochs, and keep those weights: the newest values
    before the test span teach the model too (the competitions' last h points of history). Runs and backtests refit;
    `forecaster tune` never does (it scores the validation span)."""

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ForecasterError(f"train.{name}={getattr(self, name)} must be at least 1")
        finite = all(math.isfinite(value) for value in (self.learning_rate, self.weight_decay, self.grad_clip))
        if not finite or self.learning_rate <= 0 or self.weight_decay < 0 or self.grad_clip <= 0:
            raise ForecasterError(
                f"train.learning_rate={self.learning_rate} and train.grad_clip={self.grad_clip} must be positive, "
                f"train.weight_decay={self.weight_decay} non-negative, all finite"
            )
        if self.device not in DEVICES and not self.device.startswith("cuda:"):
            raise ForecasterError(f"train.device={self.device!r} is not one of {', '.join(DEVICES)} (or cuda:N)")
        for name, valid in (("schedule", SCHEDULES), ("loss", LOSSES)):
            if getattr(self, name) not in valid:
                raise ForecasterError(f"train.{name}={getattr(self, name)!r} is not valid; choose one of: {', '.join(valid)}")
        if not (math.isfinite(self.warmup) and 0 <= self.warmup < 1):
            raise ForecasterError(f"train.warmup={self.warmup} must be a fraction of the training steps in [0, 1), e.g. 0.1")
