"""Measure training throughput, inference latency and peak memory of every model kind against a reference transformer.

Every model, and a reference transformer built from PyTorch's own ``nn.TransformerEncoderLayer``, runs on
the same synthetic series at each context length. Ours trains with the project's ``train_step`` on batches
gathered on the device from window views; the reference trains the way most forecasting code does, with a
``DataLoader`` over a per-sample ``Dataset``, so the ratio of the two measures the whole training path.
With ``independent`` set to N, a channel-independent transformer trains on an N-channel series (one
(B, T, N) model) beside the same univariate model run once per channel (``ChannelLoop``: N separate
(B, T, 1) passes), both counted in channel-windows per second: the same arithmetic, batched or looped.
Beside it: ``memory.py`` reads peak memory, ``long_series.py`` trains on a very long series, ``options.py``
turns the command's options into a ``BenchConfig``; the printed tables are in ``forecaster/output/tables.py``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import torch
import yaml
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from forecaster.bench.memory import memory_mark, memory_peak
from forecaster.bench.reference import ChannelLoop, ReferenceTransformer, WindowDataset
from forecaster.bench.tables import channel_table, check_parameters, patch_table, ratio_table
from forecaster.data.windows import Batch, WindowSet, make_windows
from forecaster.errors import ForecasterError
from forecaster.mappings import plain_dict
from forecaster.models import (
    MODEL_KINDS,
    LinearConfig,
    MLPConfig,
    ModelDims,
    NaiveConfig,
    RNNConfig,
    SeasonalNaiveConfig,
    TransformerConfig,
    build_model,
    count_parameters,
)
from forecaster.output.folders import write_folder
from forecaster.training.loop import TrainConfig, autocast_dtype, make_optimizer, resolve_device, seed_everything, train_step

if TYPE_CHECKING:  # for annotations only: long_series.py builds on this module
    from forecaster.bench.long_series import LongSeriesConfig

log = logging.getLogger(__name__)

TRAIN = TrainConfig()  # the optimiser settings every experiment uses by default: lr, weight decay, clipping
COLUMNS = ["device", "model", "context", "batch_size", "parameters", "precision",
           "train_samples_per_s", "infer_us_per_window", "peak_memory_mib"]
PERIOD = 24  # the synthetic series' season, in steps


@dataclass(frozen=True)
class BenchConfig:
    """What to measure (kinds, contexts, devices) and at which sizes; dropout is 0 so numbers measure compute."""

    contexts: tuple[int, ...] = (32, 64, 128, 256, 512)
    kinds: tuple[str, ...] = ("naive", "seasonal_naive", "linear", "mlp", "rnn", "transformer")
    reference: bool = True
    batch_size: int = 256
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 256
    hidden_size: int = 64
    train_steps: int = 10
    warmup_steps: int = 2
    series_length: int = 20_000
    channels: int = 1
    devices: tuple[str, ...] = ()  # empty: cpu, plus cuda when available
    precision: str = "auto"
    compile: bool = False
    seed: int = 0
    patch: int | None = None  # also a transformer whose tokens are patches of this many steps (contexts >= patch)
    independent: int | None = None  # also the channel-independent transformer on this many channels vs a loop

    def __post_init__(self) -> None:
        for name in ("batch_size", "d_model", "n_heads", "n_layers", "d_ff", "hidden_size", "train_steps",
                     "series_length", "channels"):
            if getattr(self, name) < 1:
                raise ForecasterError(f"bench.{name}={getattr(self, name)} must be at least 1")
        if self.warmup_steps < 0:
            raise ForecasterError(f"bench.warmup_steps={self.warmup_steps} must be 0 or more")
        if not self.contexts or any(not 1 <= context < self.series_length for context in self.contexts):
            raise ForecasterError(f"bench.contexts={self.contexts} must each lie between 1 and "
                                  f"series_length - 1 = {self.series_length - 1}")
        unknown = [kind for kind in self.kinds if kind not in SIZED]  # a registered kind the bench cannot size: said here
        if unknown or not (self.kinds or self.reference):
            raise ForecasterError(f"bench.kinds={self.kinds} must name some of: {', '.join(SIZED)}")
        if self.patch is not None and not 1 <= self.patch <= max(self.contexts):
            raise ForecasterError(f"bench.patch={self.patch} must be between 1 and the longest context, {max(self.contexts)}")
        if self.independent is not None and self.independent < 1:
            raise ForecasterError(f"bench.independent={self.independent} must be at least 1 channel")
        if self.d_model % self.n_heads:
            raise ForecasterError(f"bench.d_model={self.d_model} must be divisible by n_heads={self.n_heads}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ForecasterError(f"bench.precision={self.precision!r} is not one of auto, fp32, bf16")
        for device in self.devices:
            if device not in ("cpu", "cuda", "mps") and not device.startswith("cuda:"):
                raise ForecasterError(f"bench.devices contains {device!r}; valid: cpu, cuda, cuda:N, mps")


# Each kind the bench measures, and its config at the bench's sizes; a kind of the registry without an entry is refused.
SIZED: dict[str, Callable[[BenchConfig, int], object]] = {
    "naive": lambda config, context: NaiveConfig(),
    "seasonal_naive": lambda config, context: SeasonalNaiveConfig(period=min(PERIOD, context)),
    "linear": lambda config, context: LinearConfig(),
    "mlp": lambda config, context: MLPConfig(hidden=(config.d_ff, config.d_ff), dropout=0.0),
    "rnn": lambda config, context: RNNConfig(cell="gru", hidden_size=config.hidden_size),
    "transformer": lambda config, context: TransformerConfig(config.d_model, config.n_heads, config.n_layers, config.d_ff, dropout=0.0),
}


def patched_name(patch: int) -> str:
    """The bench's row name of the transformer with patches of ``patch`` steps."""
    return f"transformer_patch{patch}"


