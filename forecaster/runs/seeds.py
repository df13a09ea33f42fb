"""One experiment under several seeds: a results folder per seed and every metric's mean and spread over seeds.

The data, split and windows are the same for every seed; only the neural models' initial weights and
batch order change. The spread over seeds says how much a single run's number can be trusted, which one
split cannot say about the data (``forecaster backtest`` varies the split too).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from forecaster.config import ExperimentConfig, write_config
from forecaster.data.sources import load_prices
from forecaster.errors import ForecasterError
from forecaster.output.folders import write_folder
from forecaster.runs.experiment import (
    METRIC_COLUMNS,
    ExperimentResult,
    run_experiment,
    save_run,
)

SUMMARY_METRICS = [*METRIC_COLUMNS, "train_seconds"]


def run_seeds(
    config: ExperimentConfig, seeds: tuple[int, ...], *, frame: pd.DataFrame | None = None, progress: bool = False
) -> dict[int, ExperimentResult]:
    """``run_experiment`` once per seed (``train.seed`` replaced), on the same data loaded once."""
    if not seeds:
        raise ForecasterError("--seeds names no seed; e.g. --seeds 0,1,2")
    if len(set(seeds)) != len(seeds):
        raise ForecasterError(f"--seeds {','.join(map(str, seeds))} repeats a seed; each run must be another seed")
    if frame is None:
        source = config.data.single_source("--seeds")
        frame = load_prices(source, start=config.data.start, end=config.data.end)
    results = {}
    for seed in seeds:
        seeded = dataclasses.replace(config, train=dataclasses.replace(config.train, seed=seed))
        results[seed] = run_experiment(seeded, frame=frame, progress=progress)
    return results


def seed_metrics(results: dict[int, ExperimentResult]) -> pd.DataFrame:
    """Every seed's metrics table, one row per (seed, model)."""
    return pd.concat([result.metrics.assign(seed=seed) for seed, result in results.items()], ignore_index=True)


def seed_summary(results: dict[int, ExperimentResult]) -> pd.DataFrame:
    """Per model, in the tables' order: runs, then each metric's mean and standard deviation over seeds (ddof 1)."""
    table = seed_metrics(results)
    grouped = table.groupby("model", sort=False)
    summary = grouped[SUMMARY_METRICS].agg(["mean", "std"])
    summary.columns = [f"{metric}_{statistic}" for metric, statistic in summary.columns]
    summary.insert(0, "runs", grouped.size())
    summary.insert(0, "kind", grouped["kind"].first())
    summary["parameters"] = grouped["parameters"].first()
    summary["failed_runs"] = grouped["status"].agg(lambda status: int((status != "ok").sum()))
    return summary.reset_index()


def seed_step_summary(results: dict[int, ExperimentResult]) -> pd.DataFrame:
    """Per model and horizon step: each metric's mean and standard deviation over seeds."""
    table = pd.concat([result.step_metrics.assign(seed=seed) for seed, result in results.items()], ignore_index=True)
    summary = table.groupby(["model", "step"], sort=False)[METRIC_COLUMNS].agg(["mean", "std"])
    summary.columns = [f"{metric}_{statistic}" for metric, statistic in summary.columns]
    return summary.reset_index()


def save_seeds(results: dict[int, ExperimentResult], out: str | Path) -> Path:
    """Write ``out``: config.yaml (the first seed's), seed-N/ per seed, summary.csv, metrics.csv (every seed)."""
    first = next(iter(results.values()))

    def write_files(folder: Path) -> None:
        write_config(first.config, folder / "config.yaml")
        for seed, result in results.items():
            save_run(result, folder / f"seed-{seed}")
        seed_summary(results).to_csv(folder / "summary.csv", index=False)
        seed_metrics(results).to_csv(folder / "metrics.csv", index=False)
        if first.data.dims.horizon > 1:
            seed_step_summary(results).to_csv(folder / "metrics_by_step.csv", index=False)

    return write_folder(out, write_files)
