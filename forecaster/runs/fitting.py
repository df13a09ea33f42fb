"""The one fit-and-score path: seed, build, train, score. Runs, global runs, transfer and the lesson use it.

- ``build`` makes a model from its spec with the experiment's seed (so each model's initial weights are
  independent of the order of the models), and turns the kind's refusal into one line;
- ``fit`` seeds again and trains it on a split's windows, with the loss and hooks passed through to
  ``train_model``;
- ``score_model`` forecasts one named split once (``val`` for calibration and tuning, ``test`` for final
  scoring; nothing else reads the test span), maps the forecasts back to the series' units and computes
  every metric, and with an ``IntervalConfig`` the intervals and their scores (``runs/intervals.py``).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from forecaster.config import ModelSpec
from forecaster.data.windows import PooledWindows, WindowSet
from forecaster.errors import ForecasterError
from forecaster.evaluation.conformal import CALIBRATED_METHODS, IntervalConfig
from forecaster.evaluation.metrics import (
    forecast_metrics,
    insample_naive_mae,
    metrics_by_step,
    no_move_tolerance,
    pool_channels,
    to_series_units,
    training_std,
)
from forecaster.models import HEADS, Head, ModelDims, build_model, distributional_heads, model_kind, output_head
from forecaster.models.statistical import StatisticalPlaceholder
from forecaster.runs.intervals import (
    Intervals,
    adaptive_intervals,
    conformal_intervals,
    head_intervals,
    interval_metrics,
    random_walk_intervals,
)
from forecaster.runs.prepare import SPLITS, PreparedData
from forecaster.training.loop import EpochHook, StepHook, TrainConfig, TrainResult, seed_everything, train_model
from forecaster.training.losses import Loss, head_loss, mae, mse

log = logging.getLogger(__name__)


@dataclass
class ModelRun:
    """One model's outcome: the trained module, its training record, one split's forecasts and metrics."""

    spec: ModelSpec
    model: nn.Module
    training: TrainResult | None
    forecast: np.ndarray  # (N, H) in the series' units; (N, H, K) for K targets
    metrics: dict[str, float]  # pooled over the targets when there are several (``pool_channels``)
    step_metrics: list[dict[str, float]]
    split: str = "test"  # the split that was forecast and scored
    intervals: Intervals | None = None  # the split's prediction intervals, when the run asks for them (one target)
    channels: dict[str, ModelRun] | None = None  # with several targets: each target's own run, by column name


def model_dims(spec: ModelSpec, dims: ModelDims, intervals: IntervalConfig | None) -> ModelDims:
    """The data's ``dims`` as model ``spec`` is built for: with the output head that ``intervals.method`` names.

    Under a method that names a distributional head (``quantile``, see ``models.HEADS``) every trainable
    kind trains that head, built for the intervals' levels (a kind that has none is refused by
    ``build_model``); naive kinds have nothing to train and get conformal intervals.
    """
    if (intervals is None or intervals.method not in distributional_heads() or not intervals.levels
            or not model_kind(spec.kind).trainable):
        return dims
    return dataclasses.replace(dims, head=HEADS[intervals.method].for_levels(intervals.levels))


def interval_method(model: nn.Module, intervals: IntervalConfig) -> str:
    """The method that makes ``model``'s intervals: its head's name for a distributional head, else conformal or adaptive."""
    if isinstance(model, StatisticalPlaceholder):
        return model.kind  # a statistical kind's own intervals (statsforecast's), nothing to calibrate
    head = output_head(model)
    if head.distributional:
        return head.name
    return intervals.method if intervals.method in CALIBRATED_METHODS else "conformal"


def build(spec: ModelSpec, dims: ModelDims, *, seed: int) -> nn.Module:
    """Model ``spec`` for data of ``dims``, its initial weights drawn from ``seed`` alone."""
    seed_everything(seed)
    try:
        return build_model(spec.kind, spec.config, dims)
    except ValueError as error:
        raise ForecasterError(f"model {spec.name!r}: {error}") from None


def training_loss(model: nn.Module, dims: ModelDims, loss: str = "mse") -> Loss:
    """What ``model`` trains on: its head's loss (``loss`` for points: ``train.loss``, MSE or MAE), of the cumulative
    change when the head asks for it."""
    head = output_head(model)
    if loss == "mae" and not head.shape:
        return mae
    return head_loss(head, differenced=dims.differenced)


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
    in_sample: WindowSet | PooledWindows | None = None,
) -> TrainResult:
    """Train ``model`` in place on ``train`` (early stopping on ``val``), seeded with ``config.seed``.

    With ``config.refit`` and ``in_sample`` (every window before the test span, ``windows.in_sample_windows``) the
    model is then trained again from its initial weights on ``in_sample`` for the best epoch's number of epochs, and
    keeps those weights; the record is the first pass's (its validation losses), with both passes' seconds.
    """
    seed_everything(config.seed)
    initial = copy.deepcopy(model.state_dict()) if config.refit and in_sample is not None else None
    training = train_model(model, train, val, config, device=device, loss=loss, on_step_end=on_step_end,
                           on_epoch_end=on_epoch_end, progress=progress, description=description)
    if initial is not None and training.best_epoch and not training.failure:
        model.load_state_dict(initial)
        seed_everything(config.seed)
        # No held-out windows are left: every epoch runs, and the in-sample windows' own loss picks the weights kept.
        epochs = training.best_epoch
        again = train_model(model, in_sample, in_sample, dataclasses.replace(config, epochs=epochs, patience=epochs),
                            device=device, loss=loss, on_step_end=on_step_end, progress=progress,
                            description=f"{description} refit")
        training.seconds += again.seconds
        training.failure = again.failure
    log.info("%s: %.1f s, best epoch %d", description, training.seconds, training.best_epoch)
    return training


@torch.no_grad()
def predict(model: nn.Module, windows: WindowSet | PooledWindows, *, device: torch.device, batch_size: int = 1024) -> np.ndarray:
    """The model's outputs for every window, in the scaled target space: (N, H, K, *head.shape), e.g. (N, H, K) for points."""
    model.to(device).eval()
    windows = windows.to(device)
    outputs = []
    for start in range(0, len(windows), batch_size):
        batch = windows.batch(slice(start, start + batch_size))
        outputs.append(model(batch.past, batch.future))
    return torch.cat(outputs).double().cpu().numpy()


