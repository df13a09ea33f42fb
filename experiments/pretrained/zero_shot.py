"""The pretrained forecaster zero-shot on the forecasting competitions, beside the baselines run here and the
published rows.

    python experiments/pretrained/zero_shot.py --weights results/pretrained/pretrained.pt
    python experiments/pretrained/zero_shot.py --weights forecaster/weights/pretrained.pt --tasks tourism:monthly
    python experiments/pretrained/zero_shot.py --baselines ets,theta,arima    # the stats extra
    python experiments/pretrained/zero_shot.py --weights forecaster/weights/pretrained.pt --choose-context

Each task runs the competitions' protocol (``experiments/competitions/<task>.yaml``: each series' last h points
are its test part) with the pretrained forecaster alone, never trained on the task, reading up to its whole context
(``windows.context`` = the network's, shorter histories padded and masked). It forecasts the quantiles 0.025, 0.1,
0.2, ..., 0.9, 0.975 (``intervals.method: quantile``, levels 20, 40, 60, 80 and 95), scored as:

- ``mase_seasonal``: the competitions' MASE (mean over series of the MAE over the in-sample seasonal naive's);
- ``wql``: the weighted quantile loss over the nine deciles, fev's and GluonTS' mean over q of
  2 * sum(pinball_q) / sum(|y|), summed over every series and step;
- ``coverage_80``, ``coverage_95``: the share of test values inside the central intervals.

The M3 tasks' histories are in the pretraining pool (their test parts are not): their rows say so. Tourism is held
out of the pool entirely. Rows are appended to ``--out`` (default ``experiments/pretrained/zero_shot.csv``) with the
weights file's card (its epochs and pool) and the wall time of the forecasts.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

import forecaster
from forecaster.data.competitions import competition_subset
from forecaster.models.pretrained import WeightsFile

HERE = Path(__file__).resolve().parent
COMPETITIONS = HERE.parent / "competitions"
TASKS = ("tourism:monthly", "tourism:quarterly", "tourism:yearly", "m3:monthly", "m3:quarterly", "m3:yearly")
LEVELS = (20, 40, 60, 80, 95)
DECILES = tuple(round(0.1 * k, 1) for k in range(1, 10))


def wql(predictions: pd.DataFrame, name: str) -> float:
    """The weighted quantile loss over the deciles of ``name``'s forecasts in a run's predictions table."""
    actual = predictions["actual"].to_numpy()
    losses = []
    for tau in DECILES:
        if tau == 0.5:
            quantile = predictions[name].to_numpy()
        else:
            level = round(abs(1 - 2 * tau) * 100)
            side = "lo" if tau < 0.5 else "hi"
            quantile = predictions[f"{name}_{side}_{level}"].to_numpy()
        difference = actual - quantile
        losses.append(2 * np.maximum(tau * difference, (tau - 1) * difference).sum() / np.abs(actual).sum())
    return float(np.mean(losses))


def run_task(task: str, weights: str | None, context: int | None, model: str = "pretrained", *,
             validation: bool = False) -> dict:
    """One task's row for the pretrained forecaster of ``weights`` (reading ``context`` frames), or for a baseline
    ``model`` of the task's config (``ets``, ``theta``, ``arima``, ``seasonal_naive``: their own intervals).
    ``validation``: on the task's histories alone (``<task>:history``), whose last h points are the competition's
    validation span: no test value is read."""
    levels = [f"intervals.levels=[{','.join(map(str, LEVELS))}]"]
    if model == "pretrained":
        overrides = ["models=pretrained", f"models.pretrained.weights={weights}", f"windows.context={context}",
                     "intervals.method=quantile", *levels]
    else:
        overrides = [f"models={model}", *levels]
    if validation:
        overrides.append(f"data.source={task}:history")
    config = forecaster.read_config(COMPETITIONS / f"{task.replace(':', '_')}.yaml", overrides)
    start = time.perf_counter()
    result = forecaster.run_experiment(config, progress=False)
    seconds = time.perf_counter() - start
    metrics = result.metrics
    pooled = metrics[(metrics["series"] == "all") & (metrics["model"] == model)].iloc[0]
    return {"task": task, "mase_seasonal": pooled["mase_seasonal"], "gmean_rel_mase": pooled["gmean_rel_mase"],
            "wql": wql(result.predictions, model), "coverage_80": pooled["coverage_80"],
            "coverage_95": pooled["coverage_95"], "series": len(result.parts), "seconds": seconds,
            "in_pool": "histories in the pool" if task.startswith(("m1", "m3")) else "held out"}


def choose_context(task: str, weights: str, context: int) -> int:
    """The context, among h, 2h, 3h and the network's ``context``, with the lowest MASE on the task's validation span
    (``run_task(validation=True)``: no test value is read); a tie goes to the longer."""
    horizon = competition_subset(task).horizon
    candidates = sorted({min(k * horizon, context) for k in (1, 2, 3)} | {context})
    scores = {candidate: run_task(task, weights, candidate, validation=True)["mase_seasonal"] for candidate in candidates}
    print(f"{task}: validation MASE by context " + ", ".join(f"{key}: {value:.3f}" for key, value in scores.items()),
          flush=True)
    return min(reversed(candidates), key=scores.__getitem__)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="a weights file (forecaster pretrain's pretrained.pt, or the shipped one)")
    parser.add_argument("--baselines", type=lambda text: text.split(","), default=[],
                        help="score these models of the task configs instead (ets,theta,arima,seasonal_naive: the stats "
                             "extra), with the same quantiles")
    parser.add_argument("--tasks", type=lambda text: text.split(","), default=list(TASKS))
    parser.add_argument("--out", default=str(HERE / "zero_shot.csv"))
    parser.add_argument("--label", default="", help="a name for these weights in the rows (e.g. a pool ablation)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--choose-context", action="store_true",
                        help="read the context of h, 2h, 3h or the network's whole one that scores best on each task's "
                             "validation span (its histories alone), not always the whole one")
    args = parser.parse_args(argv)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    if args.baselines:
        for model in args.baselines:
            for task in args.tasks:
                row = {"label": model, **run_task(task, None, None, model)}
                pd.DataFrame([row]).to_csv(args.out, mode="a", header=not Path(args.out).exists(), index=False)
                print(f"{model} {task}: mase_seasonal {row['mase_seasonal']:.3f}, wql {row['wql']:.4f} "
                      f"({row['seconds']:.0f} s)", flush=True)
        return 0
    if args.weights is None:
        parser.error("give --weights (or --baselines)")
    weights = WeightsFile.load(args.weights)  # read once: its card for the rows, its context for the runs
    card, context = weights.card, weights.architecture.context
    rows = []
    for task in args.tasks:
        chosen = choose_context(task, args.weights, context) if args.choose_context else context
        row = {"label": args.label, **run_task(task, args.weights, chosen), "epochs": card.get("epochs_done"),
               "pretrain_seconds": card.get("seconds"), "context": chosen}
        rows.append(row)
        pd.DataFrame([row]).to_csv(args.out, mode="a", header=not Path(args.out).exists(), index=False)
        print(f"{task}: mase_seasonal {row['mase_seasonal']:.3f}, wql {row['wql']:.4f}, coverage 80 % "
              f"{row['coverage_80']:.3f}, 95 % {row['coverage_95']:.3f} ({row['seconds']:.0f} s, {row['in_pool']})",
              flush=True)
    published = pd.read_csv(COMPETITIONS / "published.csv")
    published["task"] = published["task"].str.replace("_", ":", n=1)
    table = pd.DataFrame(rows)[["task", "mase_seasonal", "wql"]].merge(
        published[["task", "seasonal_naive", "auto_ets", "chronos_bolt_tiny", "chronos_bolt_small", "tirex"]],
        on="task", how="left")
    print("\nMASE: ours zero-shot beside the published rows (cited, not ours; Tourism yearly's published data differ)")
    print(table.to_string(index=False, float_format="{:.3f}".format))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