def channel_names(channels: int) -> tuple[str, str]:
    """The bench's row names of the channel-independent transformer on ``channels`` channels and of its loop."""
    return f"transformer_independent{channels}", f"transformer_loop{channels}"


def channel_model(name: str, config: BenchConfig, context: int) -> nn.Module:
    """The channel case's model: one (B, T, N) channel-independent transformer, or the univariate one in a loop."""
    channels = config.independent
    settings = dataclasses.replace(SIZED["transformer"](config, context), channels="independent")
    if name == channel_names(channels)[0]:
        dims = ModelDims(context, horizon=1, channels=channels, differenced=True, no_change=0.0, targets=channels)
        return build_model("transformer", settings, dims)
    dims = ModelDims(context, horizon=1, channels=1, differenced=True, no_change=0.0)
    return ChannelLoop(build_model("transformer", settings, dims))


def _kind_and_config(name: str, config: BenchConfig, context: int) -> tuple[str, object]:
    if config.patch is not None and name == patched_name(config.patch):
        return "transformer", dataclasses.replace(SIZED["transformer"](config, context), patch=config.patch)
    return name, SIZED[name](config, context)


def synthetic_series(length: int, channels: int, seed: int) -> torch.Tensor:
    """A sine of period 24 plus Gaussian noise, float32 (L, C); built without float64 or index temporaries."""
    generator = torch.Generator().manual_seed(seed)
    cycle = torch.sin(torch.arange(PERIOD, dtype=torch.float32) * (2 * math.pi / PERIOD))  # (24,)
    wave = cycle.repeat(-(-length // PERIOD))[:length]  # (L,)
    return torch.randn(length, channels, generator=generator).mul_(0.1).add_(wave.unsqueeze(1))  # (L, C)


@dataclass(frozen=True)
class _Case:
    """What every model at one (device, context) shares: the same windows and the same inference batch."""

    device: torch.device
    context: int
    autocast: torch.dtype | None
    series: torch.Tensor  # (L, C) on the CPU, for the reference's Dataset
    windows: WindowSet  # views of the series on the device: inputs (N, T, C), targets (N, 1, K)
    batch: torch.Tensor  # (B, T, C) one gathered batch for inference


def _make_case(series: torch.Tensor, device: torch.device, context: int, config: BenchConfig, *, targets: int = 1) -> _Case:
    windows = make_windows(series.to(device), context=context, horizon=1, target_start=0,
                           target_end=len(series), target_channels=targets)
    seed_everything(config.seed)
    rows = torch.randint(len(windows), (config.batch_size,), device=device)
    return _Case(device, context, autocast_dtype(config.precision, device), series, windows, windows.inputs[rows])


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # kernels run asynchronously: wait before reading the clock
    elif device.type == "mps":
        torch.mps.synchronize()


def _timed(step: Callable[[int], int], warmup: int, repeats: int, device: torch.device) -> tuple[float, int]:
    """Seconds and samples of ``repeats`` calls of ``step(index)`` (which returns its samples) after ``warmup``."""
    for index in range(warmup):
        step(index)
    _synchronize(device)
    started = time.perf_counter()
    samples = sum(step(index) for index in range(warmup, warmup + repeats))
    _synchronize(device)
    return time.perf_counter() - started, samples


def bench_optimizer(model: nn.Module, device: torch.device) -> torch.optim.Optimizer:
    """AdamW with the optimiser settings every experiment uses by default, as every measured model trains."""
    return make_optimizer(model, learning_rate=TRAIN.learning_rate, weight_decay=TRAIN.weight_decay, device=device)


def _train_ours(model: nn.Module, case: _Case, config: BenchConfig) -> tuple[float, int]:
    """The project's path: random window indices on the device, each batch gathered from the views."""
    stepped = torch.compile(model) if config.compile else model  # warm-up steps absorb compilation
    stepped.train()
    optimizer = bench_optimizer(model, case.device)
    steps = config.warmup_steps + config.train_steps
    rows = torch.randint(len(case.windows), (steps, config.batch_size), device=case.device)  # (steps, B)

    def step(index: int) -> int:
        batch = case.windows.batch(rows[index])  # past (B, T, C), targets (B, 1, 1)
        train_step(stepped, optimizer, batch, grad_clip=TRAIN.grad_clip, autocast=case.autocast)
        return len(batch)

    return _timed(step, config.warmup_steps, config.train_steps, case.device)


def _endless(loader: DataLoader):
    while True:
        yield from loader  # a new shuffled epoch whenever one ends


def _train_reference(model: nn.Module, case: _Case, config: BenchConfig) -> tuple[float, int]:
    """The usual path: DataLoader(shuffle=True) over per-sample slices, each batch copied with ``.to``."""
    loader = DataLoader(WindowDataset(case.series.numpy(), case.context), batch_size=config.batch_size, shuffle=True)
    batches = _endless(loader)
    model.train()
    optimizer = bench_optimizer(model, case.device)

    def step(index: int) -> int:
        inputs, targets = next(batches)  # the DataLoader's time counts: it is part of the training path
        inputs, targets = inputs.to(case.device), targets.to(case.device)  # (B, T, C), (B, 1, 1)
        train_step(model, optimizer, Batch(inputs, inputs.new_empty((len(inputs), 1, 0)), targets),
                   grad_clip=TRAIN.grad_clip, autocast=case.autocast)
        return len(inputs)

    return _timed(step, config.warmup_steps, config.train_steps, case.device)


def _inference_us(model: nn.Module, case: _Case, config: BenchConfig) -> float:
    """Microseconds per window of a no-grad forward pass on one batch."""
    model.eval()

    @torch.no_grad()
    def step(index: int) -> int:
        with torch.autocast(case.device.type, dtype=case.autocast, enabled=case.autocast is not None):
            model(case.batch)
        return len(case.batch)

    seconds, samples = _timed(step, config.warmup_steps, max(config.train_steps, 5), case.device)
    return seconds / samples * 1e6


def _bench_model(name: str, case: _Case, config: BenchConfig) -> dict:
    """One row: build the model (seeded), train it for a while if it learns, time inference, read peak memory."""
    seed_everything(config.seed)
    if name == "reference":
        model = ReferenceTransformer(context=case.context, channels=config.channels, d_model=config.d_model,
                                     n_heads=config.n_heads, n_layers=config.n_layers, d_ff=config.d_ff)
        train = _train_reference
    elif config.independent is not None and name in channel_names(config.independent):
        model = channel_model(name, config, case.context)
        train = _train_ours
    else:
        dims = ModelDims(case.context, horizon=1, channels=config.channels, differenced=True, no_change=0.0)
        kind, model_settings = _kind_and_config(name, config, case.context)
        model = build_model(kind, model_settings, dims)
        train = _train_ours if MODEL_KINDS[kind].trainable else None
    model.to(case.device)
    mark = memory_mark(case.device)
    seconds, samples = train(model, case, config) if train else (math.nan, 0)
    samples *= case.windows.target_channels  # the channel case counts channel-windows: N per window
    latency = _inference_us(model, case, config)
    peak = memory_peak(case.device, mark)
    log.info("%s %s T=%d: %.0f samples/s", case.device, name, case.context, samples / seconds)
    return {"device": str(case.device), "model": name, "context": case.context, "batch_size": config.batch_size,
            "parameters": count_parameters(model), "precision": "bf16" if case.autocast else "fp32",
            "train_samples_per_s": samples / seconds, "infer_us_per_window": latency, "peak_memory_mib": peak}


def _resolve_devices(devices: tuple[str, ...]) -> list[torch.device]:
    if devices:
        return [resolve_device(device) for device in devices]  # an absent device fails here, before measuring
    return [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])


def run_bench(config: BenchConfig, *, progress: bool = False) -> pd.DataFrame:
    """One row per (device, model, context): samples/s, microseconds per window, peak MiB (see ``COLUMNS``)."""
    devices = _resolve_devices(config.devices)
    series = synthetic_series(config.series_length, config.channels, config.seed)  # (L, C), shared by every model
    patched = [] if config.patch is None else [patched_name(config.patch)]
    names = [*config.kinds, *patched, *(["reference"] if config.reference else [])]
    channel_rows = () if config.independent is None else channel_names(config.independent)
    channel_series = None if config.independent is None else synthetic_series(config.series_length, config.independent,
                                                                                config.seed)  # (L, N)
    total = len(devices) * len(config.contexts) * (len(names) + len(channel_rows))
    bar = tqdm(total=total, desc="bench", unit="model", disable=not progress)
    rows = []
    for device in devices:
        for context in config.contexts:
            case = _make_case(series, device, context, config)
            for name in names:
                bar.update()
                if name in patched and context < config.patch:
                    continue  # a window shorter than one patch holds no token
                bar.set_postfix_str(f"{device} T={context} {name}")
                rows.append(_bench_model(name, case, config))
            if channel_rows:
                case = _make_case(channel_series, device, context, config, targets=config.independent)
                for name in channel_rows:
                    bar.update()
                    bar.set_postfix_str(f"{device} T={context} {name}")
                    rows.append(_bench_model(name, case, config))
    bar.close()
    frame = pd.DataFrame(rows, columns=COLUMNS)
    check_parameters(frame)
    return frame


def save_bench(frame: pd.DataFrame, out: str | Path, *, config: BenchConfig, long_series: dict | None = None,
               long_series_config: LongSeriesConfig | None = None) -> Path:
    """Write bench.csv, ratios.csv, long_series.csv (if given), the figures and bench.yaml to ``out``, atomically.

    ``bench.yaml`` records what was measured: the ``config`` that ``frame`` came from and the settings of the
    long-series measurement (``long_series: null`` when there was none).
    """
    from forecaster.output import plots  # matplotlib is imported only when figures are written

    def write_files(folder: Path) -> None:
        frame.to_csv(folder / "bench.csv", index=False)
        ratio_table(frame).to_csv(folder / "ratios.csv", index=False)
        patches = patch_table(frame)
        if len(patches):
            patches.to_csv(folder / "patch_ratios.csv", index=False)
        channels = channel_table(frame)
        if len(channels):
            channels.to_csv(folder / "channel_ratios.csv", index=False)
        if long_series is not None:
            pd.DataFrame([long_series]).to_csv(folder / "long_series.csv", index=False)
        settings = {"bench": plain_dict(dataclasses.asdict(config)),
                    "long_series": None if long_series_config is None else dataclasses.asdict(long_series_config)}
        (folder / "bench.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
        figures = {
            "throughput.png": plots.bench_throughput_figure,
            "memory.png": plots.bench_memory_figure,
            "latency.png": plots.bench_latency_figure,
        }
        for filename, figure in figures.items():
            figure(frame).savefig(folder / filename, dpi=120)

    return write_folder(out, write_files)
