"""Pretrain one encoder on many series (``forecaster pretrain``), for ``transfer`` and ``embed`` to reuse.

The pool: every channel of every source, each its own univariate series (channel independence, as in
PatchTST), split as ``run`` splits a series and scaled on its own training span. Only the training
spans' windows are pooled for training; the validation spans' windows stop training early; the test
spans are never read (the rows after the validation span are cut off before the series is even
transformed, so nothing of them can reach the pool).

Which channels a source gives: a price series (it has an ``Adj Close`` or ``Close`` column) gives its
close alone, as log-returns, since prices are close to a random walk in levels and the open, high and low
are near copies of the close; any other source gives every numeric column, in levels (ETTh2: seven).

The encoder is the project's ``TransformerEncoder``, channel-independent, over patch tokens: it is saved
as a checkpoint with no head (``Checkpoint.head`` False) that ``transfer`` puts a head on.
"""

from __future__ import annotations

import dataclasses
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from forecaster.checkpoint import Checkpoint, save_checkpoint
from forecaster.data.features import DEFAULT_TARGETS, DataConfig, choose_target, prepare_series
from forecaster.data.masking import MaskedWindows
from forecaster.data.pipeline import Pipeline
from forecaster.data.transforms import Level, LogReturn, transform_named
from forecaster.data.windows import PooledWindows, WindowSet, make_windows, pool_windows, split_bounds
from forecaster.errors import ForecasterError
from forecaster.models import ModelDims, count_parameters
from forecaster.models.transformer import PatchReconstruction, TransformerForecaster
from forecaster.output.folders import write_folder
from forecaster.runs.fitting import fit
from forecaster.training.loop import TrainResult, resolve_device, seed_everything
from forecaster.training.losses import masked_mse, mse
from forecaster.training.pretraining import PretrainConfig

FIGURE_WINDOWS = 4  # validation windows drawn in reconstruction.png, spread over the pool


