"""Train one forecaster: AdamW on the MSE of scaled targets, early stopping on validation loss.

The loop reads top to bottom: shuffle the training windows, step through batches with gradient
clipping, measure the validation loss, keep the best weights, stop after ``patience`` epochs without
improvement and restore the best weights. The seed and the device are decided here and nowhere else.
"""

from __future__ import annotations

import copy
import math
import logging
import random
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from forecaster.errors import ForecasterError
from forecaster.windows import WindowSet

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser, stopping rule, seed and device; the same for every neural model of an experiment."""

    epochs: int = 30
    batch_size: int = 128
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 5
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "auto"

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


@dataclass
class TrainResult:
    """What training did: per-epoch losses, the epoch whose weights were kept, wall-clock seconds."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = float("inf")
    seconds: float = 0.0


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so that a run repeats exactly on the same machine."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(device: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an explicit device that is absent is an error."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ForecasterError(f"train.device={device!r} but CUDA is not available here; use auto or cpu")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ForecasterError("train.device='mps' but MPS is not available here; use auto or cpu")
    return torch.device(device)


LOSS = nn.MSELoss()


@torch.no_grad()
def evaluate_loss(model: nn.Module, windows: WindowSet, batch_size: int) -> float:
    """Mean loss over every window (no sample dropped), in eval mode."""
    model.eval()
    total = 0.0
    for start in range(0, len(windows), batch_size):
        inputs = windows.inputs[start : start + batch_size]
        targets = windows.targets[start : start + batch_size]
        total += LOSS(model(inputs), targets).item() * len(inputs)
    return total / len(windows)


def train_model(
    model: nn.Module,
    train: WindowSet,
    val: WindowSet,
    config: TrainConfig,
    *,
    device: torch.device,
    progress: bool = False,
    description: str = "train",
) -> TrainResult:
    """Fit ``model`` in place on ``train``, keep the weights with the lowest ``val`` loss, return the record."""
    model.to(device)
    train, val = train.to(device), val.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    shuffle = torch.Generator().manual_seed(config.seed)
    result = TrainResult()
    best_state = copy.deepcopy(model.state_dict())
    started = time.perf_counter()
    epochs = tqdm(range(1, config.epochs + 1), desc=description, disable=not progress, leave=True, unit="epoch")
    for epoch in epochs:
        model.train()
        order = torch.randperm(len(train), generator=shuffle).to(device)
        running = torch.zeros((), device=device)  # summed on the device: no host sync per step
        for start in range(0, len(train), config.batch_size):
            batch = order[start : start + config.batch_size]
            inputs, targets = train.inputs[batch], train.targets[batch]  # (B, T, C), (B, H)
            loss = LOSS(model(inputs), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            running += loss.detach() * len(batch)
        train_loss = running.item() / len(train)
        val_loss = evaluate_loss(model, val, config.batch_size)
        result.history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
        improved = val_loss < result.best_val_loss
        if improved:
            result.best_val_loss, result.best_epoch = val_loss, epoch
            best_state = copy.deepcopy(model.state_dict())
        epochs.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}", best_epoch=result.best_epoch)
        if not improved and epoch - result.best_epoch >= config.patience:
            log.info("%s: stopped at epoch %d, best validation loss at epoch %d", description, epoch, result.best_epoch)
            break
    epochs.close()
    model.load_state_dict(best_state)
    result.seconds = time.perf_counter() - started
    return result
