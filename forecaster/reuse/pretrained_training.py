"""Training the pretrained forecaster (``models/pretrained.py``) on a pool of series (``data/pool.py``).

One network learns the next values of every series of the pool from histories of every length: each epoch cuts new
windows (``data/pool_windows.py``), and the loss is the pinball loss of the network's quantiles on the target values
that exist (a window near a series' end has fewer than the network's horizon; the others are masked out). A share of
the pool's series (``validation_share``, chosen by the seed) never trains: their windows say when the network stops
improving, and the weights kept are the best epoch's on them.

The run is resumable: after every epoch the whole state (network, optimiser, schedule, epoch, history) is saved to
``state.pt`` in the output folder, and the best weights so far to ``pretrained.pt``, each through a temporary name so
that an interrupted save loses nothing. ``resume=True`` continues from ``state.pt``; ``time_limit`` stops after the
epoch that passes it, so that a long pretraining spans several sessions.

On a GPU (``device``) the network and each batch move there; under torchrun (``training/distributed.py``) every rank
trains on its share of each batch under ``DistributedDataParallel``, which averages the gradients, and rank 0 alone
writes the folder. One process on the CPU is the reference: the shipped weights were made that way.
"""

from __future__ import annotations

import dataclasses
import math
import platform
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from forecaster.data.pool import PoolSeries, describe
from forecaster.data.pool_windows import PoolWindows, cut_windows
from forecaster.errors import ForecasterError
from forecaster.mappings import plain_values
from forecaster.models import count_parameters
from forecaster.models.pretrained import Architecture, WeightsFile, build_network
from forecaster.training import distributed
from forecaster.training.loop import resolve_device, seed_everything

STATE, WEIGHTS, HISTORY = "state.pt", "pretrained.pt", "history.csv"


@dataclass(frozen=True)
class PretrainingSettings:
    """How the network is trained on the pool."""

    epochs: int = 20
    """Passes over new windows of the pool; the learning rate's one-cycle schedule is planned for them."""
    batch_size: int = 256
    """Windows per optimiser step."""
    learning_rate: float = 1e-3
    """AdamW's peak learning rate."""
    weight_decay: float = 0.01
    """AdamW's weight decay."""
    stride: int = 4
    """About one window per `stride` origins of a series, an epoch (new origins each epoch)."""
    per_series: int = 256
    """At most this many windows of one series, an epoch."""
    validation_share: float = 0.02
    """The share of the pool's series that only validate (the best epoch on them is kept), in (0, 0.5)."""
    seed: int = 0
    """Fixes the initial weights, the validation series, the windows and their order."""
    time_limit: float | None = None
    """Seconds: stop after the epoch that passes it (`--resume` goes on); `null`: no limit."""

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.stride < 1 or self.per_series < 1:
            raise ForecasterError("pretraining's epochs, batch_size, stride and per_series must each be at least 1")
        if not 0 < self.validation_share < 0.5:
            raise ForecasterError(f"validation_share={self.validation_share} must be in (0, 0.5)")


def masked_pinball(outputs: torch.Tensor, target: torch.Tensor, observed: torch.Tensor, taus: torch.Tensor) -> torch.Tensor:
    """The pinball loss of quantiles ``outputs`` (B, H, Q) at ``taus`` (Q,), averaged over the target values that exist
    (``observed`` (B, H) 1) and the quantiles."""
    difference = target[..., None] - outputs  # (B, H, Q)
    loss = torch.maximum(taus * difference, (taus - 1) * difference).mean(dim=-1)  # (B, H)
    return (loss * observed).sum() / observed.sum().clamp(min=1.0)


def split_pool(pool: list[PoolSeries], share: float, seed: int) -> tuple[list[PoolSeries], list[PoolSeries]]:
    """The pool's series that train and those that only validate (``share`` of them, at least one, drawn by ``seed``)."""
    count = max(1, round(share * len(pool)))
    chosen = set(np.random.default_rng([seed, 1]).choice(len(pool), size=count, replace=False).tolist())
    return ([series for index, series in enumerate(pool) if index not in chosen],
            [series for index, series in enumerate(pool) if index in chosen])