def _scaled_forecasts(model: nn.Module, data: PreparedData, training: TrainResult | None, device: torch.device):
    """``forecasts(split)``: the model's scaled outputs of a split (N, H, K, *head.shape), predicted once per split."""
    cache: dict[str, np.ndarray] = {}

    def forecasts(split: str) -> np.ndarray:
        if split not in cache:
            scaled = predict(model, data.windows[split], device=device)  # (N, H, K, *head.shape)
            if training is not None and training.failure and not training.best_epoch:
                scaled = np.full_like(scaled, np.nan)  # no weights worth scoring: every metric is NaN
            cache[split] = scaled
        return cache[split]

    return forecasts


def _point_forecast(data: PreparedData, head: Head, scaled: np.ndarray, split: str) -> np.ndarray:
    """One target's point forecasts (N, H) in the series' units from its scaled outputs (N, H, *head.shape).

    The head's point forecast (a quantile head's median) is of the cumulative change to each step when the
    head trains on it (``head.cumulative``), else of each step's own target.
    """
    _, anchors = data.actual_and_anchors(split)
    (offset,), (scale,) = data.target_offset, data.target_scale
    point = head.point(scaled)
    if head.cumulative:
        return data.series.transform.cumulative_to_series(point * scale + offset, anchors)
    return to_series_units(point, mean=offset, scale=scale, anchors=anchors, transform=data.series.transform)


