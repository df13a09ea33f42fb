"""Global training: one model trained on the windows of several series, scored on each and pooled.

``data.source`` may list several series (bundled names, CSV paths, tickers), or name one long-format table of many
(``data/panel.py``: a row per series and time; each series labelled by its id). Each is transformed,
split chronologically and scaled on its own training span exactly as a single-series run would do it
(``experiment.prepare_data``); the training and validation windows of all of them are pooled
(``windows.pool_windows``) so that no window crosses from one series into another; every model is
trained once on the pool and then scored on each series' own test span. The naive forecast is scored
the same way, so every per-series table keeps its ``rel_mae`` yardstick.

Pooled metrics have to be free of units (an S&P 500 point and a sunspot are not comparable): each
series' errors are divided by its in-sample naive MAE (MASE's scale) before pooling, so the pooled
``mase`` is the mean scaled error over every test point of every series and the pooled ``rel_mae`` is
the model's scaled error over the naive forecast's, which is exactly 1 for the naive forecast. The
pooled MAE and RMSE would mix units and are left empty. Intervals are made and scored per series; pooled,
coverage is the share of every series' test points inside their intervals and ``rel_crps`` the model's
CRPS over the random walk's, each series in units of its MASE scale (CRPS and pinball loss are left empty).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forecaster.checkpoint import Checkpoint, save_checkpoint
from forecaster.config import ExperimentConfig, write_config
from forecaster.data.features import prepare_series
from forecaster.data.padding import needs_padding
from forecaster.data.pipeline import SeriesScaling
from forecaster.data.windows import SplitBounds, pool_windows
from forecaster.errors import ForecasterError
from forecaster.evaluation.metrics import forecast_metrics, insample_naive_mae, no_move_tolerance
from forecaster.models import model_kind
from forecaster.output.folders import write_folder
from forecaster.runs import global_tables
from forecaster.runs.experiment import (
    ExperimentResult,
    attention_of_last_test_window,
    build_models,
    check_intervals,
    model_hook,
    one_target,
)
from forecaster.runs.fitting import ModelRun, fit, score_model, training_loss
from forecaster.runs.global_tables import TableCache
from forecaster.runs.panel_scores import pooled_scores, series_scores
from forecaster.runs.prepare import PreparedData, check_training_windows, in_sample_windows, series_bounds, window_series
from forecaster.runs.series import POOLED, figure_series, file_name, load_frames, series_configs
from forecaster.runs.statistical import score_statistical
from forecaster.training.loop import EpochEnd, resolve_device


@dataclass
class GlobalResult:
    """A global run: one ``ExperimentResult`` per series, all holding the same trained models."""

    config: ExperimentConfig
    parts: dict[str, ExperimentResult] = field(default_factory=dict)  # series label -> its result
    _tables: TableCache = field(default_factory=TableCache, init=False, repr=False, compare=False)  # built once

    @property
    def first(self) -> ExperimentResult:
        return next(iter(self.parts.values()))

    @property
    def runs(self) -> dict[str, ModelRun]:
        """The first series' runs: the models themselves are the same in every series."""
        return self.first.runs

    def checkpoint(self, name: str) -> Checkpoint:
        """Model ``name``'s checkpoint: the first series' scaling, and a record of every series with its own."""
        records = tuple(
            SeriesScaling(label=label, source=part.config.data.source, columns=pipeline.columns, offset=pipeline.offset,
                          scale=pipeline.scale, future_offset=pipeline.future_offset, future_scale=pipeline.future_scale)
            for label, part in self.parts.items()
            for pipeline in [part.data.pipeline]
        )
        first = self.first.checkpoint(name)
        # Each series' intervals were calibrated on its own validation forecasts, in its own units.
        intervals = tuple(part.calibration(name) for part in self.parts.values())
        return dataclasses.replace(first, pipeline=first.pipeline.with_series(records), series_intervals=intervals)

    @property
    def metrics(self) -> pd.DataFrame:
        """One row per (series, model), then the pooled rows (series ``all``)."""
        return self._tables.get("metrics", self.parts, self._metrics)

    def _metrics(self) -> pd.DataFrame:
        pooled = self.first.metrics.assign(series=POOLED)
        by_series = self.metrics_by_series
        for name in self.runs:
            for key, value in pooled_metrics(self, name).items():
                pooled.loc[pooled["model"] == name, key] = value
        table = pd.concat([global_tables.metrics_rows(self.parts, list(pooled["model"])), pooled], ignore_index=True)
        table = table[["series", *[c for c in table.columns if c != "series"]]]
        # The panel scores come after every other column (runs/panel_scores.py): per series, then pooled.
        table = table.merge(by_series[["series", "model", "mase_seasonal", "smape"]], on=["series", "model"], how="left")
        table["gmean_rel_mase"] = np.nan
        for name in self.runs:
            rows = (table["series"] == POOLED) & (table["model"] == name)
            for key, value in pooled_scores(by_series, name).items():
                table.loc[rows, key] = value
        return table

    @property
    def metrics_by_series(self) -> pd.DataFrame:
        """The panel scores: one row per (series, model), ``mase_seasonal``, ``smape`` and ``rel_mase`` (pooled in
        ``metrics``: ``panel_scores.POOLED_COLUMNS``)."""
        return self._tables.get("metrics_by_series", self.parts,
                                lambda: series_scores(self.parts, list(self.runs), self.config.data.season))

    @property
    def metrics_by_channel(self) -> pd.DataFrame:
        """One row per (series, target, model), in each target's own units (several targets)."""
        table = pd.concat([part.metrics_by_channel.assign(series=label) for label, part in self.parts.items()], ignore_index=True)
        return table[["series", *[c for c in table.columns if c != "series"]]]

    @property
    def predictions(self) -> pd.DataFrame:
        return self._tables.get("predictions", self.parts, lambda: global_tables.predictions(self.parts))

    @property
    def step_metrics(self) -> pd.DataFrame:
        return self._tables.get("step_metrics", self.parts, lambda: global_tables.step_metrics(self.parts))

    @property
    def intervals(self) -> pd.DataFrame:
        return self._tables.get("intervals", self.parts, self._intervals)

    def _intervals(self) -> pd.DataFrame:
        if not self.config.intervals.levels:  # no series has intervals: each one's table is empty
            return self.first.intervals.assign(series=pd.Series(dtype=object))
        return pd.concat([part.intervals.assign(series=label) for label, part in self.parts.items()], ignore_index=True)

    @property
    def history(self) -> pd.DataFrame:
        return self.first.history  # one training for all series

    @property
    def notes(self) -> dict[str, str]:
        return self.first.notes  # what was found from the training span: the same models for every series


