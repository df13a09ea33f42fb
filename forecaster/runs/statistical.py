"""Score the statistical kinds (``ets``, ``theta``, ``arima``: ``models/statistical.py``) on the same test points as ours.

Each series (and each target of it) is fitted on its own: on its levels over the in-sample span, everything before the
test span (training and validation, from ``bounds.train_start``), in the series' units. The fitted model then forecasts
from each test origin with the history up to that origin alone: at the first origin the fitted model's own forecast,
at later ones (a chronological split has many) the same model applied to the longer history (statsforecast's
``forward``: no refit). A test value is read only once its origin has passed it, as our windows read it; the holdout
split has one origin per series, the competitions' protocol (fit on everything before the last ``horizon`` steps).

The forecasts and the model's own intervals (statsforecast's, at ``intervals.levels``, method named by the kind) are
then scored exactly as ours (``fitting.scored_run``): every point metric, and ``rel_crps`` against the random walk.
Series are fitted in parallel, ``n_jobs`` processes (joblib), with a progress bar.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from forecaster.config import ExperimentConfig, ModelSpec
from forecaster.data.seasonality import season_of_dates
from forecaster.models import model_kind
from forecaster.models.statistical import StatisticalPlaceholder, forecast_history, statsforecast_models
from forecaster.runs.fitting import ModelRun, pooled_targets, scored_run
from forecaster.runs.intervals import Intervals
from forecaster.runs.prepare import PreparedData


def _season(config: Any, default: int | None, data: PreparedData) -> int:
    """The model's season: its own, else the run's ``data.season``, else the series' frequency's."""
    return config.season or default or season_of_dates(data.series.dates)


def _unit_job(data: PreparedData, label: str) -> dict[str, Any]:
    """What ``forecast_history`` needs of one target: its levels up to the last test origin, where the fit ends, and
    how much history each origin has (all counted from ``train_start``)."""
    bounds, origins = data.bounds, data.windows["test"].origins
    start = bounds.train_start
    return {"history": np.asarray(data.series.levels[start : int(origins.max()) + 1], dtype=np.float64),
            "fit_end": bounds.val_end - start, "ends": origins - start + 1, "label": label}


def statistical_run(config: ExperimentConfig, data: PreparedData, spec: ModelSpec, progress: bool = False) -> ModelRun:
    """``score_statistical`` of one series (a run that is not global), named in an error line by its source."""
    label = config.data.sources[0]
    return score_statistical(config, {label: data}, spec, progress=progress)[label]


def score_statistical(config: ExperimentConfig, parts: dict[str, PreparedData], spec: ModelSpec, *,
                      progress: bool = False) -> dict[str, ModelRun]:
    """Model ``spec`` (a statistical kind) fitted on each series of ``parts`` (label -> data) and scored on its test span.

    The season is the model's own, else the run's ``data.season``, else each series' frequency's; the intervals are at
    ``config.intervals.levels`` (none without levels). Returns each series' run, by label; a series of several
    targets has each target's own run in ``channels``, as ``score_model`` gives them.
    """
    statistical = model_kind(spec.kind).statistical
    statsforecast_models()  # a missing extra is one line before any work
    levels = tuple(config.intervals.levels)
    intervals = config.intervals
    units = [(label, index, data.channel(index)) for label, data in parts.items() for index in range(data.dims.targets)]
    seasons = {(label, index): _season(spec.config, config.data.season, data) for label, index, data in units}
    message = statistical.season_warning(spec.name, set(seasons.values()))
    if message is not None:
        warnings.warn(message, stacklevel=2)
    jobs = [dict(_unit_job(data, label), season=seasons[label, index], horizon=data.dims.horizon, levels=levels)
            for label, index, data in units]
    outputs = _run_jobs(statistical, spec.config, jobs, n_jobs=spec.config.n_jobs, progress=progress, description=spec.name)
    model = StatisticalPlaceholder(spec.kind)
    runs: dict[str, dict[str, ModelRun]] = {label: {} for label in parts}
    for (label, index, data), (mean, lower, upper) in zip(units, outputs):
        bands = None if lower is None else Intervals(spec.kind, levels, lower, upper, mean)
        runs[label][parts[label].series.target_names[index]] = scored_run(data, spec, model, None, mean, bands, split="test",
                                                              intervals=intervals)
    return {label: next(iter(own.values())) if len(own) == 1 else pooled_targets(spec, model, None, own, split="test")
            for label, own in runs.items()}


def _run_jobs(statistical, config, jobs: list[dict], *, n_jobs: int | None, progress: bool, description: str) -> list:
    """``forecast_history`` on every job, in order: in this process for one job at a time, else in ``n_jobs`` processes
    (each with one thread for its numerical libraries: the parallelism is over series)."""
    n_jobs = min(n_jobs or os.cpu_count() or 1, len(jobs))
    bar = tqdm(total=len(jobs), desc=description, unit="series", disable=not progress, leave=True)
    if n_jobs <= 1:
        outputs = []
        for job in jobs:
            outputs.append(forecast_history(statistical, config, **job))
            bar.update()
    else:
        from joblib import Parallel, delayed, parallel_config  # scikit-learn's dependency

        with parallel_config(backend="loky", n_jobs=n_jobs, inner_max_num_threads=1):
            outputs = []
            for output in Parallel(return_as="generator")(delayed(forecast_history)(statistical, config, **job) for job in jobs):
                outputs.append(output)
                bar.update()
    bar.close()
    return outputs
