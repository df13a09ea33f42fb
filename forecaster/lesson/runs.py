"""Train and score the lesson's models with the library's own fit-and-score path (``runs/fitting.py``).

Every forecasting experiment draws on the same three series, windowed once each, and the same small
model sizes (``LessonSettings``). ``fit`` is memoised: the same series, model, switches, input order
and seed give the same trained model, so a section that needs a model an earlier section of the same
report trained reuses it instead of training it again (``clear_cache`` forgets them).
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch
from torch import nn

from forecaster.config import ModelSpec
from forecaster.data.features import DataConfig
from forecaster.data.sources import load_prices
from forecaster.data.windows import WindowConfig
from forecaster.lesson.settings import LessonSettings
from forecaster.lesson.tasks import SampleSet, seasonal_series
from forecaster.models import (
    LinearConfig,
    MLPConfig,
    NaiveConfig,
    RNNConfig,
    TransformerConfig,
    model_kind,
)
from forecaster.runs import fitting
from forecaster.runs.fitting import ModelRun, build, fit_and_score, predict, score_model
from forecaster.runs.prepare import PreparedData, prepare_data
from forecaster.training.loop import TrainConfig, TrainResult

CPU = torch.device("cpu")  # the report is a CPU measurement; question 11 measures a GPU separately
PERIOD = 24  # the synthetic seasonal series' cycle, in steps

# Series name -> (target transform, how the report names it).
SERIES = {
    "sp500": ("log_return", "S&P 500 daily closes (log-returns)"),
    "sunspots": ("level", "monthly sunspot numbers (levels)"),
    "seasonal": ("level", f"a synthetic hourly series with a {PERIOD}-step cycle plus AR(1) noise (levels)"),
    "profile": ("level", f"a synthetic hourly series whose {PERIOD}-step cycle is {PERIOD} arbitrary values, plus AR(1) "
                         "noise (levels)"),
}
ORDERS = ("kept", "shuffled", "half_swapped")


@functools.cache
def prepared(series: str, settings: LessonSettings) -> PreparedData:
    """The newest ``settings.rows`` rows of ``series``, transformed, split 70/15/15, scaled on train, windowed."""
    if series not in SERIES:
        raise ValueError(f"unknown lesson series {series!r}; valid: {', '.join(SERIES)}")
    if series in ("seasonal", "profile"):
        frame = seasonal_series(settings.rows, period=PERIOD, profile="harmonics" if series == "seasonal" else "arbitrary")
    else:
        frame = load_prices(series).iloc[-settings.rows :]
    data = DataConfig(source=series, transform=SERIES[series][0])
    return prepare_data(frame, data, WindowConfig(context=settings.context))


def describe_series(names, settings: LessonSettings) -> str:
    """'S&P 500 daily closes (log-returns, 2013-01-02 to 2018-12-31), ...' for the report's 'what was run'."""
    parts = []
    for name in names:
        dates = prepared(name, settings).series.dates
        parts.append(f"{SERIES[name][1]}, {len(dates)} steps from {dates[0]:%Y-%m-%d} to {dates[-1]:%Y-%m-%d}")
    return "; ".join(parts)


def model_config(kind: str, settings: LessonSettings, **switches: Any) -> Any:
    """``kind``'s config at the lesson's sizes; ``switches`` set transformer fields (positional, residual, ...)."""
    if kind == "transformer":
        return TransformerConfig(d_model=settings.d_model, n_heads=settings.n_heads, n_layers=settings.n_layers,
                                 d_ff=settings.d_ff, dropout=settings.dropout, **switches)
    configs = {"naive": NaiveConfig(), "linear": LinearConfig(), "mlp": MLPConfig(hidden=settings.mlp_hidden),
               "rnn": RNNConfig(hidden_size=settings.rnn_hidden)}
    return configs[kind]


