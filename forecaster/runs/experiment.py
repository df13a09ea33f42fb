"""Run an experiment (compute) and save its results folder (I/O), as two separate steps.

``run_experiment(config)`` loads the series, windows it once (``runs/prepare.py``), trains every model on
the same windows and scores each once on the test span, with its prediction intervals (``runs/fitting.py``,
``runs/intervals.py``); ``save_run(result, out)`` writes the folder atomically.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
from torch import nn

from forecaster.checkpoint import Checkpoint, save_checkpoint
from forecaster.config import ExperimentConfig, write_config
from forecaster.data.windows import SplitBounds
from forecaster.errors import ForecasterError
from forecaster.evaluation.conformal import CALIBRATED_METHODS, Calibration, check_calibration_size
from forecaster.models import ModelDims, count_parameters, model_kind, output_head
from forecaster.output.folders import write_folder
from forecaster.output.tables import seasonal_beside_naive
from forecaster.runs.fitting import ModelRun, build, fit, interval_method, model_dims, score_model, training_loss
from forecaster.runs.global_tables import prediction_columns
from forecaster.runs.intervals import RANDOM_WALK, interval_rows, msis_scale, random_walk_intervals
from forecaster.runs.prepare import PreparedData, check_training_windows, in_sample_windows, prepare_data
from forecaster.runs.series import is_global, load_data
from forecaster.runs.statistical import statistical_run
from forecaster.training.loop import EpochEnd, resolve_device

if TYPE_CHECKING:  # for annotations only: matplotlib is imported when figures are written
    from matplotlib.figure import Figure

    from forecaster.runs.multiseries import GlobalResult

log = logging.getLogger(__name__)

METRIC_COLUMNS = ["mae", "rmse", "mape", "rel_mae", "mase", "directional_accuracy", "mse_scaled", "mae_scaled"]


@dataclass
class ExperimentResult:
    """Everything ``save_run`` writes; also the Python API's answer to "how did each model do?"."""

    config: ExperimentConfig
    data: PreparedData
    runs: dict[str, ModelRun] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # model name -> a setting found from the training span

    @property
    def metrics(self) -> pd.DataFrame:
        """One row per model: the point metrics, training seconds, parameter count, status, then the intervals' scores.

        With several targets the scores are pooled over them (scale-free ones averaged, the others empty);
        ``metrics_by_channel`` has each target's own.
        """
        return seasonal_beside_naive(pd.DataFrame([self._metrics_row(name, run, run.metrics) for name, run in self.runs.items()]))

    @property
    def metrics_by_channel(self) -> pd.DataFrame:
        """metrics_by_channel.csv: one row per model and target channel, in each target's own units (several targets)."""
        rows = [{"channel": channel, **self._metrics_row(name, run, own.metrics)}
                for name, run in self.runs.items() for channel, own in (run.channels or {}).items()]
        return pd.DataFrame(rows)

    @staticmethod
    def _metrics_row(name: str, run: ModelRun, metrics: dict) -> dict:
        return {
            "model": name,
            "kind": run.spec.kind,
            **{key: value for key, value in metrics.items() if key in METRIC_COLUMNS},
            "train_seconds": run.training.seconds if run.training else 0.0,
            "parameters": count_parameters(run.model),
            "best_epoch": run.training.best_epoch if run.training else 0,
            "status": run.training.failure if run.training and run.training.failure else "ok",
            **{key: value for key, value in metrics.items() if key not in METRIC_COLUMNS},
        }

    def checkpoint(self, name: str) -> Checkpoint:
        """Model ``name``'s checkpoint, in memory: what rebuilds it and feeds it new data (save it with ``save_checkpoint``)."""
        run = self.runs[name]
        return Checkpoint.of(run.model, name=name, kind=run.spec.kind, config=run.spec.config, pipeline=self.data.pipeline,
                             dims=dataclasses.replace(self.data.dims, head=output_head(run.model)), intervals=self.calibration(name))

    def calibration(self, name: str) -> Calibration | None:
        """How model ``name``'s intervals for new windows are made (None: points only); several targets: each its own."""
        run = self.runs[name]
        targets = [own.intervals.calibration for own in (run.channels or {}).values() if own.intervals is not None]
        if targets:
            return Calibration.per_target(targets)
        return run.intervals.calibration if run.intervals is not None else None

    @property
    def step_metrics(self) -> pd.DataFrame:
        """Metrics per model and horizon step."""
        return pd.DataFrame([{"model": name, **row} for name, run in self.runs.items() for row in run.step_metrics])

    @property
    def split(self) -> str:
        """The split every model was scored on: ``test`` for a run, ``val`` for calibration or tuning."""
        splits = {run.split for run in self.runs.values()} or {"test"}
        if len(splits) > 1:
            raise ForecasterError(f"the models were scored on different splits ({', '.join(sorted(splits))})")
        return splits.pop()

    def per_target(self) -> list[tuple[str | None, PreparedData, dict[str, ModelRun]]]:
        """(channel name, that target's data, each model's run on it): one entry, named None, for one target."""
        if self.data.dims.targets == 1 or self.data.target_channel is not None:  # one target, or one target's view
            return [(None, self.data, self.runs)]
        return [(channel, self.data.channel(index), {name: run.channels[channel] for name, run in self.runs.items()})
                for index, channel in enumerate(self.data.series.target_names)]

    @property
    def predictions(self) -> pd.DataFrame:
        """The scored split's forecasts: one row per (origin, step), the actual value, one column per model.

        Then, for each model with intervals and each level, its bounds ``<model>_lo_<level>`` and ``<model>_hi_<level>``.
        With several targets a ``channel`` column names the target, and each target's rows follow the previous one's.
        """
        return pd.concat([self._target_predictions(channel, data, runs) for channel, data, runs in self.per_target()],
                         ignore_index=True)

    def _target_predictions(self, channel: str | None, data: PreparedData, runs: dict[str, ModelRun]) -> pd.DataFrame:
        return pd.DataFrame(prediction_columns(self.split, channel, data, runs))

    @property
    def intervals(self) -> pd.DataFrame:
        """intervals.csv: per model (the random walk's own first), level and step ('all', 1..H), coverage and scores.

        With several targets, each target's rows, with a ``channel`` column.
        """
        tables = [self._target_intervals(channel, data, runs) for channel, data, runs in self.per_target()]
        if not any(len(table) for table in tables):
            return pd.DataFrame(columns=["model", "method", "level", "step", "coverage", "width", "winkler", "msis"])
        return pd.concat(tables, ignore_index=True)

    def _target_intervals(self, channel: str | None, data: PreparedData, runs: dict[str, ModelRun]) -> pd.DataFrame:
        levels = self.config.intervals.levels
        if not levels or not any(run.intervals is not None for run in runs.values()):
            return pd.DataFrame()
        actual, _ = data.actual_and_anchors(self.split)
        scale = msis_scale(data, self.config.intervals)
        rows = interval_rows(RANDOM_WALK, actual, random_walk_intervals(data, self.split, levels), msis_scale=scale)
        for name, run in runs.items():
            if run.intervals is not None:
                rows += interval_rows(name, actual, run.intervals, msis_scale=scale)
        table = pd.DataFrame(rows)
        if channel is not None:
            table.insert(1, "channel", channel)
        return table

    @property
    def history(self) -> pd.DataFrame:
        """Train and validation loss and the learning rate (of the epoch's last step) per epoch, for every trained model."""
        rows = [
            {"model": name, **epoch}
            for name, run in self.runs.items()
            if run.training
            for epoch in run.training.history
        ]
        return pd.DataFrame(rows, columns=["model", "epoch", "train_loss", "val_loss", "lr"])


