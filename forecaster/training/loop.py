"""Train one forecaster: AdamW on a loss of scaled targets (MSE by default), early stopping on validation loss.

The loop reads top to bottom: shuffle the training windows, step through batches with gradient
clipping (and a learning-rate schedule when ``train.schedule`` names one), measure the validation loss,
keep the best weights, stop after ``patience`` epochs without improvement and restore the best weights.
The seed and the device are decided here and nowhere else. What varies between uses is passed in, not
written into the loop: the ``loss`` (see ``losses.py``), and hooks called after every step and every
epoch (recording, tracking, pruning).
"""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from forecaster.data.windows import Batch, PooledWindows, WindowSet
from forecaster.errors import ForecasterError
from forecaster.training import distributed
from forecaster.training.config import TrainConfig  # noqa: F401 (the loop's settings; imported from here too)
from forecaster.training.losses import Loss, mse

log = logging.getLogger(__name__)

ONE_CYCLE_WARMUP = 0.3  # one_cycle's warm-up fraction when train.warmup is 0 (torch's default pct_start)


@dataclass
class TrainResult:
    """What training did: per-epoch losses, the epoch whose weights were kept, wall-clock seconds."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_loss: float = float("inf")
    seconds: float = 0.0
    failure: str | None = None  # why training stopped abnormally (a non-finite loss), else None
    stopped_by_hook: bool = False  # on_epoch_end asked to stop (e.g. a tuner pruning the trial)


@dataclass(frozen=True)
class EpochEnd:
    """What ``on_epoch_end`` is told after each epoch: the epoch's losses, the best so far, the model itself.

    ``model`` is the module being trained, in eval mode; a hook may read it (attention entropy, weights)
    but must not change it. The losses are means over windows, on the training and validation windows.
    """

    epoch: int
    train_loss: float
    val_loss: float
    best_epoch: int
    best_val_loss: float
    model: nn.Module


# The hooks: on_step_end(model) after each optimiser step (the clipped gradients still in place);
# on_epoch_end(EpochEnd) after each epoch's validation, returning True to stop training there.
StepHook = Callable[[nn.Module], None]
EpochHook = Callable[[EpochEnd], "bool | None"]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so that a run repeats exactly on the same machine."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_device(device: str) -> torch.device:
    """``auto`` picks cuda, then mps, then cpu; an explicit device that is absent is an error."""
    if device in ("auto", "cuda") and distributed.world_size() > 1 and torch.cuda.is_available():
        return torch.device("cuda", distributed.local_rank())  # under torchrun: one GPU per process
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


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The reduced precision to train in, or None for fp32.

    ``auto`` is bf16 on CUDA cards that support it (no loss scaling needed, unlike fp16) and fp32
    elsewhere: on most CPUs bf16 autocast is slower than fp32.
    """
    if precision == "fp32":
        return None
    cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    if precision == "bf16":
        if device.type == "cuda" and not cuda_bf16:
            raise ForecasterError("train.precision='bf16' but this CUDA card does not support bf16; use fp32 or auto")
        return torch.bfloat16
    return torch.bfloat16 if cuda_bf16 else None


def make_optimizer(model: nn.Module, *, learning_rate: float, weight_decay: float, device: torch.device) -> torch.optim.Optimizer:
    """AdamW; on CUDA its fused kernel updates every parameter in one launch instead of several per tensor."""
    return torch.optim.AdamW(
        model.parameters(), lr=learning_rate, weight_decay=weight_decay, fused=device.type == "cuda"
    )