def train_config(settings: LessonSettings, seed: int, **changes: Any) -> TrainConfig:
    """The lesson's optimiser and stopping rule, on the CPU, with ``seed``."""
    values = {"epochs": settings.epochs, "batch_size": settings.batch_size, "learning_rate": settings.learning_rate,
              "patience": settings.patience, "seed": seed, "device": "cpu", **changes}
    return TrainConfig(**values)


class ReorderedInput(nn.Module):
    """``model`` fed its window's frames in another order (Zeng et al. 2023, "Are transformers effective...", table 6).

    ``shuffled``: a new random order for every window (their "Shuf"), from a generator seeded with ``seed``;
    ``half_swapped``: the newer half moved in front of the older half (their "Half-Ex"); ``kept``: as is.
    """

    def __init__(self, model: nn.Module, *, order: str, seed: int = 0) -> None:
        super().__init__()
        if order not in ORDERS:
            raise ValueError(f"order={order!r} is not one of {', '.join(ORDERS)}")
        self.model = model
        self.order = order
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, x: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        batch, frames, channels = x.shape  # (B, T, C)
        if self.order == "half_swapped":
            x = torch.roll(x, shifts=frames // 2, dims=1)  # [newer half, older half]
        elif self.order == "shuffled":
            order = torch.rand(batch, frames, generator=self.generator).argsort(dim=1).to(x.device)  # (B, T)
            x = x.gather(1, order.unsqueeze(-1).expand(-1, -1, channels))  # (B, T, C), each window its own order
        return self.model(x, future)


@functools.cache
def fit(series: str, kind: str, seed: int, settings: LessonSettings, *, order: str = "kept",
        switches: tuple[tuple[str, Any], ...] = ()) -> ModelRun:
    """Train ``kind`` (with transformer ``switches``) on ``series`` with its frames in ``order``, and score it.

    The model is trained and tested on frames in the same order; the run's ``model`` is the trained
    forecaster wrapped in that order (``unwrap`` gets it back). Naive models are scored without training.
    """
    data = prepared(series, settings)
    spec = ModelSpec(name=kind, kind=kind, config=model_config(kind, settings, **dict(switches)))
    model = build(spec, data.dims, seed=seed)  # the initial weights depend on the seed alone
    wrapped = ReorderedInput(model, order=order, seed=seed)
    training = train_config(settings, seed) if model_kind(kind).trainable else None
    return fit_and_score(data, spec, wrapped, training, device=CPU)


def unwrap(run: ModelRun) -> nn.Module:
    """The trained forecaster inside a ``fit`` result, without its input reordering."""
    return run.model.model


def score_reordered(series: str, run: ModelRun, order: str, seed: int, settings: LessonSettings) -> ModelRun:
    """A trained model scored on test windows whose frames are put in ``order`` (no retraining)."""
    reordered = ReorderedInput(unwrap(run), order=order, seed=seed)
    return score_model(prepared(series, settings), run.spec, reordered, None, device=CPU)


def forecasts_on_test(series: str, model: nn.Module, settings: LessonSettings) -> np.ndarray:
    """A model's forecasts for the test windows of ``series``, in the scaled target space: (N, H, K)."""
    return predict(model, prepared(series, settings).windows["test"], device=CPU)


def clear_cache() -> None:
    """Forget every memoised series and trained model."""
    fit.cache_clear()
    prepared.cache_clear()


# --- the synthetic tasks: independent samples instead of windows of one series ---------------------


def train_on_samples(model: nn.Module, train: SampleSet, val: SampleSet, config: TrainConfig) -> TrainResult:
    """``fit`` on sample sets (a SampleSet offers what it reads from a WindowSet), seeded with config.seed."""
    return fitting.fit(model, train, val, config, device=CPU)


@torch.no_grad()
def sample_mse(model: nn.Module, samples: SampleSet, *, batch_size: int = 1024) -> float:
    """Mean squared error over every sample, in eval mode (1 = predicting the mean of a unit-variance target)."""
    model.eval()
    errors = [((model(samples.inputs[start : start + batch_size]) - samples.targets[start : start + batch_size]) ** 2)
              for start in range(0, len(samples), batch_size)]
    return torch.cat(errors).mean().item()
