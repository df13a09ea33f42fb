"""What prediction intervals cost: the default experiment with and without them, and the scoring step alone.

    python experiments/interval_cost.py            # the default experiment (experiments/sp500.yaml)
    python experiments/interval_cost.py --repeats 3

Intervals add work after training only: each model's validation forecasts (conformal and adaptive
calibrate on them), the random walk's quantiles and the scores. This script measures that added work
twice: end to end (the whole experiment without and then with intervals, alternately, ``--repeats``
times, so that a busy machine slows both alike), and the scoring step alone (``score_model`` of every
trained model without and with intervals, the median of five calls each), as a share of the run's time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from forecaster.config import read_config
from forecaster.runs.experiment import run_experiment
from forecaster.runs.fitting import score_model

CONFIG = Path(__file__).resolve().parent / "sp500.yaml"


def seconds(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="end-to-end runs of each kind (default: 2)")
    args = parser.parse_args()
    with_intervals = read_config(CONFIG, ["train.device=cpu"])
    without = read_config(CONFIG, ["train.device=cpu", "intervals.levels=[]"])

    runs = {"without": [], "with": []}
    for _ in range(args.repeats):
        runs["without"].append(seconds(lambda: run_experiment(without)))
        runs["with"].append(seconds(lambda: run_experiment(with_intervals)))
    total_without, total_with = (statistics.median(runs[key]) for key in ("without", "with"))
    print(f"end to end, median of {args.repeats}: without intervals {total_without:.1f} s, with {total_with:.1f} s, "
          f"ratio {total_with / total_without:.3f} (runs: {', '.join(f'{t:.1f}' for t in runs['without'])} | "
          f"{', '.join(f'{t:.1f}' for t in runs['with'])})")

    result = run_experiment(with_intervals)
    cpu = torch.device("cpu")

    def scoring_seconds(run, intervals) -> float:
        return statistics.median(
            seconds(lambda: score_model(result.data, run.spec, run.model, run.training, device=cpu, intervals=intervals))
            for _ in range(5)
        )

    added = sum(scoring_seconds(run, with_intervals.intervals) - scoring_seconds(run, None) for run in result.runs.values())
    print(f"scoring step alone: intervals add {added:.2f} s over the {len(result.runs)} models, "
          f"{100 * added / total_without:.1f} % of the run without intervals")


if __name__ == "__main__":
    main()