def resolve_settings(config: ExperimentConfig, data: PreparedData) -> tuple[ExperimentConfig, dict[str, str]]:
    """``config`` with every setting a model kind finds from the data filled in, and a note per model saying what.

    Only the training span's target is passed (``PreparedData.training_targets``): a setting such as a
    seasonal naive's ``period: auto`` never depends on validation or test data.
    """
    target = data.training_targets[:, 0]  # the first target's: several targets share what is found from it
    specs, notes = [], {}
    for spec in config.models:
        resolve = model_kind(spec.kind).resolve
        if resolve is not None:
            try:
                resolved, note = resolve(spec.config, target, context=data.dims.context)
            except ForecasterError as error:
                raise ForecasterError(f"models.{spec.name}.{error}") from None
            spec = dataclasses.replace(spec, config=resolved)
            if note is not None:
                notes[spec.name] = note
                log.info("%s: %s", spec.name, note)
        specs.append(spec)
    return dataclasses.replace(config, models=tuple(specs)), notes


def build_models(config: ExperimentConfig, dims: ModelDims) -> dict[str, nn.Module]:
    """Every model, built before any training so that a bad model config fails fast (a distributional head where asked)."""
    return {spec.name: build(spec, model_dims(spec, dims, config.intervals), seed=config.train.seed) for spec in config.models}


