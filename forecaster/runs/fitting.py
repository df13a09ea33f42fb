"""The one fit-and-score path: seed, build, train, score. Runs, global runs, transfer and the lesson use it.

- ``build`` makes a model from its spec with the experiment's seed (so each model's initial weights are
  independent of the order of the models), and turns the kind's refusal into one line;
- ``fit`` seeds again and trains it on a split's windows, with the loss and hooks passed through to
  ``train_model``;
- ``score_model`` forecasts one named split once (``val`` for calibration and tuning, ``test`` for final
  scoring; nothing else reads the test span), maps the forecasts back to the series' units and computes
  every metric.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from forecaster.config import ModelSpec
from forecaster.data.windows import PooledWindows, WindowSet
from forecaster.errors import ForecasterError
from forecaster.evaluation.metrics import forecast_metrics, insample_naive_mae, metrics_by_step, no_move_tolerance, to_series_units
from forecaster.models import ModelDims, build_model
from forecaster.runs.prepare import SPLITS, PreparedData
from forecaster.training.loop import EpochHook, StepHook, TrainConfig, TrainResult, seed_everything, train_model
from forecaster.training.losses import Loss, mse

log = logging.getLogger(__name__)


@dataclass
class ModelRun:
    """One model's outcome: the trained module, its training record, one split's forecasts and metrics."""

    spec: ModelSpec
    model: nn.Module
    training: TrainResult | None
    forecast: np.ndarray  # (N, H) in the series' units
    metrics: dict[str, float]
    step_metrics: list[dict[str, float]]
    split: str = "test"  # the split that was forecast and scored


def build(spec: ModelSpec, dims: ModelDims, *, seed: int) -> nn.Module:
    """Model ``spec`` for data of ``dims``, its initial weights drawn from ``seed`` alone."""
    seed_everything(seed)
    try:
        return build_model(spec.kind, spec.config, dims)
    except ValueError as error:
        raise ForecasterError(f"model {spec.name!r}: {error}") from None


def fit(
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
    """Train ``model`` in place on ``train`` (early stopping on ``val``), seeded with ``config.seed``."""
    seed_everything(config.seed)
    training = train_model(model, train, val, config, device=device, loss=loss, on_step_end=on_step_end,
                           on_epoch_end=on_epoch_end, progress=progress, description=description)
    log.info("%s: %.1f s, best epoch %d", description, training.seconds, training.best_epoch)
    return training


@torch.no_grad()
def predict(model: nn.Module, windows: WindowSet | PooledWindows, *, device: torch.device, batch_size: int = 1024) -> np.ndarray:
    """The model's forecasts for every window, in the scaled target space: (N, H, K)."""
    model.to(device).eval()
    windows = windows.to(device)
    outputs = []
    for start in range(0, len(windows), batch_size):
        batch = windows.batch(slice(start, start + batch_size))
        outputs.append(model(batch.past, batch.future))
    return torch.cat(outputs).double().cpu().numpy()


def score_model(
    data: PreparedData, spec: ModelSpec, model: nn.Module, training: TrainResult | None, *,
    device: torch.device, split: str = "test",
) -> ModelRun:
    """Forecast the windows of ``split`` once, map them back to the series' units and compute every metric."""
    if split not in SPLITS:
        raise ForecasterError(f"split={split!r} is not one of {', '.join(SPLITS)}")
    actual, anchors = data.actual_and_anchors(split)
    train_levels = data.training_levels
    scoring = {"anchors": anchors, "scale_mae": insample_naive_mae(train_levels), "no_move": no_move_tolerance(train_levels)}
    scaled = predict(model, data.windows[split], device=device)  # (N, H, K)
    if training is not None and training.failure and not training.best_epoch:
        scaled = np.full_like(scaled, np.nan)  # no weights worth scoring: every metric is NaN
    # One target for now: the series holds one target's levels (multivariate scoring pools over K).
    (offset,), (scale,) = data.target_offset, data.target_scale
    forecast = to_series_units(scaled[..., 0], mean=offset, scale=scale, anchors=anchors, transform=data.series.transform)
    return ModelRun(
        spec=spec,
        model=model.cpu(),
        training=training,
        forecast=forecast,
        metrics=forecast_metrics(actual, forecast, **scoring),
        step_metrics=metrics_by_step(actual, forecast, **scoring),
        split=split,
    )


def fit_and_score(
    data: PreparedData, spec: ModelSpec, model: nn.Module, config: TrainConfig | None, *,
    device: torch.device, train: WindowSet | None = None, split: str = "test", **fitting,
) -> ModelRun:
    """Train ``model`` (unless ``config`` is None: a naive forecast, or a model scored as it is) and score it.

    ``train`` replaces the training windows (e.g. the newest N of them); ``fitting`` goes to ``fit``
    (loss, hooks, progress, description).
    """
    training = None
    if config is not None:
        training = fit(model, data.windows["train"] if train is None else train, data.windows["val"], config,
                       device=device, **fitting)
    return score_model(data, spec, model, training, device=device, split=split)
