"""Run an experiment (compute) and save its results folder (I/O), as two separate steps.

``run_experiment(config)`` loads the series, windows it once, trains every model on the same windows,
and evaluates each once on the test span; ``save_run(result, out)`` writes the folder atomically.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from sklearn.preprocessing import StandardScaler
from torch import nn

from forecaster.checkpoint import checkpoint_payload, save_checkpoint
from forecaster.config import ExperimentConfig, ModelSpec, write_config
from forecaster.data.features import DataConfig, PreparedSeries, prepare_series
from forecaster.data.seasonality import resolve_period
from forecaster.data.sources import load_prices
from forecaster.data.windows import (
    SplitBounds,
    WindowConfig,
    WindowSet,
    fit_scaler,
    scaler_statistics,
    split_bounds,
    split_windows,
)
from forecaster.errors import ForecasterError
from forecaster.evaluation.metrics import (
    forecast_metrics,
    insample_naive_mae,
    metrics_by_step,
    no_move_tolerance,
    predict,
    to_series_units,
)
from forecaster.models import ModelDims, build_model, count_parameters, model_kind
from forecaster.output.folders import write_folder
from forecaster.output.tables import seasonal_beside_naive
from forecaster.training.loop import TrainResult, resolve_device, seed_everything, train_model

if TYPE_CHECKING:  # for annotations only: matplotlib is imported when figures are written
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

METRIC_COLUMNS = ["mae", "rmse", "mape", "rel_mae", "mase", "directional_accuracy"]


@dataclass(frozen=True)
class PreparedData:
    """The one set of windows every model of an experiment trains and is evaluated on."""

    series: PreparedSeries
    bounds: SplitBounds
    scaler: StandardScaler
    windows: dict[str, WindowSet]
    dims: ModelDims

    def actual_and_anchors(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """True levels (N, H) of a split's targets, and each window's last level (N,)."""
        windows = self.windows[split]
        origins = windows.origins
        steps = origins[:, None] + np.arange(1, windows.horizon + 1)  # (N, H)
        return self.series.levels[steps], self.series.levels[origins]


def prepare_data(
    frame: pd.DataFrame, data: DataConfig, windows: WindowConfig, *, bounds: SplitBounds | None = None
) -> PreparedData:
    """Transform, split, scale (training span only) and window ``frame``; ``bounds`` fixes the split."""
    series = prepare_series(frame, data)
    if bounds is None:
        bounds = split_bounds(len(series.frames), windows, lost_rows=series.lost_rows)
    differenced = series.transform != "level"
    scaler = fit_scaler(series.frames, bounds, center=not differenced)
    scaled = torch.tensor(scaler.transform(series.frames), dtype=torch.float32)  # (L, C)
    offset, scale = scaler_statistics(scaler)
    dims = ModelDims(
        context=windows.context,
        horizon=windows.horizon,
        channels=scaled.shape[1],
        differenced=differenced,
        no_change=float((0.0 - offset[0]) / scale[0]),
    )
    return PreparedData(series, bounds, scaler, split_windows(scaled, bounds, windows), dims)


@dataclass
class ModelRun:
    """One model's outcome: the trained module, its training record, test forecasts and metrics."""

    spec: ModelSpec
    model: nn.Module
    training: TrainResult | None
    forecast: np.ndarray  # (N, H) in the series' units
    metrics: dict[str, float]
    step_metrics: list[dict[str, float]]