def check_intervals(config: ExperimentConfig, models: dict[str, nn.Module], data: PreparedData) -> None:
    """Refuse, before training, levels that the validation windows are too few to calibrate (conformal, adaptive)."""
    if any(interval_method(model, config.intervals) in CALIBRATED_METHODS for model in models.values()):
        check_calibration_size(len(data.windows["val"]), config.intervals.levels, "intervals.levels")


def model_hook(on_epoch_end: Callable[[str, EpochEnd], bool | None] | None, name: str):
    """``on_epoch_end`` told which model's epoch ended, as ``train_model`` calls it (None stays None)."""
    return None if on_epoch_end is None else functools.partial(on_epoch_end, name)


def run_experiment(
    config: ExperimentConfig,
    *,
    frame: pd.DataFrame | None = None,
    bounds: SplitBounds | None = None,
    progress: bool = False,
    finished: dict[str, ModelRun] | None = None,
    pretrained: dict[str, ModelRun] | None = None,
    on_model_done: Callable[[ExperimentResult, str], None] | None = None,
    on_epoch_end: Callable[[str, EpochEnd], bool | None] | None = None,
) -> ExperimentResult | GlobalResult:
    """Train and evaluate every model of ``config`` on the same windows; the test span is used once.

    Several series (a ``data.source`` list, a long table or ``frame``) make a global run
    (``runs/multiseries.run_global``), the result a ``GlobalResult``. ``bounds`` fixes the split.
    ``finished`` holds an interrupted run's models, kept as they are (``forecaster.runs.progress``);
    ``pretrained`` models trained earlier (a backtest that does not refit every fold), not trained;
    ``on_model_done(result, name)`` is called after each model that this call trains and scores;
    ``on_epoch_end(name, end)`` after each epoch of model ``name`` (``train_model``'s hook: True stops it).
    """
    if frame is not None:
        frame = load_data(config, frame)  # a long table of many series is split by its id column
    if isinstance(frame, dict) or len(config.data.sources) > 1 or (frame is None and is_global(config)):
        # The global path builds on this module's pieces (runs/multiseries.py imports them), so it is imported here.
        from forecaster.runs.multiseries import run_global

        return run_global(config, frames=frame, bounds=bounds, progress=progress, finished=finished, pretrained=pretrained,
                          on_model_done=on_model_done, on_epoch_end=on_epoch_end)
    if not config.models:
        raise ForecasterError("the config lists no models; add some under 'models:' (e.g. kind: naive)")
    if config.data.series_embedding:
        raise ForecasterError("data.series_embedding learns an identity per series of a global run, and this run has one "
                              "series; list several in data.source, or leave data.series_embedding out")
    if frame is None:
        frame = load_data(config)
    data = prepare_data(frame, config.data, config.windows, bounds=bounds)
    check_training_windows(len(data.windows["train"]), config.windows, "the series")
    config, notes = resolve_settings(config, data)  # the resolved config is what the results folder records
    device = resolve_device(config.train.device)
    models = build_models(config, data.dims)
    check_intervals(config, models, data)
    result = ExperimentResult(config=config, data=data, notes=notes)
    for spec in config.models:
        if finished and spec.name in finished:
            result.runs[spec.name] = finished[spec.name]
            continue
        model = models[spec.name]
        training = None
        if pretrained and spec.name in pretrained:
            model, training = pretrained[spec.name].model, pretrained[spec.name].training
        elif model_kind(spec.kind).trains(spec.config):
            training = fit(model, data.windows["train"], data.windows["val"], config.train, device=device,
                           loss=training_loss(model, data.dims, config.train.loss), progress=progress, description=spec.name,
                           on_epoch_end=model_hook(on_epoch_end, spec.name),
                           in_sample=in_sample_windows(data) if config.train.refit else None)
        statistical = model_kind(spec.kind).statistical  # fitted on its history: runs/statistical.py
        result.runs[spec.name] = (statistical_run(config, data, spec, progress) if statistical
                                  else score_model(data, spec, model, training, device=device, intervals=config.intervals))
        if on_model_done is not None:
            on_model_done(result, spec.name)
    return result


