"""Memory against series length: our transformer trained on a very long series, whose windows are views, not copies.

``forecaster bench --long-series`` shows that memory grows with the series, not with series x context:
an (N, T, C) array of copied windows is what most forecasting code builds, and at 10 million steps and
context 512 it would need about 19 GiB; the views need none beyond the series itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from forecaster.bench.measure import TRAIN, bench_optimizer, synthetic_series
from forecaster.bench.memory import MIB, proc_status_mib, reset_peak_rss
from forecaster.data.windows import make_windows
from forecaster.errors import ForecasterError
from forecaster.models import ModelDims, TransformerConfig, build_model
from forecaster.training.loop import seed_everything, train_step


@dataclass(frozen=True)
class LongSeriesConfig:
    """The series' length and context, the timed training steps and our transformer's sizes (CPU, fp32)."""

    steps: int = 10_000_000
    context: int = 512
    batch_size: int = 256
    train_steps: int = 3
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 256
    channels: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("context", "batch_size", "train_steps", "d_model", "n_heads", "n_layers", "d_ff", "channels"):
            if getattr(self, name) < 1:
                raise ForecasterError(f"long_series.{name}={getattr(self, name)} must be at least 1")
        if self.steps <= self.context:
            raise ForecasterError(f"long_series.steps={self.steps} must exceed long_series.context={self.context}")


def long_series_memory(config: LongSeriesConfig) -> dict:
    """Train our transformer on a ``config.steps``-long series and report memory against a copied window set.

    The windows are views of the series, so memory grows with ``steps``, not ``steps x context``;
    ``materialised_mib`` is what an (N, T, C) float32 copy would need, computed and never allocated.
    """
    started = time.perf_counter()
    reset_peak_rss()  # so that earlier work in this process does not count
    seed_everything(config.seed)
    series = synthetic_series(config.steps, config.channels, config.seed)  # (L, C): the only copy of the data
    windows = make_windows(series, context=config.context, horizon=1, target_start=0, target_end=config.steps)
    inputs = windows.inputs  # (N, T, C)
    assert inputs.untyped_storage().data_ptr() == series.untyped_storage().data_ptr(), "windows must be views"
    model_config = TransformerConfig(config.d_model, config.n_heads, config.n_layers, config.d_ff, dropout=0.0)
    dims = ModelDims(config.context, 1, config.channels, differenced=True, no_change=0.0)
    model = build_model("transformer", model_config, dims)
    optimizer = bench_optimizer(model.train(), torch.device("cpu"))
    for _ in range(config.train_steps):
        rows = torch.randint(len(windows), (config.batch_size,))  # with replacement: no randperm of N per step
        train_step(model, optimizer, windows.batch(rows), grad_clip=TRAIN.grad_clip)  # past (B, T, C), targets (B, 1, 1)
    return {"steps": config.steps, "context": config.context, "windows": len(windows),
            "series_mib": series.numel() * series.element_size() / MIB,
            "materialised_mib": len(windows) * config.context * config.channels * 4 / MIB,
            "peak_rss_mib": proc_status_mib("VmHWM"), "seconds": time.perf_counter() - started}