@dataclass
class ExperimentResult:
    """Everything ``save_run`` writes; also the Python API's answer to "how did each model do?"."""

    config: ExperimentConfig
    data: PreparedData
    runs: dict[str, ModelRun] = field(default_factory=dict)

    @property
    def metrics(self) -> pd.DataFrame:
        """One row per model: the metrics, training seconds and parameter count."""
        rows = []
        for name, run in self.runs.items():
            rows.append({
                "model": name,
                "kind": run.spec.kind,
                **run.metrics,
                "train_seconds": run.training.seconds if run.training else 0.0,
                "parameters": count_parameters(run.model),
                "best_epoch": run.training.best_epoch if run.training else 0,
                "status": run.training.failure if run.training and run.training.failure else "ok",
            })
        return seasonal_beside_naive(pd.DataFrame(rows))

    def checkpoint(self, name: str) -> dict:
        """Model ``name``'s checkpoint payload: what rebuilds it and feeds it new data."""
        run = self.runs[name]
        offset, scale = scaler_statistics(self.data.scaler)
        return checkpoint_payload(
            name=name, kind=run.spec.kind, config=run.spec.config, dims=self.data.dims,
            columns=self.data.series.columns, transform=self.data.series.transform,
            scaler_mean=offset.tolist(), scaler_scale=scale.tolist(), model=run.model,
            calendar=self.data.series.calendar,
        )

    @property
    def step_metrics(self) -> pd.DataFrame:
        """Metrics per model and horizon step."""
        return pd.DataFrame([{"model": name, **row} for name, run in self.runs.items() for row in run.step_metrics])

    @property
    def predictions(self) -> pd.DataFrame:
        """Test forecasts: one row per (origin, step), the actual value and one column per model."""
        actual, _ = self.data.actual_and_anchors("test")
        origins = self.data.windows["test"].origins
        horizon = actual.shape[1]
        dates = self.data.series.dates
        columns = {
            "date": dates[(origins[:, None] + np.arange(1, horizon + 1)).ravel()],
            "origin": dates[np.repeat(origins, horizon)],
            "step": np.tile(np.arange(1, horizon + 1), len(origins)),
            "actual": actual.ravel(),
        }
        columns.update({name: run.forecast.ravel() for name, run in self.runs.items()})
        return pd.DataFrame(columns)

    @property
    def history(self) -> pd.DataFrame:
        """Train and validation loss per epoch, for every trained model."""
        rows = [
            {"model": name, **epoch}
            for name, run in self.runs.items()
            if run.training
            for epoch in run.training.history
        ]
        return pd.DataFrame(rows, columns=["model", "epoch", "train_loss", "val_loss"])


def score_model(
    data: PreparedData, spec: ModelSpec, model: nn.Module, training: TrainResult | None, *, device: torch.device
) -> ModelRun:
    """Forecast the test span once, map it back to the series' units and compute every metric."""
    actual, anchors = data.actual_and_anchors("test")
    offset, scale = scaler_statistics(data.scaler)
    train_levels = data.series.levels[data.bounds.train_start : data.bounds.train_end]
    scoring = {"anchors": anchors, "scale_mae": insample_naive_mae(train_levels), "no_move": no_move_tolerance(train_levels)}
    scaled = predict(model, data.windows["test"], device=device)
    if training is not None and training.failure and not training.best_epoch:
        scaled = np.full_like(scaled, np.nan)  # no weights worth scoring: every metric is NaN
    forecast = to_series_units(scaled, mean=offset[0], scale=scale[0], anchors=anchors, transform=data.series.transform)
    return ModelRun(
        spec=spec,
        model=model.cpu(),
        training=training,
        forecast=forecast,
        metrics=forecast_metrics(actual, forecast, **scoring),
        step_metrics=metrics_by_step(actual, forecast, **scoring),
    )


def _with_seasons(config: ExperimentConfig, data: PreparedData) -> ExperimentConfig:
    """``config`` with each seasonal_naive ``period: auto`` replaced by a season of the training span's target."""
    target = data.series.frames[data.bounds.train_start : data.bounds.train_end, 0]  # never validation or test
    specs = []
    for spec in config.models:
        if spec.kind == "seasonal_naive" and spec.config.period == "auto":
            spec = dataclasses.replace(spec, config=resolve_period(spec.config, target, context=data.dims.context, name=spec.name))
            log.info("%s: period %d, from the training span's autocorrelation", spec.name, spec.config.period)
        specs.append(spec)
    return dataclasses.replace(config, models=tuple(specs))


def build_models(config: ExperimentConfig, dims: ModelDims) -> dict[str, nn.Module]:
    """Every model, built before any training so that a bad model config fails fast."""
    models = {}
    for spec in config.models:
        seed_everything(config.train.seed)  # each model's initial weights independent of the list's order
        try:
            models[spec.name] = build_model(spec.kind, spec.config, dims)
        except ValueError as error:
            raise ForecasterError(f"model {spec.name!r}: {error}") from None
    return models


