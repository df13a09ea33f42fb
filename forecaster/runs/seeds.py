"""One experiment under several seeds: a results folder per seed and every metric's mean and spread over seeds.

The data, split and windows are the same for every seed; only the neural models' initial weights and
batch order change. With several series (``data.source`` a list) each seed trains one global model on all of
them (``run_global``), and the summary has a row per series and model, then the pooled rows. The spread over
seeds says how much a single run's number can be trusted, which one split cannot say about the data
(``forecaster backtest`` varies the split too). The seeds are the config's ``seeds`` list, which the results
folder's config.yaml records, so that ``forecaster run DIR/config.yaml`` repeats the whole seeds run; each
``seed-N/config.yaml`` repeats that seed's run alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from forecaster.config import ExperimentConfig, write_config
from forecaster.errors import ForecasterError
from forecaster.output.folders import write_folder
from forecaster.runs.experiment import METRIC_COLUMNS, ExperimentResult, run_experiment, save_run
from forecaster.runs.intervals import summarised_scores
from forecaster.runs.multiseries import GlobalResult
from forecaster.runs.series import Frames, load_data
from forecaster.training.loop import EpochEnd

SUMMARY_METRICS = [*METRIC_COLUMNS, "train_seconds"]


def run_seeds(
    config: ExperimentConfig, seeds: tuple[int, ...] | None = None, *, frame: Frames | None = None,
    progress: bool = False, on_epoch_end: Callable[[str, EpochEnd], bool | None] | None = None,
) -> dict[int, ExperimentResult | GlobalResult]:
    """``run_experiment`` (or ``run_global`` for several series) once per seed (``train.seed`` replaced), on the
    same data loaded once.

    The seeds are ``seeds``, or the config's own ``seeds`` when None; each seed's run has no ``seeds`` of its
    own (its folder repeats that one seed). ``on_epoch_end(name, end)`` names the model ``<model>.seed-<N>``.
    ``frame`` replaces loading the series: one frame, or several series' frames by label.
    """
    if seeds is not None:
        config = dataclasses.replace(config, seeds=tuple(seeds))  # checked there: some seeds, none twice
    if config.seeds is None:
        raise ForecasterError("run_seeds needs seeds: pass seeds=(0, 1, 2) or give the config a seeds list")
    data = load_data(config, frame)
    results = {}
    for seed in config.seeds:
        seeded = dataclasses.replace(config, seeds=None, train=dataclasses.replace(config.train, seed=seed))
        hook = None if on_epoch_end is None else (lambda name, end, seed=seed: on_epoch_end(f"{name}.seed-{seed}", end))
        results[seed] = run_experiment(seeded, frame=data, progress=progress, on_epoch_end=hook)
    return results


def seed_metrics(results: dict[int, ExperimentResult | GlobalResult]) -> pd.DataFrame:
    """Every seed's metrics table, one row per (seed, model)."""
    return pd.concat([result.metrics.assign(seed=seed) for seed, result in results.items()], ignore_index=True)


def _keys(table: pd.DataFrame) -> list[str]:
    """What a summary row is of: a model, or with several series a series (or ``all``, pooled) and a model."""
    return ["series", "model"] if "series" in table.columns else ["model"]


def seed_summary(results: dict[int, ExperimentResult | GlobalResult]) -> pd.DataFrame:
    """Per model (and series), in the tables' order: runs, then each metric's mean and standard deviation over seeds
    (ddof 1)."""
    table = seed_metrics(results)
    grouped = table.groupby(_keys(table), sort=False)
    summary = grouped[[*SUMMARY_METRICS, *summarised_scores(table.columns)]].agg(["mean", "std"])
    summary.columns = [f"{metric}_{statistic}" for metric, statistic in summary.columns]
    summary.insert(0, "runs", grouped.size())
    summary.insert(0, "kind", grouped["kind"].first())
    summary["parameters"] = grouped["parameters"].first()
    summary["failed_runs"] = grouped["status"].agg(lambda status: int((status != "ok").sum()))
    return summary.reset_index()


def seed_step_summary(results: dict[int, ExperimentResult | GlobalResult]) -> pd.DataFrame:
    """Per model (and series) and horizon step: each metric's mean and standard deviation over seeds."""
    table = pd.concat([result.step_metrics.assign(seed=seed) for seed, result in results.items()], ignore_index=True)
    summary = table.groupby([*_keys(table), "step"], sort=False)[METRIC_COLUMNS].agg(["mean", "std"])
    summary.columns = [f"{metric}_{statistic}" for metric, statistic in summary.columns]
    return summary.reset_index()


def save_seeds(results: dict[int, ExperimentResult | GlobalResult], out: str | Path) -> Path:
    """Write ``out``: config.yaml, seed-N/ per seed, summary.csv, metrics.csv (every seed).

    config.yaml is the first seed's resolved config with the seeds of ``results`` as its ``seeds`` list.
    """
    first = next(iter(results.values()))

    def write_files(folder: Path) -> None:
        write_config(dataclasses.replace(first.config, seeds=tuple(results)), folder / "config.yaml")
        for seed, result in results.items():
            save_run(result, folder / f"seed-{seed}")
        seed_summary(results).to_csv(folder / "summary.csv", index=False)
        seed_metrics(results).to_csv(folder / "metrics.csv", index=False)
        if first.config.windows.horizon > 1:
            seed_step_summary(results).to_csv(folder / "metrics_by_step.csv", index=False)

    return write_folder(out, write_files)