def units(result: GlobalResult, name: str) -> list[tuple[PreparedData, ModelRun]]:
    """Model ``name`` on each (series, target) of the run: that target's data and run, series by series."""
    return [(data, runs[name]) for part in result.parts.values() for _channel, data, runs in part.per_target()]


def pooled_metrics(result: GlobalResult, name: str) -> dict[str, float]:
    """Model ``name``'s metrics over every series' (and target's) test points, each in units of its own MASE scale."""
    actual, forecast, anchors, no_move = [], [], [], []
    scored = units(result, name)
    for data, run in scored:
        part_actual, part_anchors = data.actual_and_anchors("test")
        train_levels = data.training_levels
        scale = insample_naive_mae(train_levels)
        if not scale > 0:
            scale = 1.0  # a series that never moved in training: MASE is undefined, keep its units
        actual.append(part_actual / scale)
        forecast.append(run.forecast / scale)
        anchors.append(part_anchors / scale)
        no_move.append(np.full((len(part_anchors), 1), no_move_tolerance(train_levels) / scale))
    metrics = forecast_metrics(
        np.concatenate(actual), np.concatenate(forecast), anchors=np.concatenate(anchors),
        scale_mae=1.0, no_move=np.concatenate(no_move),
    )
    # Each series' errors in its own training standard deviations, every point weighted alike.
    runs = [run for _data, run in scored]
    points = np.array([run.forecast.size for run in runs], dtype=float)
    standardised = {key: float(np.average([run.metrics[key] for run in runs], weights=points))
                    for key in ("mse_scaled", "mae_scaled")}
    # In scaled units the MAE is the pooled MASE; MAE and RMSE themselves would mix the series' units.
    return {**metrics, **standardised, "mase": metrics["mae"], "mae": float("nan"), "rmse": float("nan"),
            **pooled_interval_metrics(result, name)}