def run_experiment(
    config: ExperimentConfig,
    *,
    frame: pd.DataFrame | None = None,
    bounds: SplitBounds | None = None,
    progress: bool = False,
    finished: dict[str, ModelRun] | None = None,
    pretrained: dict[str, ModelRun] | None = None,
    on_model_done: Callable[[ExperimentResult, str], None] | None = None,
) -> ExperimentResult:
    """Train and evaluate every model of ``config`` on the same windows; the test span is used once.

    ``bounds`` fixes the split (a backtest fold) instead of the config's fractions.
    ``finished`` holds models of an interrupted run to keep as they are (see ``forecaster.runs.progress``);
    ``pretrained`` holds models trained earlier (a backtest that does not refit every fold): they are
    scored on this call's test windows without training;
    ``on_model_done(result, name)`` is called after each model that this call trains and scores.
    """
    if not config.models:
        raise ForecasterError("the config lists no models; add some under 'models:' (e.g. kind: naive)")
    if frame is None:
        source = config.data.single_source("run_experiment (see forecaster.runs.multiseries.run_global)")
        frame = load_prices(source, start=config.data.start, end=config.data.end)
    data = prepare_data(frame, config.data, config.windows, bounds=bounds)
    config = _with_seasons(config, data)  # the resolved config is what the results folder records
    device = resolve_device(config.train.device)
    models = build_models(config, data.dims)
    result = ExperimentResult(config=config, data=data)
    for spec in config.models:
        if finished and spec.name in finished:
            result.runs[spec.name] = finished[spec.name]
            continue
        model = models[spec.name]
        training = None
        if pretrained and spec.name in pretrained:
            model, training = pretrained[spec.name].model, pretrained[spec.name].training
        elif model_kind(spec.kind).trainable:
            seed_everything(config.train.seed)
            training = train_model(
                model, data.windows["train"], data.windows["val"], config.train,
                device=device, progress=progress, description=spec.name,
            )
            log.info("%s: %.1f s, best epoch %d", spec.name, training.seconds, training.best_epoch)
        result.runs[spec.name] = score_model(data, spec, model, training, device=device)
        if on_model_done is not None:
            on_model_done(result, spec.name)
    return result


def _write_files(result: ExperimentResult, folder: Path) -> None:
    from forecaster.output import plots  # matplotlib is imported only when figures are written

    write_config(result.config, folder / "config.yaml")
    result.metrics.to_csv(folder / "metrics.csv", index=False)
    result.predictions.to_csv(folder / "predictions.csv", index=False)
    result.history.to_csv(folder / "history.csv", index=False)
    if result.data.dims.horizon > 1:
        result.step_metrics.to_csv(folder / "metrics_by_step.csv", index=False)
    for name, run in result.runs.items():
        if run.training is None:
            continue  # naive forecasts have no weights to keep
        save_checkpoint(result.checkpoint(name), folder / "checkpoints" / f"{name}.pt")
    figures = {
        "rel_mae.png": plots.rel_mae_figure(result.metrics),
        "forecasts.png": plots.forecast_figure(result.predictions),
        "training_curves.png": plots.training_curves_figure(result.history),
    }
    if result.data.dims.horizon > 1:
        figures["rel_mae_by_step.png"] = plots.rel_mae_by_step_figure(result.step_metrics)
    for name, run in result.runs.items():
        if run.spec.kind == "transformer":
            figures[f"attention_{name}.png"] = attention_of_last_test_window(result, name)
    for filename, figure in figures.items():
        figure.savefig(folder / filename, dpi=120, bbox_inches="tight")


def attention_of_last_test_window(result: ExperimentResult, name: str) -> Figure:
    """The attention maps of the transformer ``name`` on the newest test window (the lecture's "looking")."""
    from forecaster.output import plots
    windows = result.data.windows["test"]
    model = result.runs[name].model.eval()
    with torch.no_grad():
        _, maps = model.encoder.forward_with_attention(windows.inputs[-1:])  # one (1, N, P, P) per layer
    origin = int(windows.origins[-1])
    dates = result.data.series.dates[origin - windows.context + 1 : origin + 1]
    spans = model.encoder.token_spans(windows.context) if model.encoder.patch > 1 else None  # frames per patch
    return plots.attention_figure(
        [weights[0].numpy() for weights in maps], dates, spans=spans,
        title=f"{name}: attention on the window ending {dates[-1]:%Y-%m-%d}",
    )


def save_run(result: ExperimentResult, out: str | Path) -> Path:
    """Write the results folder ``out`` (config, metrics, predictions, history, checkpoints, figures) atomically."""
    return write_folder(out, lambda folder: _write_files(result, folder))