def _write_files(result: ExperimentResult, folder: Path) -> None:
    from forecaster.output import plots  # matplotlib is imported only when figures are written

    metrics, predictions, history, intervals = result.metrics, result.predictions, result.history, result.intervals
    write_config(result.config, folder / "config.yaml")
    metrics.to_csv(folder / "metrics.csv", index=False)
    predictions.to_csv(folder / "predictions.csv", index=False)
    history.to_csv(folder / "history.csv", index=False)
    if result.data.dims.horizon > 1:
        result.step_metrics.to_csv(folder / "metrics_by_step.csv", index=False)
    if result.data.dims.targets > 1:
        result.metrics_by_channel.to_csv(folder / "metrics_by_channel.csv", index=False)
    if len(intervals):
        intervals.to_csv(folder / "intervals.csv", index=False)
    for name, run in result.runs.items():
        if run.training is None:
            continue  # naive forecasts have no weights to keep
        save_checkpoint(result.checkpoint(name), folder / "checkpoints" / f"{name}.pt")
    first = result.data.series.target_names[0]  # with several targets the figures show the first
    figures = {
        "rel_mae.png": plots.rel_mae_figure(metrics),
        "forecasts.png": plots.forecast_figure(one_target(predictions, first), band=plots.sharpest_model(metrics)),
        "training_curves.png": plots.training_curves_figure(history),
    }
    if result.data.dims.horizon > 1:
        figures["rel_mae_by_step.png"] = plots.rel_mae_by_step_figure(result.step_metrics)
    figures.update(plots.interval_figures(one_target(intervals, first), horizon=result.data.dims.horizon))
    for name, run in result.runs.items():
        if model_kind(run.spec.kind).attention is not None:
            figures[f"attention_{name}.png"] = attention_of_last_test_window(result, name)
    for filename, figure in figures.items():
        figure.savefig(folder / filename, dpi=120, bbox_inches="tight")


def one_target(table: pd.DataFrame, channel: str) -> pd.DataFrame:
    """The rows of target ``channel`` of a table with a ``channel`` column (several targets), without it; else ``table``."""
    if "channel" not in table.columns:
        return table
    return table[table["channel"] == channel].drop(columns="channel")


def attention_of_last_test_window(result: ExperimentResult, name: str) -> Figure:
    """The attention maps of model ``name`` on the newest test window (the lecture's "looking"), per layer."""
    from forecaster.output import plots

    windows = result.data.windows["test"]
    run = result.runs[name]
    maps, spans = model_kind(run.spec.kind).attention(run.model, windows.inputs[-1:])  # one (1, N, P, P) per layer
    dates = result.data.window_dates(int(windows.origins[-1]))
    return plots.attention_figure(
        [weights[0].numpy() for weights in maps], dates, spans=spans,
        title=f"{name}: attention on the window ending {dates[-1]:%Y-%m-%d}",
    )


def save_run(result: ExperimentResult | GlobalResult, out: str | Path) -> Path:
    """Write the results folder ``out`` (config, metrics, predictions, history, checkpoints, figures) atomically; a
    global run's folder (``runs/multiseries.save_global``) for a ``GlobalResult``."""
    if not isinstance(result, ExperimentResult):
        from forecaster.runs.multiseries import save_global  # the global path builds on this module (see run_experiment)

        return save_global(result, out)
    return write_folder(out, lambda folder: _write_files(result, folder))
