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
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from forecaster.data.pool import PoolSeries, describe
from forecaster.data.pool_windows import PoolWindows, cut_windows
from forecaster.errors import ForecasterError
from forecaster.models import count_parameters
from forecaster.models.pretrained import Architecture, WeightsFile, build_network
from forecaster.training.loop import seed_everything

STATE, WEIGHTS, HISTORY = "state.pt", "pretrained.pt", "history.csv"


@dataclass(frozen=True)
class PretrainingSettings:
    """How the network is trained on the pool."""

    epochs: int = 20
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    stride: int = 4  # about one window per `stride` origins of a series, an epoch
    per_series: int = 256  # at most this many windows of one series, an epoch
    validation_share: float = 0.02  # the share of the pool's series that only validate
    seed: int = 0
    time_limit: float | None = None  # seconds: stop after the epoch that passes it (resume=True continues)

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


def _loss(network: torch.nn.Module, windows: PoolWindows, taus: torch.Tensor, batch_size: int) -> float:
    """The mean masked pinball loss of ``network`` on ``windows`` (evaluation mode, no gradients)."""
    network.eval()
    total, weight = 0.0, 0.0
    with torch.no_grad():
        for start in range(0, len(windows), batch_size):
            part = slice(start, start + batch_size)
            observed = torch.from_numpy(windows.target_observed[part])
            outputs = network(torch.from_numpy(windows.past[part]))[:, :, 0]
            total += float(masked_pinball(outputs, torch.from_numpy(windows.target[part]), observed, taus)) * float(observed.sum())
            weight += float(observed.sum())
    return total / max(weight, 1.0)


def pretrain_forecaster(pool: list[PoolSeries], architecture: Architecture, settings: PretrainingSettings, out: str | Path,
                        *, resume: bool = False, progress: bool = True, card: dict | None = None) -> WeightsFile:
    """Train the network of ``architecture`` on ``pool`` and write ``out/pretrained.pt`` (the best epoch's weights on
    the validation series), ``out/state.pt`` and ``out/history.csv``; the weights. ``card``: plain values to record
    beside the pool's description and the run's figures (the command, for instance)."""
    out = Path(out)
    if out.exists() and not resume and any(out.iterdir()):
        raise ForecasterError(f"{out} exists and is not empty; choose a new folder, or resume the run in it (--resume)")
    out.mkdir(parents=True, exist_ok=True)
    train_pool, val_pool = split_pool(pool, settings.validation_share, settings.seed)
    seed_everything(settings.seed)
    network = build_network(architecture)
    taus = torch.tensor(architecture.taus, dtype=torch.float32)
    shape = {"context": architecture.context, "horizon": architecture.horizon}
    validation = cut_windows(val_pool, **shape, stride=settings.stride, per_series=settings.per_series, seed=settings.seed)
    first = cut_windows(train_pool, **shape, stride=settings.stride, per_series=settings.per_series, seed=settings.seed)
    steps_per_epoch = math.ceil(len(first) / settings.batch_size)
    optimizer = torch.optim.AdamW(network.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings.learning_rate, pct_start=0.05,
                                                   total_steps=settings.epochs * steps_per_epoch + 1)
    epoch, history, best, seconds = 0, [], (math.inf, None), 0.0
    if resume and (out / STATE).exists():
        state = torch.load(out / STATE, map_location="cpu", weights_only=True)
        network.load_state_dict(state["network"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        epoch, history, seconds = int(state["epoch"]), list(state["history"]), float(state["seconds"])
        best = (float(state["best_loss"]), state["best_network"])
        torch.set_rng_state(state["rng"])  # dropout's draws go on as they would have without the interruption
    started = time.perf_counter()
    while epoch < settings.epochs:
        windows = first if epoch == 0 else cut_windows(train_pool, **shape, stride=settings.stride,
                                                      per_series=settings.per_series, seed=settings.seed, epoch=epoch)
        order = torch.randperm(len(windows), generator=torch.Generator().manual_seed(settings.seed * 1000 + epoch))
        network.train()
        total = 0.0
        batches = range(0, len(order), settings.batch_size)
        for start in tqdm(batches, desc=f"pretrain epoch {epoch + 1}/{settings.epochs}", disable=not progress, leave=False):
            index = order[start:start + settings.batch_size].numpy()
            outputs = network(torch.from_numpy(windows.past[index]))[:, :, 0]  # (B, H, Q)
            loss = masked_pinball(outputs, torch.from_numpy(windows.target[index]),
                                  torch.from_numpy(windows.target_observed[index]), taus)
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
        if val_loss < best[0]:
            best = (val_loss, {key: value.detach().clone() for key, value in network.state_dict().items()})
        elapsed = seconds + time.perf_counter() - started
        _save_state(out, network, optimizer, schedule, epoch, history, elapsed, best)
        weights = WeightsFile(architecture, best[1], _card(card, pool, train_pool, val_pool, settings, architecture,
                                                            network, history, elapsed))
        weights.save(out / WEIGHTS)
        pd.DataFrame(history).to_csv(out / HISTORY, index=False)
        if progress:
            print(f"epoch {epoch}: train {history[-1]['train_loss']:.4f}, validation {val_loss:.4f} "
                  f"({elapsed:.0f} s in all)", flush=True)
        if settings.time_limit is not None and time.perf_counter() - started > settings.time_limit:
            break
    return WeightsFile.load(out / WEIGHTS)


def _save_state(out: Path, network, optimizer, schedule, epoch: int, history: list, seconds: float, best) -> None:
    partial = out / (STATE + ".partial")
    torch.save({"network": network.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                "epoch": epoch, "history": history, "seconds": seconds, "best_loss": best[0], "best_network": best[1],
                "rng": torch.get_rng_state()},
               partial)
    partial.replace(out / STATE)


def _card(card: dict | None, pool, train_pool, val_pool, settings: PretrainingSettings, architecture: Architecture,
          network, history: list, seconds: float) -> dict:
    """What made the weights, as plain values: the pool by source, the settings, the epochs and time, the machine."""
    best = min(history, key=lambda row: row["val_loss"])
    return _plain({**(card or {}), "pool": describe(pool).to_dict("records"), "train_series": len(train_pool),
            "validation_series": len(val_pool), "settings": dataclasses.asdict(settings),
            "architecture": dataclasses.asdict(architecture), "parameters": count_parameters(network),
            "epochs_done": len(history), "best_epoch": best["epoch"], "best_val_loss": best["val_loss"],
            "seconds": seconds, "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "machine": f"{platform.machine()}, {torch.get_num_threads()} torch thread(s)",
            "torch": torch.__version__})


def _plain(value):
    """``value`` with numpy scalars as Python numbers, so that ``torch.load(weights_only=True)`` reads it back."""
    return json.loads(json.dumps(value, default=lambda item: item.item() if hasattr(item, "item") else str(item)))