def score_model(
    data: PreparedData, spec: ModelSpec, model: nn.Module, training: TrainResult | None, *,
    device: torch.device, split: str = "test", intervals: IntervalConfig | None = None,
) -> ModelRun:
    """Forecast the windows of ``split`` once, map them back to the series' units and compute every metric.

    With ``intervals`` (levels not empty) the test span also gets prediction intervals, by the config's
    method (conformal and adaptive calibrate on this model's validation forecasts), and their scores join
    the metrics; ``rel_crps`` divides by the random walk's own CRPS on the same points.

    Several targets are scored one at a time (``PreparedData.channel``): the run's ``channels`` hold each
    target's own run, and its metrics pool the scale-free ones over the targets (``pool_channels``).
    """
    if split not in SPLITS:
        raise ForecasterError(f"split={split!r} is not one of {', '.join(SPLITS)}")
    forecasts = _scaled_forecasts(model, data, training, device)
    if data.dims.targets == 1:
        return _score_target(data, spec, model, training, lambda name: forecasts(name)[:, :, 0], split=split,
                             intervals=intervals)
    channels = {
        name: _score_target(data.channel(index), spec, model, training,
                            lambda name, index=index: forecasts(name)[:, :, index], split=split, intervals=intervals)
        for index, name in enumerate(data.series.target_names)
    }
    return pooled_targets(spec, model, training, channels, split=split)


def pooled_targets(spec: ModelSpec, model: nn.Module, training: TrainResult | None, channels: dict[str, ModelRun], *,
                   split: str) -> ModelRun:
    """One run of several targets from each target's own (``channels``, by column name): forecasts (N, H, K), and the
    scale-free metrics pooled over the targets (``pool_channels``)."""
    runs = list(channels.values())
    horizon = runs[0].forecast.shape[1]
    return ModelRun(
        spec=spec,
        model=model.cpu(),
        training=training,
        forecast=np.stack([run.forecast for run in runs], axis=-1),  # (N, H, K)
        metrics=pool_channels([run.metrics for run in runs]),
        step_metrics=[pool_channels([run.step_metrics[step] for run in runs]) for step in range(horizon)],
        split=split,
        channels=channels,
    )


def _score_target(
    data: PreparedData, spec: ModelSpec, model: nn.Module, training: TrainResult | None, forecasts, *,
    split: str, intervals: IntervalConfig | None,
) -> ModelRun:
    """``score_model`` for one target: ``data`` holds its levels, ``forecasts(split)`` its scaled forecasts."""
    head = output_head(model)
    forecast = _point_forecast(data, head, forecasts(split), split)
    bands = None
    if intervals is not None and intervals.levels:
        bands = head_intervals(data, split, forecasts(split), head, intervals.levels)  # None: the head has no distribution
        if bands is None and split == "test":
            val_forecast = _point_forecast(data, head, forecasts("val"), "val")
            method = interval_method(model, intervals)
            bands = (conformal_intervals(data, forecast, val_forecast, intervals.levels) if method == "conformal" else
                     adaptive_intervals(data, forecast, val_forecast, intervals.levels, step_size=intervals.step_size))
    return scored_run(data, spec, model, training, forecast, bands, split=split, intervals=intervals)


def scored_run(
    data: PreparedData, spec: ModelSpec, model: nn.Module, training: TrainResult | None, forecast: np.ndarray,
    bands: Intervals | None, *, split: str, intervals: IntervalConfig | None,
) -> ModelRun:
    """One target's run from its forecasts (N, H) of ``split`` in the series' units and their intervals (None: none).

    Every point metric, per step too; with intervals their scores, ``rel_crps`` over the random walk's own CRPS on the
    same points (``intervals.levels``). Window models come here through ``score_model``; the statistical kinds, whose
    forecasts are made from whole histories, through ``runs/statistical.py``.
    """
    actual, anchors = data.actual_and_anchors(split)
    train_levels = data.training_levels
    scoring = {"anchors": anchors, "scale_mae": insample_naive_mae(train_levels), "no_move": no_move_tolerance(train_levels),
               "scale_std": training_std(train_levels)}
    metrics = forecast_metrics(actual, forecast, **scoring)
    if bands is not None:
        random_walk = random_walk_intervals(data, split, intervals.levels)
        yardstick = interval_metrics(actual, random_walk, random_walk_crps=float("nan"))["crps"]
        metrics.update(interval_metrics(actual, bands, random_walk_crps=yardstick), interval_method=bands.method)
    return ModelRun(
        spec=spec,
        model=model.cpu(),
        training=training,
        forecast=forecast,
        metrics=metrics,
        step_metrics=metrics_by_step(actual, forecast, **scoring),
        split=split,
        intervals=bands,
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