def source_channels(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """The (column, transform) pairs a source gives the pool: a price series' close as log-returns, else every
    numeric column in levels (see the module's docstring)."""
    if any(name in frame.columns for name in DEFAULT_TARGETS):
        return [(choose_target(frame, None), LogReturn.name)]
    return [(str(column), Level.name) for column in frame.select_dtypes("number").columns]


def channel_windows(frame: pd.DataFrame, *, source: str, column: str, transform: str,
                    config: PretrainConfig) -> dict[str, WindowSet]:
    """One channel's training and validation windows over its own scaled series (L, 1), its test span never read."""
    lost = transform_named(transform).rows_lost
    try:
        bounds = split_bounds(len(frame) - lost, config.objective_windows, lost_rows=lost)
    except ForecasterError as error:
        raise ForecasterError(f"pretrain source {source!r} (column {column!r}) is too short for one training window: "
                              f"{error}") from None
    kept = frame.iloc[: bounds.val_end + lost]  # the training and validation rows: the test rows are never read
    series = prepare_series(kept, DataConfig(column=column, transform=transform))
    pipeline = Pipeline.fit(series, bounds)  # the training span alone, as a run's
    scaled = torch.tensor(pipeline.scale_frames(series.frames), dtype=torch.float32)  # (L, 1)
    windows = config.objective_windows
    spans = {"train": (0, bounds.train_end), "val": (bounds.train_end, bounds.val_end)}
    return {name: make_windows(scaled, context=windows.context, horizon=windows.horizon, target_start=start, target_end=end)
            for name, (start, end) in spans.items()}


@dataclass(frozen=True)
class Pool:
    """Every channel's windows, pooled: ``train`` (every ``window_stride``-th) and ``val``, and what each channel gave."""

    train: PooledWindows
    val: PooledWindows
    channels: pd.DataFrame  # one row per channel: source, column, transform, train_windows, val_windows


def build_pool(frames: dict[str, pd.DataFrame], config: PretrainConfig) -> Pool:
    """The pool of the sources ``frames`` (name -> frame as ``load_prices`` gives it)."""
    per_channel, rows = [], []
    for source, frame in frames.items():
        for column, transform in source_channels(frame):
            windows = channel_windows(frame, source=source, column=column, transform=transform, config=config)
            per_channel.append(windows)
            rows.append({"source": source, "column": column, "transform": transform,
                         "train_windows": len(windows["train"]), "val_windows": len(windows["val"])})
    if not per_channel:
        raise ForecasterError(f"the sources {', '.join(frames)} give no numeric column to pretrain on")
    pooled = pool_windows(per_channel)
    train = dataclasses.replace(pooled["train"], ends=pooled["train"].ends[:: config.window_stride])
    return Pool(train=train, val=pooled["val"], channels=pd.DataFrame(rows))


@dataclass
class PretrainResult:
    """What pretraining gave: the model it trained (encoder inside), its record, the pool, time and memory."""

    config: PretrainConfig
    sources: tuple[str, ...]
    pool: Pool
    model: nn.Module
    training: TrainResult
    seconds: float
    peak_memory_mb: float  # the process's peak resident memory so far (ru_maxrss), data loading included

    @property
    def checkpoint(self) -> Checkpoint:
        """The encoder alone, with no head: what ``transfer`` and ``embed`` read (see ``Checkpoint.head``)."""
        config = self.config
        weights = {f"encoder.{key}": value.detach().to("cpu", copy=True) for key, value in self.model.encoder.state_dict().items()}
        dims = ModelDims(context=config.windows.context, horizon=config.windows.horizon, channels=1, differenced=False,
                         no_change=0.0)
        pipeline = Pipeline(columns=("value",), transform=Level.name, offset=(0.0,), scale=(1.0,), pooled=True)
        return Checkpoint(name="encoder", kind="transformer", config=config.encoder, dims=dims, pipeline=pipeline,
                          state_dict=weights, head=False)

    def summary(self) -> dict:
        """The run in numbers, as summary.yaml records it."""
        return {"sources": list(self.sources), "objective": self.config.objective, "channels": len(self.pool.channels),
                "train_windows": len(self.pool.train), "val_windows": len(self.pool.val),
                "parameters": count_parameters(self.model.encoder), "epochs_run": len(self.training.history),
                "best_epoch": self.training.best_epoch, "best_val_loss": self.training.best_val_loss,
                "seconds": round(self.seconds, 1), "peak_memory_mb": round(self.peak_memory_mb, 1),
                "threads": torch.get_num_threads(), "failure": self.training.failure}


def pretrain(frames: dict[str, pd.DataFrame], config: PretrainConfig, *, device: str | None = None,
             progress: bool = False) -> PretrainResult:
    """Pool the sources ``frames`` and train the encoder on ``config.objective`` (masked patches or next values), on
    ``device`` (default: ``config.train.device``)."""
    started = time.perf_counter()
    pool = build_pool(frames, config)
    seed, patch, context = config.train.seed, config.encoder.patch, config.windows.context
    train_config = dataclasses.replace(config.train, device=device or config.train.device)
    seed_everything(seed)  # the initial weights
    if config.objective == "masked":
        model: nn.Module = PatchReconstruction(config.encoder, context=context)
        train = MaskedWindows.create(pool.train, patch=patch, ratio=config.mask_ratio, seed=seed)
        val = MaskedWindows.create(pool.val, patch=patch, ratio=config.mask_ratio, seed=seed, fixed=True)
        loss = masked_mse
    else:
        model = TransformerForecaster(config.encoder, context=context, horizon=config.windows.horizon, channels=1)
        train, val, loss = pool.train, pool.val, mse
    training = fit(model, train, val, train_config, device=resolve_device(train_config.device), loss=loss, progress=progress,
                   description=f"pretrain ({config.objective}, {len(pool.train)} windows)")
    if training.failure and not training.best_epoch:
        raise ForecasterError(f"pretraining failed: {training.failure}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return PretrainResult(config, tuple(frames), pool, model.cpu().eval(), training, time.perf_counter() - started, peak)


@torch.no_grad()
def figure_windows(result: PretrainResult) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Truth, the model's values and the hidden frames (n, L) of a few validation windows, and their labels.

    Masked: the window normalised by its visible frames, and the reconstruction of its hidden patches;
    forecast: the window and its next values (scaled units), and the forecast of them.
    """
    config, val = result.config, result.pool.val
    rows = torch.linspace(0, len(val) - 1, min(FIGURE_WINDOWS, len(val))).round().long()
    ends = np.cumsum(result.pool.channels["val_windows"].to_numpy())
    labels = [" ".join(result.pool.channels.iloc[int(np.searchsorted(ends, row, side="right"))][["source", "column"]])
              for row in rows.tolist()]
    if config.objective == "masked":
        batch = MaskedWindows.create(val, patch=config.encoder.patch, ratio=config.mask_ratio, seed=config.train.seed,
                                     fixed=True).batch(rows)
        hidden = torch.isfinite(batch.targets)[..., 0]
        truth = torch.where(hidden, batch.targets[..., 0], batch.past[..., 0])
        predicted = torch.where(hidden, result.model(batch.past)[..., 0], torch.tensor(float("nan")))
    else:
        batch = val.batch(rows)
        truth = torch.cat([batch.past[..., 0], batch.targets[..., 0]], dim=1)  # (n, T + H)
        hidden = torch.arange(truth.shape[1]) >= config.windows.context
        hidden = hidden.expand_as(truth)
        predicted = torch.cat([torch.full_like(batch.past[..., 0], float("nan")), result.model(batch.past)[..., 0]], dim=1)
    return truth.numpy(), predicted.numpy(), hidden.numpy(), labels


def save_pretrain(result: PretrainResult, out: str | Path) -> Path:
    """Write the folder ``out`` atomically: checkpoints/encoder.pt, history.csv, pool.csv, reconstruction.png,
    config.yaml (``forecaster pretrain DIR/config.yaml`` repeats the run) and summary.yaml (time, memory, losses)."""
    import yaml

    from forecaster.output import plots  # matplotlib is imported only when figures are written

    def write_files(folder: Path) -> None:
        save_checkpoint(result.checkpoint, folder / "checkpoints" / "encoder.pt")
        pd.DataFrame(result.training.history).to_csv(folder / "history.csv", index=False)
        result.pool.channels.to_csv(folder / "pool.csv", index=False)
        record = {"data": {"source": list(result.sources)}, "pretrain": dataclasses.asdict(result.config)}
        (folder / "config.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
        (folder / "summary.yaml").write_text(yaml.safe_dump(result.summary(), sort_keys=False))
        truth, predicted, hidden, labels = figure_windows(result)
        what = "hidden patches and their reconstruction" if result.config.objective == "masked" else "next values and their forecast"
        figure = plots.reconstruction_figure(truth, predicted, hidden, labels=labels,
                                             title=f"Validation windows: {what} (normalised units)")
        figure.savefig(folder / "reconstruction.png", dpi=120, bbox_inches="tight")

    return write_folder(out, write_files)