def steps_per_epoch(windows: int, batch_size: int, ranks: int = 1) -> int:
    """The optimiser steps of one epoch over ``windows`` training windows: one per batch, but for a last
    batch too small to give each of ``ranks`` ranks a window (``train_model`` skips it)."""
    batches = -(-windows // batch_size)
    last = windows - (batches - 1) * batch_size
    return batches - (1 if batches and last < ranks else 0)


def warmup_cosine(total_steps: int, warmup: float) -> Callable[[int], float]:
    """The ``cosine`` schedule as a factor of the learning rate for each step 0, 1, ... (``LambdaLR``'s lambda).

    The first ``round(warmup * total_steps)`` steps rise linearly, 1/(W+1), 2/(W+1), ..., to the full rate at
    step W; from there the factor falls along half a cosine to 0 at step ``total_steps`` (just past the last one).
    """
    warm = round(warmup * total_steps)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / (warm + 1)
        progress = min(1.0, (step - warm) / max(1, total_steps - warm))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    """``config.schedule``'s scheduler over ``total_steps`` optimiser steps, stepped after each; None for ``constant``."""
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total_steps, config.warmup))
    if config.schedule == "one_cycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.learning_rate, total_steps=max(1, total_steps),
            pct_start=config.warmup or ONE_CYCLE_WARMUP,
        )
    return None  # constant: no scheduler touches the optimiser, so runs stay as they were before schedules


def train_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    *,
    grad_clip: float,
    loss: Loss = mse,
    autocast: torch.dtype | None = None,
    weight: float = 1.0,
) -> torch.Tensor:
    """One optimiser step on one batch; returns the batch loss as a tensor (no host sync).

    ``weight`` scales the gradient: a rank holding n of a global batch's M windows, out of W ranks,
    uses n * W / M, so that DistributedDataParallel's average over ranks is exactly the gradient of
    the global batch's mean loss even when the shares differ by one.
    """
    with torch.autocast(device_type=batch.past.device.type, dtype=autocast, enabled=autocast is not None):
        outputs = model(batch.past, batch.future)  # (B, H, K)
    value = loss(outputs.float(), batch.targets)  # the loss in fp32 even when the model ran in bf16
    optimizer.zero_grad(set_to_none=True)
    (value * weight).backward()
    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return value.detach()


@torch.no_grad()
def evaluate_loss(model: nn.Module, windows: WindowSet | PooledWindows, batch_size: int, *, loss: Loss = mse) -> float:
    """Mean loss over every window (no sample dropped), in eval mode."""
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=windows.series.device)
    for start in range(0, len(windows), batch_size):
        batch = windows.batch(slice(start, start + batch_size))
        total += loss(model(batch.past, batch.future), batch.targets).double() * len(batch)
    return total.item() / len(windows)