def _batch(windows: PoolWindows, index, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Windows ``index``'s past, target and target mask, on ``device``."""
    return tuple(torch.from_numpy(array[index]).to(device) for array in (windows.past, windows.target, windows.target_observed))


def _loss(network: torch.nn.Module, windows: PoolWindows, taus: torch.Tensor, batch_size: int) -> float:
    """The mean masked pinball loss of ``network`` on ``windows`` (evaluation mode, no gradients)."""
    network.eval()
    total, weight = 0.0, 0.0
    with torch.no_grad():
        for start in range(0, len(windows), batch_size):
            past, target, observed = _batch(windows, slice(start, start + batch_size), taus.device)
            outputs = network(past)[:, :, 0]
            total += float(masked_pinball(outputs, target, observed, taus)) * float(observed.sum())
            weight += float(observed.sum())
    return total / max(weight, 1.0)


def pretrain_forecaster(pool: list[PoolSeries], architecture: Architecture, settings: PretrainingSettings, out: str | Path,
                        *, resume: bool = False, progress: bool = True, card: dict | None = None, device: str = "cpu",
                        on_epoch: Callable[[dict], None] | None = None) -> WeightsFile:
    """Train the network of ``architecture`` on ``pool`` and write ``out/pretrained.pt`` (the best epoch's weights on
    the validation series), ``out/state.pt`` and ``out/history.csv``; the weights. ``card``: plain values to record
    beside the pool's description and the run's figures (the command, for instance). ``device``: ``cpu``, ``cuda``,
    ``auto`` (``training/loop.py``'s rule). ``on_epoch``: told each epoch's line of ``history.csv`` (tracking), on rank 0."""
    out, main = Path(out), distributed.is_main_process()
    if out.exists() and not resume and any(out.iterdir()):
        raise ForecasterError(f"{out} exists and is not empty; choose a new folder, or resume the run in it (--resume)")
    if main:
        out.mkdir(parents=True, exist_ok=True)
    train_pool, val_pool = split_pool(pool, settings.validation_share, settings.seed)
    seed_everything(settings.seed)
    device = resolve_device(device)
    network = build_network(architecture).to(device)
    stepped = network  # what a batch goes through: under torchrun, the network in DistributedDataParallel
    if distributed.world_size() > 1:
        stepped = DistributedDataParallel(network, device_ids=[device.index] if device.type == "cuda" else None)
    taus = torch.tensor(architecture.taus, dtype=torch.float32, device=device)
    shape = {"context": architecture.context, "horizon": architecture.horizon}
    validation = cut_windows(val_pool, **shape, stride=settings.stride, per_series=settings.per_series, seed=settings.seed)
    first = cut_windows(train_pool, **shape, stride=settings.stride, per_series=settings.per_series, seed=settings.seed)
    steps_per_epoch = math.ceil(len(first) / settings.batch_size)
    optimizer = torch.optim.AdamW(network.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings.learning_rate, pct_start=0.05,
                                                   total_steps=settings.epochs * steps_per_epoch + 1)
    epoch, history, best, seconds = 0, [], (math.inf, None), 0.0
    if resume and (out / STATE).exists():
        state = torch.load(out / STATE, map_location=device, weights_only=True)
        network.load_state_dict(state["network"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        epoch, history, seconds = int(state["epoch"]), list(state["history"]), float(state["seconds"])
        best = (float(state["best_loss"]), state["best_network"])
        torch.set_rng_state(state["rng"].cpu())  # dropout's draws go on as they would have without the interruption
        if device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)
    started = time.perf_counter()
    while epoch < settings.epochs:
        windows = first if epoch == 0 else cut_windows(train_pool, **shape, stride=settings.stride,
                                                      per_series=settings.per_series, seed=settings.seed, epoch=epoch)
        order = torch.randperm(len(windows), generator=torch.Generator().manual_seed(settings.seed * 1000 + epoch))
        network.train()
        total = 0.0
        batches = range(0, len(order), settings.batch_size)
        for start in tqdm(batches, desc=f"pretrain epoch {epoch + 1}/{settings.epochs}", disable=not (progress and main),
                          leave=False):
            index = distributed.local_share(order[start:start + settings.batch_size].numpy())  # all of it in one process
            if len(index) == 0:  # a last batch smaller than the ranks: skipped by every rank, so that they stay in step
                continue
            past, target, observed = _batch(windows, index, device)
            loss = masked_pinball(stepped(past)[:, :, 0], target, observed, taus)  # outputs (B, H, Q)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
            optimizer.step()
            if schedule.last_epoch < schedule.total_steps - 1:
                schedule.step()
            total += float(loss.detach()) * len(index)
        epoch += 1
        val_loss = _loss(network, validation, taus, settings.batch_size)
        history.append({"epoch": epoch, "train_loss": total / len(windows), "val_loss": val_loss, "windows": len(windows),
                        "seconds": seconds + time.perf_counter() - started})
        if val_loss < best[0]:  # kept on the CPU, where the weights file is read
            best = (val_loss, {key: value.detach().to("cpu", copy=True) for key, value in network.state_dict().items()})
        elapsed = seconds + time.perf_counter() - started
        if main:
            _save_state(out, network, optimizer, schedule, epoch, history, elapsed, best, device)
            weights = WeightsFile(architecture, best[1], _card(card, pool, train_pool, val_pool, settings, architecture,
                                                                network, history, elapsed, device))
            weights.save(out / WEIGHTS)
            pd.DataFrame(history).to_csv(out / HISTORY, index=False)
            if on_epoch is not None:
                on_epoch(history[-1])
            if progress:
                print(f"epoch {epoch}: train {history[-1]['train_loss']:.4f}, validation {val_loss:.4f} "
                      f"({elapsed:.0f} s in all)", flush=True)
        if settings.time_limit is not None and distributed.from_main_process(time.perf_counter() - started,
                                                                             device) > settings.time_limit:
            break
    if distributed.world_size() > 1:
        torch.distributed.barrier()  # rank 0 has written the file the others read
    return WeightsFile.load(out / WEIGHTS)


def _save_state(out: Path, network, optimizer, schedule, epoch: int, history: list, seconds: float, best,
                device: torch.device) -> None:
    partial = out / (STATE + ".partial")
    generators = {"rng": torch.get_rng_state()}
    if device.type == "cuda":
        generators["cuda_rng"] = torch.cuda.get_rng_state(device)
    torch.save({"network": network.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                "epoch": epoch, "history": history, "seconds": seconds, "best_loss": best[0], "best_network": best[1],
                **generators},
               partial)
    partial.replace(out / STATE)


def _card(card: dict | None, pool, train_pool, val_pool, settings: PretrainingSettings, architecture: Architecture,
          network, history: list, seconds: float, device: torch.device) -> dict:
    """What made the weights, as plain values: the pool by source, the settings, the epochs and time, the machine."""
    best = min(history, key=lambda row: row["val_loss"])
    return plain_values({**(card or {}), "pool": describe(pool).to_dict("records"), "train_series": len(train_pool),
            "validation_series": len(val_pool), "settings": dataclasses.asdict(settings),
            "architecture": dataclasses.asdict(architecture), "parameters": count_parameters(network),
            "epochs_done": len(history), "best_epoch": best["epoch"], "best_val_loss": best["val_loss"],
            "seconds": seconds, "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "machine": _machine(device),
            "torch": torch.__version__})


def _machine(device: torch.device) -> str:
    """Where the run trained: the CPU's threads, or the GPU; and the processes under torchrun."""
    where = (f"{platform.machine()}, {torch.get_num_threads()} torch thread(s)" if device.type == "cpu"
             else f"{torch.cuda.get_device_name(device)}" if device.type == "cuda" else device.type)
    return where + (f", {distributed.world_size()} processes (torchrun)" if distributed.world_size() > 1 else "")