def pooled_interval_metrics(result: GlobalResult, name: str) -> dict[str, float]:
    """Model ``name``'s interval scores over every series: point-weighted coverage, rel_crps in MASE-scaled units."""
    scored = [(data, run) for data, run in units(result, name) if run.intervals is not None]
    if not scored:
        return {}
    points = np.array([run.forecast.size for _data, run in scored], dtype=float)
    scales = np.array([insample_naive_mae(data.training_levels) or 1.0 for data, _run in scored])
    metrics = [run.metrics for _data, run in scored]
    pooled = {key: float(np.average([m[key] for m in metrics], weights=points))
              for key in metrics[0] if key.startswith("coverage_") or key == "crossing"}
    crps = np.array([m["crps"] for m in metrics])
    random_walk = crps / np.array([m["rel_crps"] for m in metrics])  # each series' own yardstick, in its units
    pooled["rel_crps"] = float(np.average(crps / scales, weights=points) / np.average(random_walk / scales, weights=points))
    return {**pooled, "crps": float("nan"), "pinball": float("nan")}


def prepare_all(config: ExperimentConfig, frames: dict[str, pd.DataFrame] | None = None, *,
                bounds: dict[str, SplitBounds] | None = None) -> dict[str, PreparedData]:
    """Each series prepared on its own (transform, split, scaler), with errors naming the series; ``bounds`` (series
    label -> its split) fixes the splits, as a backtest's folds do.

    Where any series is padded (too short for the holdout split, ``data/padding.py``), every series reads the
    ``observed`` channel, so that one model reads the same channels in all of them."""
    frames = frames or load_frames(config)
    series, splits = {}, {}
    for label, own in series_configs(config, frames).items():
        try:
            series[label] = prepare_series(frames[label], own.data)
            splits[label] = series_bounds(series[label], config.windows) if bounds is None else bounds[label]
        except ForecasterError as error:
            raise ForecasterError(f"series {label!r}: {error}") from None
    masked = any(needs_padding(split, config.windows) for split in splits.values())
    prepared = {label: window_series(series[label], config.windows, bounds=splits[label], masked=masked) for label in series}
    if config.data.series_embedding:  # each series' identity, a static covariate read like an input known ahead
        labels = tuple(prepared)
        prepared = {label: data.with_identity(labels, label) for label, data in prepared.items()}
    first_label, first = next(iter(prepared.items()))
    for label, data in prepared.items():
        if (data.dims.channels, data.dims.targets) != (first.dims.channels, first.dims.targets):
            raise ForecasterError(
                f"series {label!r} gives {data.dims.channels} input channel(s) of which {data.dims.targets} target(s), and "
                f"{first_label!r} gives {first.dims.channels} of which {first.dims.targets}; a global model needs the same "
                "targets and channels (data.targets, data.features) in every series"
            )
    return prepared