def train_model(
    model: nn.Module,
    train: WindowSet | PooledWindows,
    val: WindowSet | PooledWindows,
    config: TrainConfig,
    *,
    device: torch.device,
    loss: Loss = mse,
    on_step_end: StepHook | None = None,
    on_epoch_end: EpochHook | None = None,
    progress: bool = False,
    description: str = "train",
) -> TrainResult:
    """Fit ``model`` in place on ``train``, keep the weights with the lowest ``val`` loss, return the record.

    ``loss`` is minimised on the training windows and measured on the validation windows. A non-finite
    loss stops training (``result.failure`` says why) with the best weights restored. The hooks are called
    as ``StepHook`` and ``EpochHook`` say; when ``on_epoch_end`` returns True, training stops after that
    epoch (``result.stopped_by_hook``) with the best weights restored, as after early stopping.

    The learning-rate schedule (``config.schedule``) is planned over all ``config.epochs`` epochs and
    stepped after every optimiser step; early stopping simply ends it partway. Each history row records
    ``lr``, the learning rate of the epoch's last step.

    The windows stay views of one series tensor moved once to ``device``; each batch is gathered there.
    Under torchrun every rank shuffles with the same seed and trains on its share of each global batch
    of ``config.batch_size`` windows, with gradients averaged by DistributedDataParallel.
    """
    model.to(device)
    train, val = train.to(device), val.to(device)
    stepped = _wrapped_for_training(model, config, device)
    autocast = autocast_dtype(config.precision, device)
    optimizer = make_optimizer(model, learning_rate=config.learning_rate, weight_decay=config.weight_decay, device=device)
    planned = config.epochs * steps_per_epoch(len(train), config.batch_size, distributed.world_size())
    scheduler = make_scheduler(optimizer, config, planned)
    shuffle = torch.Generator().manual_seed(config.seed)
    result = TrainResult()
    best_state = copy.deepcopy(model.state_dict())
    started = time.perf_counter()
    show = progress and distributed.is_main_process()
    epochs = tqdm(range(1, config.epochs + 1), desc=description, disable=not show, leave=True, unit="epoch")
    for epoch in epochs:
        stepped.train()
        order = torch.randperm(len(train), generator=shuffle).to(device)  # one copy per epoch, not per step
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)  # summed on the device: no sync per step
        count, learning_rate = 0, float(optimizer.param_groups[0]["lr"])
        for start in range(0, len(train), config.batch_size):
            batch = order[start : start + config.batch_size]
            if len(batch) < distributed.world_size():
                continue  # too few windows left to give every rank one
            share = distributed.local_share(batch)
            step_loss = train_step(
                stepped, optimizer, train.batch(share),  # past (B, T, C), future (B, H, F), targets (B, H, K)
                grad_clip=config.grad_clip, loss=loss, autocast=autocast,
                weight=len(share) * distributed.world_size() / len(batch),
            )
            learning_rate = float(optimizer.param_groups[0]["lr"])
            if scheduler is not None:
                scheduler.step()
            if on_step_end is not None:
                on_step_end(model)
            loss_sum += step_loss.double() * len(share)
            count += len(share)
        totals = torch.stack([loss_sum, torch.tensor(float(count), dtype=torch.float64, device=device)])
        summed_loss, summed_count = distributed.sum_across_ranks(totals).tolist()
        train_loss = summed_loss / summed_count
        val_loss = distributed.from_main_process(evaluate_loss(stepped, val, config.batch_size, loss=loss), device)
        result.history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "lr": learning_rate})
        if not (math.isfinite(train_loss) and math.isfinite(val_loss)):
            result.failure = _divergence_message(epoch, train_loss, val_loss, result.best_epoch)
            log.warning("%s: %s", description, result.failure)
            break
        improved = val_loss < result.best_val_loss
        if improved:
            result.best_val_loss, result.best_epoch = val_loss, epoch
            best_state = copy.deepcopy(model.state_dict())
        epochs.set_postfix(train=f"{train_loss:.4f}", val=f"{val_loss:.4f}", best_epoch=result.best_epoch)
        if on_epoch_end is not None and on_epoch_end(
            EpochEnd(epoch, train_loss, val_loss, result.best_epoch, result.best_val_loss, model)
        ):
            result.stopped_by_hook = True
            log.info("%s: stopped at epoch %d by on_epoch_end", description, epoch)
            break
        if not improved and epoch - result.best_epoch >= config.patience:
            log.info("%s: stopped at epoch %d, best validation loss at epoch %d", description, epoch, result.best_epoch)
            break
    epochs.close()
    model.load_state_dict(best_state)
    result.seconds = time.perf_counter() - started
    return result


def _divergence_message(epoch: int, train_loss: float, val_loss: float, best_epoch: int) -> str:
    which, value = ("training", train_loss) if not math.isfinite(train_loss) else ("validation", val_loss)
    kept = f"the weights of epoch {best_epoch} were restored" if best_epoch else "no epoch had a finite loss"
    return f"diverged: {which} loss {value} in epoch {epoch}; {kept} (try a lower train.learning_rate)"


def _wrapped_for_training(model: nn.Module, config: TrainConfig, device: torch.device) -> nn.Module:
    """``model`` under DistributedDataParallel (several ranks) and/or torch.compile (``train.compile``).

    The wrappers share ``model``'s parameters, so training them trains ``model`` itself.
    """
    wrapped = model
    if distributed.world_size() > 1:
        wrapped = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if config.compile:
        wrapped = torch.compile(wrapped)
    return wrapped