def run_global(
    config: ExperimentConfig,
    *,
    frames: dict[str, pd.DataFrame] | None = None,
    bounds: dict[str, SplitBounds] | None = None,
    progress: bool = False,
    finished: dict[str, ModelRun] | None = None,
    pretrained: dict[str, ModelRun] | None = None,
    on_model_done: Callable[[GlobalResult, str], None] | None = None,
    on_epoch_end: Callable[[str, EpochEnd], bool | None] | None = None,
) -> GlobalResult:
    """Train every model of ``config`` once on the pooled windows of its series; score it on each series.

    ``frames`` (series label -> frame) replaces loading the sources; ``bounds`` (series label -> split) fixes
    each series' split, as a backtest fold does; ``finished`` holds models of an interrupted run (see
    ``forecaster.runs.progress``) and ``pretrained`` models trained earlier (a backtest that does not refit
    every fold): both are scored again without training;
    ``on_epoch_end(name, end)`` is called after each epoch of model ``name``.
    """
    if not config.models:
        raise ForecasterError("the config lists no models; add some under 'models:' (e.g. kind: naive)")
    for spec in config.models:
        reason = model_kind(spec.kind).needs_one_series(spec.config)
        if reason is not None:
            raise ForecasterError(f"model {spec.name!r}: {reason}")
    frames = frames or load_frames(config)
    configs = series_configs(config, frames)
    figure_series(config, list(configs))  # an unknown label in figures.series stops the run before any training
    prepared = prepare_all(config, frames, bounds=bounds)
    pooled = pool_windows([data.windows for data in prepared.values()])
    in_sample = (pool_windows([{"train": in_sample_windows(data)} for data in prepared.values()])["train"]
                 if config.train.refit else None)
    check_training_windows(len(pooled["train"]), config.windows, "none of the series")
    # Differenced transforms are not centred, so "no change" is 0 in every series and one set of
    # dimensions fits all; level targets do not use it.
    dims = next(iter(prepared.values())).dims
    device = resolve_device(config.train.device)
    models = build_models(config, dims)
    for data in prepared.values():
        check_intervals(config, models, data)
    result = GlobalResult(config=config, parts={label: ExperimentResult(config=configs[label], data=data)
                                                for label, data in prepared.items()})
    for spec in config.models:
        model, training = models[spec.name], None
        kept = {**(pretrained or {}), **(finished or {})}
        if model_kind(spec.kind).statistical is not None and not (finished and spec.name in finished):
            # Fitted per series on its own history (in parallel over the series), never kept from an earlier fit.
            scored = score_statistical(config, {label: part.data for label, part in result.parts.items()}, spec, progress=progress)
            for label, part in result.parts.items():
                part.runs[spec.name] = scored[label]
            if on_model_done is not None:
                on_model_done(result, spec.name)
            continue
        if spec.name in kept:
            model, training = kept[spec.name].model, kept[spec.name].training
        elif model_kind(spec.kind).trains(spec.config):
            training = fit(model, pooled["train"], pooled["val"], config.train, device=device,
                           loss=training_loss(model, dims, config.train.loss), progress=progress, description=spec.name,
                           on_epoch_end=model_hook(on_epoch_end, spec.name), in_sample=in_sample)
        for part in result.parts.values():
            part.runs[spec.name] = score_model(part.data, spec, model, training, device=device, intervals=config.intervals)
        if on_model_done is not None and not (finished and spec.name in finished):
            on_model_done(result, spec.name)
    return result


def _write_files(result: GlobalResult, folder: Path) -> None:
    from forecaster.output import plots  # matplotlib is imported only when figures are written

    write_config(result.config, folder / "config.yaml")
    metrics = result.metrics
    metrics.to_csv(folder / "metrics.csv", index=False)
    result.metrics_by_series.to_csv(folder / "metrics_by_series.csv", index=False)
    global_tables.write_predictions(result.predictions, folder, series=len(result.parts))
    result.history.to_csv(folder / "history.csv", index=False)
    if result.first.data.dims.horizon > 1:
        result.step_metrics.to_csv(folder / "metrics_by_step.csv", index=False)
    if result.first.data.dims.targets > 1:
        result.metrics_by_channel.to_csv(folder / "metrics_by_channel.csv", index=False)
    intervals = result.intervals
    if len(intervals):
        intervals.to_csv(folder / "intervals.csv", index=False)
    for name, run in result.runs.items():
        if run.training is not None:
            save_checkpoint(result.checkpoint(name), folder / "checkpoints" / f"{name}.pt")
    pooled = metrics[metrics["series"] == POOLED]
    figures = {
        "rel_mae.png": plots.rel_mae_figure(
            pooled, title=f"Models against the random walk, test spans of {', '.join(result.parts)} pooled"
        ),
        "training_curves.png": plots.training_curves_figure(result.history),
    }
    for label in figure_series(result.config, list(result.parts)):  # per series, a bounded selection: a run may have thousands
        part = result.parts[label]
        first = part.data.series.target_names[0]  # with several targets the figures show the first
        figures[f"forecasts_{file_name(label)}.png"] = plots.forecast_figure(one_target(part.predictions, first),
                                                                   band=plots.sharpest_model(part.metrics))
        for name, run in part.runs.items():
            if model_kind(run.spec.kind).attention is not None:
                figures[f"attention_{name}_{file_name(label)}.png"] = attention_of_last_test_window(part, name)
    for filename, figure in figures.items():
        figure.savefig(folder / filename, dpi=120, bbox_inches="tight")


def save_global(result: GlobalResult, out: str | Path) -> Path:
    """Write a global run's results folder atomically: per-series and pooled metrics, one checkpoint per model, the
    pooled figures and those of the series ``figures.series`` chooses."""
    return write_folder(out, lambda folder: _write_files(result, folder))
